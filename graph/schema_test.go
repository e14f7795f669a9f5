package graph

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

// publicFields are the root fields DESIGN.md lets anyone call. Every other root field must
// carry a guard directive, so that adding a field without deciding who may call it fails here.
var publicFields = map[string]bool{
	"Query.version":                            true,
	"Mutation.createSessionUsingUserKey":       true,
	"Mutation.createSessionUsingUsername":      true,
	"Mutation.refreshSession":                  true,
	"Mutation.createSessionUsingExternalToken": true,
}

var guards = []string{"auth", "hasRole", "hasScope"}

func TestEveryNonPublicRootFieldIsGuarded(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
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
			if public := publicFields[name]; public == guarded {
				t.Errorf("%s: public=%v but guarded=%v", name, public, guarded)
			}
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
