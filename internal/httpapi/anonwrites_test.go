package httpapi

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/authgraph/authgraph/graph"
	"github.com/authgraph/authgraph/internal/apq"
	"github.com/authgraph/authgraph/internal/ratelimit"
)

// publicRootFields answers every root field of the schema that carries no guard directive:
// what a client without a session can call.
func publicRootFields(schema *ast.Schema) []string {
	var out []string
	for _, root := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		if root == nil {
			continue
		}
		for _, f := range root.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			guarded := false
			for _, g := range []string{"auth", "hasRole", "hasScope"} {
				guarded = guarded || f.Directives.ForName(g) != nil
			}
			if !guarded {
				out = append(out, root.Name+"."+f.Name)
			}
		}
	}
	return out
}

// TestAnonymousWritesAreListed: every public root field of the schema, and both halves of
// the persisted query protocol, have an entry in AnonymousWrites; every entry that writes
// names rules, and every rule exists in ratelimit.DefaultRules (so it is enforced and can be
// configured). No entry is stale.
func TestAnonymousWritesAreListed(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	entries := map[string]AnonymousWrite{}
	for _, w := range AnonymousWrites {
		if _, dup := entries[w.Entry]; dup {
			t.Errorf("%s: listed twice", w.Entry)
		}
		entries[w.Entry] = w
	}
	want := append(publicRootFields(schema), "APQ lookup", "APQ registration", "POST /introspect",
		"GET /auth/{provider}/start", "GET /auth/{provider}/callback")
	for _, e := range want {
		w, ok := entries[e]
		if !ok {
			t.Errorf("%s: an anonymous client can call it, and AnonymousWrites does not say what it writes and which limit bounds it", e)
			continue
		}
		if w.Writes != "" && len(w.Rules) == 0 {
			t.Errorf("%s writes %q with no limit", e, w.Writes)
		}
		for _, r := range w.Rules {
			if _, ok := ratelimit.DefaultRules()[r]; !ok {
				t.Errorf("%s: rule %q is not in ratelimit.DefaultRules", e, r)
			}
		}
	}
	for e := range entries {
		if !slices.Contains(want, e) {
			t.Errorf("%s: listed, but no anonymous client can call it", e)
		}
	}
}

// credentialLike matches the names of arguments and input fields that may carry a secret.
var credentialLike = regexp.MustCompile(`(?i)(password|secret|token|otp|code|passphrase|pin)$`)

// TestCredentialNamesCoverTheSchema: every argument or input field of the schema whose name
// says it carries a secret is in apq.CredentialNames, so a document that writes one inline is
// never kept. A new credential input cannot be forgotten.
func TestCredentialNamesCoverTheSchema(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	var found []string
	check := func(where, name string) {
		if credentialLike.MatchString(name) {
			found = append(found, name)
			if !slices.Contains(apq.CredentialNames, name) {
				t.Errorf("%s carries a credential, and %q is not in apq.CredentialNames", where, name)
			}
		}
	}
	for _, def := range schema.Types {
		if strings.HasPrefix(def.Name, "__") {
			continue
		}
		for _, f := range def.Fields {
			if def.Kind == ast.InputObject {
				check(def.Name+"."+f.Name, f.Name)
			}
			for _, a := range f.Arguments {
				check(def.Name+"."+f.Name+"("+a.Name+")", a.Name)
			}
		}
	}
	for _, d := range schema.Directives {
		for _, a := range d.Arguments {
			check("@"+d.Name+"("+a.Name+")", a.Name)
		}
	}
	// The schema's known credentials are found, so the pattern is not blind.
	for _, n := range []string{"password", "secret", "token", "refreshToken", "otp", "code", "currentPassword", "newPassword"} {
		if !slices.Contains(found, n) {
			t.Errorf("the schema scan did not find %q", n)
		}
	}
}
