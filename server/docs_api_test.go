package main

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// Every GraphQL document the docs send with curl ("query":"…" in a JSON body) is valid
// against the schema: an operation renamed or an argument changed breaks this test before
// it breaks a reader's copy-paste.
func TestDocQueriesValidate(t *testing.T) {
	sdl, err := os.ReadFile("../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(sdl)})
	if gerr != nil {
		t.Fatal(gerr)
	}
	query := regexp.MustCompile(`"query":("(?:[^"\\]|\\.)*")`)
	total := 0
	for _, doc := range []string{"../README.md", "../docs/api.md", "../docs/operations.md", "../docs/mail.md", "../docs/sso.md", "../docs/service-keys.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range query.FindAllSubmatch(b, -1) {
			if bytes.ContainsRune(m[1], '\'') {
				continue // the shell splices a value in ('"$(…)"'): not a whole document here
			}
			var q string
			// The shell's single quotes keep the JSON as written, so it decodes as JSON.
			if err := json.Unmarshal(m[1], &q); err != nil {
				t.Errorf("%s: %s is not a JSON string: %v", doc, m[1], err)
				continue
			}
			total++
			if _, errs := gqlparser.LoadQuery(schema, q); errs != nil {
				t.Errorf("%s: %s\n%v", doc, q, errs)
			}
		}
	}
	if total < 10 {
		t.Fatalf("found only %d documents in the docs: the pattern is wrong", total)
	}
	t.Logf("%d documents validated", total)
}
