package graph

import (
	"os"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/authgraph/authgraph/internal/auth"
)

// publicFields are the root fields anyone may call. Every other root field must
// carry a guard directive, so that adding a field without deciding who may call it fails here.
var publicFields = map[string]bool{
	"Query.version":                            true,
	"Mutation.createSessionUsingUserKey":       true,
	"Mutation.createSessionUsingUsername":      true,
	"Mutation.refreshSession":                  true,
	"Mutation.signUp":                          true,
	"Mutation.verifyEmail":                     true,
	"Mutation.requestEmailVerification":        true,
	"Mutation.requestPasswordReset":            true,
	"Mutation.resetPassword":                   true,
	"Mutation.requestSignInCode":               true,
	"Mutation.createSessionUsingEmailCode":     true,
	"Mutation.acceptInvitation":                true,
	"Mutation.createSessionUsingExternalToken": true,
	"Mutation.beginPasskeySignIn":              true,
	"Mutation.createSessionUsingPasskey":       true,
	// Federation's fields (federation.graphqls), which a router calls with no session of
	// its own: _service answers the schema, as introspection does; _entities guards itself
	// and answers null for each entity the caller may not see, every one without a session
	// (see entities.go).
	"Query._service":  true,
	"Query._entities": true,
	// Sign-in through an identity provider: the provider list for the buttons, and the
	// code an app obtained itself.
	"Query.signInProviders":                        true,
	"Mutation.createSessionUsingAuthorizationCode": true,
}

// specFields are the fields gqlgen's federation plugin adds to the schema. It gives them no
// description, so the Apollo Federation subgraph specification is theirs, and
// docs/federation.md says what authgraph answers in them.
var specFields = map[string]bool{
	"Query._service":  true,
	"Query._entities": true,
}

var guards = []string{"auth", "hasRole", "hasScope"}

// scopeFree are the guarded root fields that need no scope, each for a reason: ending the
// current session (logging out) only gives rights up, so any session may; ending another
// session is checked by the service (sessions:write).
var scopeFree = map[string]bool{
	"Mutation.deleteSession": true,
}

// guardProblems walks the root fields of schema and answers every breach of the rules: a
// field not in publicFields must carry a guard directive and, unless in scopeFree, a
// @hasScope naming a known scope; a public field must carry none.
func guardProblems(schema *ast.Schema) []string {
	var problems []string
	for _, root := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		if root == nil {
			continue
		}
		for _, f := range root.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			name := root.Name + "." + f.Name
			guarded := false
			for _, g := range guards {
				guarded = guarded || f.Directives.ForName(g) != nil
			}
			public := publicFields[name]
			switch {
			case public && guarded:
				problems = append(problems, name+": public, but guarded")
			case !public && !guarded:
				problems = append(problems, name+": not public, and no guard (@auth, @hasRole or @hasScope)")
			}
			for _, d := range f.Directives {
				if d.Name != "hasScope" {
					continue
				}
				scope := d.Arguments.ForName("scope")
				if scope == nil || scope.Value == nil || !auth.Scope(scope.Value.Raw).Valid() {
					problems = append(problems, name+": @hasScope names an unknown scope")
				}
			}
			if guarded && !public && !scopeFree[name] && f.Directives.ForName("hasScope") == nil {
				problems = append(problems, name+": no @hasScope (or list it in scopeFree with a reason)")
			}
		}
	}
	return problems
}

func TestEveryNonPublicRootFieldIsGuarded(t *testing.T) {
	for _, p := range guardProblems(NewExecutableSchema(Config{}).Schema()) {
		t.Error(p)
	}
}

// The walk itself: a field added without a guard, or with a made-up scope, is caught.
func TestGuardWalkCatchesAnUnguardedField(t *testing.T) {
	base, err := os.ReadFile("../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ extension, want string }{
		{`extend type Mutation { "x" sneaky: Int }`, "Mutation.sneaky: not public, and no guard"},
		{`extend type Query { "x" peek: Int @auth }`, "Query.peek: no @hasScope"},
		{`extend type Query { "x" peek: Int @hasScope(scope: "everything") }`, "Query.peek: @hasScope names an unknown scope"},
		{`extend type Query { "x" version2: Int }`, "Query.version2: not public"},
	} {
		schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(base) + "\n" + tt.extension})
		if gerr != nil {
			t.Fatalf("%s: %v", tt.extension, gerr)
		}
		problems := guardProblems(schema)
		if len(problems) != 1 || !strings.HasPrefix(problems[0], tt.want) {
			t.Errorf("%s: problems %q, want one starting %q", tt.extension, problems, tt.want)
		}
	}
}

func TestEverythingInTheSchemaIsDescribed(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
	for name, def := range schema.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		if strings.TrimSpace(def.Description) == "" {
			t.Errorf("type %s has no description", name)
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if specFields[name+"."+f.Name] {
				if f.Position == nil || f.Position.Src == nil || !f.Position.Src.BuiltIn {
					t.Errorf("field %s.%s is listed as the federation plugin's, but the schema files declare it", name, f.Name)
				}
				continue
			}
			if strings.TrimSpace(f.Description) == "" {
				t.Errorf("field %s.%s has no description", name, f.Name)
			}
			for _, a := range f.Arguments {
				if strings.TrimSpace(a.Description) == "" {
					t.Errorf("argument %s.%s(%s) has no description", name, f.Name, a.Name)
				}
			}
		}
		for _, v := range def.EnumValues {
			if strings.TrimSpace(v.Description) == "" {
				t.Errorf("enum value %s.%s has no description", name, v.Name)
			}
		}
	}
}
