// Command schemadoc rewrites the generated schema reference in docs/schema.md from
// schema.graphqls.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/authgraph/authgraph/internal/schemadoc"
)

func main() {
	schemaPath := flag.String("schema", "schema.graphqls", "the schema")
	docPath := flag.String("doc", "docs/schema.md", "the page whose generated section to rewrite")
	flag.Parse()
	if err := run(*schemaPath, *docPath); err != nil {
		fmt.Fprintln(os.Stderr, "schemadoc:", err)
		os.Exit(1)
	}
}

func run(schemaPath, docPath string) error {
	src, err := os.ReadFile(schemaPath)
	if err != nil {
		return err
	}
	ref, err := schemadoc.Render("schema.graphqls", string(src))
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(docPath)
	if err != nil {
		return err
	}
	out, err := schemadoc.Splice(string(doc), ref)
	if err != nil {
		return err
	}
	if out == string(doc) {
		return nil
	}
	return os.WriteFile(docPath, []byte(out), 0o644)
}
