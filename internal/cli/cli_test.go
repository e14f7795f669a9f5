package cli

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":           "http://127.0.0.1:8080/graphql",
		"http://127.0.0.1:8080/":          "http://127.0.0.1:8080/graphql",
		"https://api.example/graphql":     "https://api.example/graphql",
		"https://u:p@api.example/x?y=1#z": "https://api.example/x",
	} {
		if got, err := endpoint(in); err != nil || got != want {
			t.Errorf("endpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := endpoint(bad); err == nil {
			t.Errorf("endpoint(%q) accepted", bad)
		}
	}
}

func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"48h":                  now.Add(48 * time.Hour),
		"2027-01-31":           time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC),
		"2027-01-31T10:00:00Z": time.Date(2027, 1, 31, 10, 0, 0, 0, time.UTC),
	} {
		if got, err := parseExpiry(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseExpiry(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"-1h", "0s", "tomorrow"} {
		if _, err := parseExpiry(bad, now); err == nil {
			t.Errorf("parseExpiry(%q) accepted", bad)
		}
	}
}

func TestCredentialsFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "authgraph")
	c, err := loadCredentials(dir)
	if err != nil || len(c.Servers) != 0 {
		t.Fatal(c, err)
	}
	c.Servers["http://a/graphql"] = savedSession{Token: "t1"}
	if err := c.save(dir); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, credentialsFile): 0o600} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want %v", path, st.Mode().Perm(), err, want)
		}
	}
	if err := checkMode(dir); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, credentialsFile), 0o644)
	if err := checkMode(dir); err == nil {
		t.Fatal("a world-readable file passed")
	}
	back, err := loadCredentials(dir)
	if err != nil || back.Servers["http://a/graphql"].Token != "t1" {
		t.Fatal(back, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}
