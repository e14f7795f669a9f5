package schemadoc

import (
	"os"
	"strings"
	"testing"
)

// TestSchemaReferenceIsCurrent fails when schema.graphqls changed and the generated
// reference in docs/schema.md did not: run `make generate`.
func TestSchemaReferenceIsCurrent(t *testing.T) {
	src, err := os.ReadFile("../../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Render("schema.graphqls", string(src))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/schema.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Splice(string(doc), ref)
	if err != nil {
		t.Fatal(err)
	}
	if want != string(doc) {
		t.Fatal("docs/schema.md is stale: run `make generate` and commit docs/schema.md")
	}
}

func TestRender(t *testing.T) {
	out, err := Render("t.graphqls", `
"Needs a session."
directive @auth on FIELD_DEFINITION
"Needs a role."
directive @hasRole(role: String!) on FIELD_DEFINITION
"Needs a scope."
directive @hasScope(scope: String!) on FIELD_DEFINITION
"Reads."
type Query {
  "A | pipe."
  me: User! @auth
  "Admins."
  all: [User!]! @hasRole(role: "ADMIN") @hasScope(scope: "admin")
}
"A user."
type User { "Its name." name(upper: Boolean = false): String! }
"A colour."
enum Colour { "Red." RED }
"An id."
scalar ID2
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| `me` | `User!` | A \\| pipe. *Needs a session.* |",
		"| `all` | `[User!]!` | Admins. *Needs the ADMIN role and the `admin` scope.* |",
		"| `name(upper: Boolean)` | `String!` | Its name. |",
		"- `RED`: Red.",
		"- **`ID2`**: An id.",
		"- **`@auth`**: Needs a session.",
		"## Query\n\nReads.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if _, err := Splice("no markers", out); err == nil {
		t.Error("Splice without markers")
	}
}
