package layers

import (
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/authgraph/authgraph"

// layers lists every package of the module (path inside the module) by layer, lowest first;
// see the package doc. A package whose path has a "cmd" element is wiring.
var layers = []struct {
	name string
	pkgs []string
}{
	{"basics", []string{"internal/clock", "internal/token", "internal/seal", "internal/testenv", "internal/audit"}},
	{"utilities", []string{
		"internal/apq", "internal/argon2id", "internal/cli", "internal/gid", "internal/loadtest",
		"internal/metrics", "internal/oidc", "internal/redisbudget", "internal/redistest",
		"internal/requestid", "internal/schemadoc", "internal/tracing", "internal/webui",
		"internal/layers", "internal/mail", "internal/mail/mailtest", "internal/reqtoken", "internal/webhook",
		"internal/passkey/passkeytest",
	}},
	{"domain", []string{"internal/auth"}},
	{"error mapping", []string{"internal/errmap"}},
	{"adapters", []string{
		"internal/memstore", "internal/redisstore", "internal/sessioncache", "internal/ratelimit", "internal/keymeter",
		"internal/hashpool", "internal/storetest", "internal/oidc/oidctest", "internal/passkey",
		"internal/sso", "internal/sso/ssotest",
		"graph/model", "graph/scalar",
	}},
	// The embeddable verifier: a public package that products import; it reads the store's
	// records through the adapters and knows nothing of GraphQL or HTTP serving.
	{"verifier", []string{"verify"}},
	{"GraphQL", []string{"graph"}},
	{"HTTP", []string{"internal/httpapi"}},
	{"wiring", []string{"server"}},
}

func rank(pkg string) (int, bool) {
	if slices.Contains(strings.Split(pkg, "/"), "cmd") {
		return len(layers) - 1, true
	}
	for i, l := range layers {
		if slices.Contains(l.pkgs, pkg) {
			return i, true
		}
	}
	return 0, false
}

// Every package of the module has a doc, is in a layer, and imports (outside its tests)
// only packages of lower layers; every package the table names exists.
func TestPackagesImportOnlyLowerLayers(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	err = filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); dir != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(dir, 0)
		if err != nil {
			return nil // no Go package here (or only tests)
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		seen = append(seen, pkg)
		if !hasPackageDoc(t, dir, p) {
			t.Errorf("%s has no package doc: say what it owns, in a comment above one package clause", pkg)
		}
		r, ok := rank(pkg)
		if !ok {
			t.Errorf("%s is in no layer: add it to layers in layers_test.go", pkg)
			return nil
		}
		for _, imp := range p.Imports {
			dep, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			dr, ok := rank(dep)
			switch {
			case !ok:
				t.Errorf("%s imports %s, which is in no layer", pkg, dep)
			case dr >= r:
				t.Errorf("%s (%s) imports %s (%s): a package imports only lower layers", pkg, layers[r].name, dep, layers[dr].name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 20 {
		t.Fatalf("found only %d packages under %s: the walk is wrong", len(seen), root)
	}
	for _, l := range layers {
		for _, p := range l.pkgs {
			if !slices.Contains(seen, p) {
				t.Errorf("layers names %s, which is no package of the module", p)
			}
		}
	}
}

func TestLayersNameEachPackageOnce(t *testing.T) {
	seen := map[string]string{}
	for _, l := range layers {
		for _, p := range l.pkgs {
			if prev, ok := seen[p]; ok {
				t.Errorf("%s is in layers %s and %s", p, prev, l.name)
			}
			seen[p] = l.name
			if path.Clean(p) != p {
				t.Errorf("%q is not a clean path", p)
			}
		}
	}
}

// hasPackageDoc reports whether one of the package's non-test files has a doc comment on its
// package clause ("Package x …", or "Command x …" for a command).
func hasPackageDoc(t *testing.T, dir string, p *build.Package) bool {
	t.Helper()
	fset := token.NewFileSet()
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			text := f.Doc.Text()
			if strings.HasPrefix(text, "Package "+p.Name+" ") || strings.HasPrefix(text, "Command ") {
				return true
			}
		}
	}
	return false
}
