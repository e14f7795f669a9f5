// Command schemadoc rewrites the README's generated schema reference from schema.graphqls.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/authgraph/authgraph/internal/schemadoc"
)

func main() {
	schemaPath := flag.String("schema", "schema.graphqls", "the schema")
	readmePath := flag.String("readme", "README.md", "the README to rewrite")
	flag.Parse()
	if err := run(*schemaPath, *readmePath); err != nil {
		fmt.Fprintln(os.Stderr, "schemadoc:", err)
		os.Exit(1)
	}
}

func run(schemaPath, readmePath string) error {
	src, err := os.ReadFile(schemaPath)
	if err != nil {
		return err
	}
	ref, err := schemadoc.Render("schema.graphqls", string(src))
	if err != nil {
		return err
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	out, err := schemadoc.Splice(string(readme), ref)
	if err != nil {
		return err
	}
	if out == string(readme) {
		return nil
	}
	return os.WriteFile(readmePath, []byte(out), 0o644)
}
