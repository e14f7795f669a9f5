package metrics

import "github.com/vektah/gqlparser/v2/ast"

// Operation labels that are not a root field's name.
const (
	// OperationNone: the request ran no operation (refused before execution: a bad token, a
	// parse or validation error, a body too large).
	OperationNone = "none"
	// OperationMultiple: the operation selected more than one root field.
	OperationMultiple = "multiple"
)

// OperationLabel names a validated operation by the root field it runs: a name from the
// schema (so from a fixed set), never the client's operation name or an alias, which the
// client chooses. An operation of several root fields is OperationMultiple; one of only
// __typename is "__typename".
func OperationLabel(op *ast.OperationDefinition) string {
	if op == nil {
		return OperationNone
	}
	names := map[string]struct{}{}
	collectRootFields(op.SelectionSet, names, 0)
	if len(names) > 1 {
		delete(names, "__typename")
	}
	switch len(names) {
	case 0:
		return OperationNone
	case 1:
		for n := range names {
			return n
		}
	}
	return OperationMultiple
}

func collectRootFields(set ast.SelectionSet, into map[string]struct{}, depth int) {
	if depth > 10 { // fragments nest; validation has ruled out cycles, this bounds the rest
		return
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			into[s.Name] = struct{}{}
		case *ast.InlineFragment:
			collectRootFields(s.SelectionSet, into, depth+1)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				collectRootFields(s.Definition.SelectionSet, into, depth+1)
			}
		}
	}
}
