// Package schemadoc renders schema.graphqls as the Markdown reference in docs/schema.md, so
// the reference is the schema's own descriptions and can never say something else. `make
// generate` rewrites the page's generated section; a test fails when it is stale.
package schemadoc

//go:generate go run ./cmd -schema ../../schema.graphqls -doc ../../docs/schema.md

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// The page's generated section lies between these lines.
const (
	Begin = "<!-- BEGIN GENERATED SCHEMA REFERENCE: `make generate` rewrites this from schema.graphqls; do not edit -->"
	End   = "<!-- END GENERATED SCHEMA REFERENCE -->"
)

// Render renders the schema in src as Markdown.
func Render(name, src string) (string, error) {
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: name, Input: src})
	if gerr != nil {
		return "", gerr
	}
	var b strings.Builder
	var objects, interfaces, inputs, enums, scalars []*ast.Definition
	for _, d := range schema.Types {
		if d.BuiltIn || d.Position == nil || d.Position.Src.BuiltIn {
			continue
		}
		switch {
		case d.Name == "Query" || d.Name == "Mutation" || d.Name == "Subscription":
		case d.Kind == ast.Object:
			objects = append(objects, d)
		case d.Kind == ast.Interface:
			interfaces = append(interfaces, d)
		case d.Kind == ast.InputObject:
			inputs = append(inputs, d)
		case d.Kind == ast.Enum:
			enums = append(enums, d)
		case d.Kind == ast.Scalar:
			scalars = append(scalars, d)
		}
	}
	for _, l := range [][]*ast.Definition{objects, interfaces, inputs, enums, scalars} {
		sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	}

	for _, root := range []*ast.Definition{schema.Query, schema.Mutation} {
		if root == nil {
			continue
		}
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", root.Name, text(root.Description))
		b.WriteString("| operation | answers | what |\n| --- | --- | --- |\n")
		for _, f := range root.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			fmt.Fprintf(&b, "| `%s%s` | `%s` | %s%s |\n", f.Name, args(f.Arguments), f.Type.String(), cell(f.Description), access(f.Directives))
		}
		b.WriteString("\n")
	}
	section := func(title string, defs []*ast.Definition, body func(*ast.Definition)) {
		if len(defs) == 0 {
			return
		}
		fmt.Fprintf(&b, "## %s\n\n", title)
		for _, d := range defs {
			body(d)
		}
	}
	fields := func(d *ast.Definition) {
		head := "`" + d.Name + "`"
		if len(d.Interfaces) > 0 {
			head += " (implements " + strings.Join(d.Interfaces, ", ") + ")"
		}
		fmt.Fprintf(&b, "**%s**: %s\n\n| field | type | what |\n| --- | --- | --- |\n", head, text(d.Description))
		for _, f := range d.Fields {
			fmt.Fprintf(&b, "| `%s%s` | `%s` | %s%s |\n", f.Name, args(f.Arguments), f.Type.String(), cell(f.Description), defaultOf(f.DefaultValue))
		}
		b.WriteString("\n")
	}
	section("Object types", objects, fields)
	section("Interfaces", interfaces, fields)
	section("Input types", inputs, fields)
	section("Enums", enums, func(d *ast.Definition) {
		fmt.Fprintf(&b, "**`%s`**: %s\n\n", d.Name, text(d.Description))
		for _, v := range d.EnumValues {
			fmt.Fprintf(&b, "- `%s`: %s\n", v.Name, text(v.Description))
		}
		b.WriteString("\n")
	})
	section("Scalars", scalars, func(d *ast.Definition) {
		fmt.Fprintf(&b, "- **`%s`**: %s\n", d.Name, text(d.Description))
	})
	if len(scalars) > 0 {
		b.WriteString("\n")
	}
	var dirs []*ast.DirectiveDefinition
	for _, d := range schema.Directives {
		if d.Position != nil && !d.Position.Src.BuiltIn {
			dirs = append(dirs, d)
		}
	}
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].Name < dirs[j].Name })
	if len(dirs) > 0 {
		b.WriteString("## Directives\n\n")
		for _, d := range dirs {
			fmt.Fprintf(&b, "- **`@%s%s`**: %s\n", d.Name, args(d.Arguments), text(d.Description))
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n", nil
}

// Splice replaces the generated section of doc with ref.
func Splice(doc, ref string) (string, error) {
	i, j := strings.Index(doc, Begin), strings.Index(doc, End)
	if i < 0 || j < i {
		return "", errors.New("the page has no generated schema section (its BEGIN and END lines)")
	}
	return doc[:i] + Begin + "\n\n" + ref + "\n" + doc[j:], nil
}

func args(list ast.ArgumentDefinitionList) string {
	if len(list) == 0 {
		return ""
	}
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = a.Name + ": " + a.Type.String()
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// access says who may call a field, from its guard directives: a session, a role, a scope
// (several guards all apply).
func access(dirs ast.DirectiveList) string {
	var needs []string
	for _, d := range dirs {
		switch d.Name {
		case "auth":
			needs = append(needs, "a session")
		case "hasRole":
			if a := d.Arguments.ForName("role"); a != nil {
				needs = append(needs, "the "+a.Value.Raw+" role")
			}
		case "hasScope":
			if a := d.Arguments.ForName("scope"); a != nil {
				needs = append(needs, "the `"+a.Value.Raw+"` scope")
			}
		}
	}
	if len(needs) == 0 {
		return ""
	}
	return " *Needs " + strings.Join(needs, " and ") + ".*"
}

func defaultOf(v *ast.Value) string {
	if v == nil {
		return ""
	}
	return " Default: `" + v.String() + "`."
}

// text joins a description's lines into one paragraph.
func text(s string) string { return strings.Join(strings.Fields(s), " ") }

// cell is text fit for a table cell.
func cell(s string) string { return strings.ReplaceAll(text(s), "|", `\|`) }
