package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCIReadsEveryTrueSpelling(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, "TRUE": true, "T": true, "": false, "false": false, "0": false, "yes": false} {
		t.Setenv("CI", v)
		if got := CI(); got != want {
			t.Errorf("CI=%q: CI() = %v, want %v", v, got, want)
		}
	}
}

// fakeT records whether Skip skipped or failed.
type fakeT struct {
	testing.TB
	failed, skipped bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }
func (f *fakeT) Skip(...any)           { f.skipped = true }

func TestSkipFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "1")
	f := &fakeT{}
	Skip(f, "no tool")
	if !f.failed || f.skipped {
		t.Fatalf("under CI=1: failed=%v skipped=%v, want a failure", f.failed, f.skipped)
	}
	t.Setenv("CI", "")
	f = &fakeT{}
	Skip(f, "no tool")
	if f.failed || !f.skipped {
		t.Fatalf("outside CI: failed=%v skipped=%v, want a skip", f.failed, f.skipped)
	}
}

// TestCIIsReadOnlyHere keeps "under CI nothing skips" in one place: a test that reads the CI
// variable itself (as one once compared it to "true" while another parsed it) would drift.
func TestCIIsReadOnlyHere(t *testing.T) {
	root := filepath.Join("..", "..")
	direct := regexp.MustCompile(`Getenv\("CI"\)|getenv\("CI"\)`)
	allowed := map[string]bool{
		filepath.Join("internal", "testenv", "testenv.go"): true,
		// choose takes getenv as a parameter so that its own test can vary it.
		filepath.Join("internal", "redistest", "redistest.go"): true,
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if direct.Match(b) && !allowed[rel] {
			t.Errorf("%s reads the CI variable itself; use testenv.CI or testenv.Skip", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
