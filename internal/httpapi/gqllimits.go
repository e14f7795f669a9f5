package httpapi

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// queryLimits bounds the shape of one GraphQL operation before anything runs: how deep its
// selections nest, how many fields it selects and how many of them are aliased (fragments
// counted wherever they are spread), and whether it may introspect the schema. Complexity
// (gqlgen's FixedComplexityLimit, which counts list sizes) is checked after it, and the
// parser's token limit and the body limit before it.
//
// An operation over a limit is refused with GRAPHQL_VALIDATION_FAILED (HTTP 422), whose
// message names the limit and the operation's figure, so a legitimate client learns what to
// change.
type queryLimits struct {
	MaxDepth      int  // deepest selection allowed (a root field is depth 1)
	MaxFields     int  // most field selections, fragments expanded
	MaxAliases    int  // most aliased field selections, fragments expanded
	Introspection bool // whether __schema, __type and _service may be asked
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = queryLimits{}

func init() {
	// gqlgen answers its complexity limit with HTTP 200; an operation refused before it ran
	// is a client error like any other validation failure.
	errcode.RegisterErrorType("COMPLEXITY_LIMIT_EXCEEDED", errcode.KindProtocol)
}

func (queryLimits) ExtensionName() string                   { return "QueryLimits" }
func (queryLimits) Validate(graphql.ExecutableSchema) error { return nil }
func (l queryLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Doc == nil || oc.Operation == nil {
		return nil
	}
	m := measure(oc.Doc, oc.Operation)
	switch {
	case m.introspects && !l.Introspection:
		return refuse("Introspection is disabled on this server.")
	case l.MaxDepth > 0 && m.depth > l.MaxDepth:
		return refuse(fmt.Sprintf("The operation is nested %d levels deep; the limit is %d.", m.depth, l.MaxDepth))
	case l.MaxFields > 0 && m.fields > l.MaxFields:
		return refuse(fmt.Sprintf("The operation selects %s fields; the limit is %d.", count(m.fields), l.MaxFields))
	case l.MaxAliases > 0 && m.aliases > l.MaxAliases:
		return refuse(fmt.Sprintf("The operation has %s aliased fields; the limit is %d.", count(m.aliases), l.MaxAliases))
	}
	return nil
}

func refuse(msg string) *gqlerror.Error {
	err := gqlerror.Errorf("%s", msg)
	errcode.Set(err, errcode.ValidationFailed)
	return err
}

// saturate caps counts, so that a fragment spread a billion times over does not overflow.
const saturate = 1 << 40

func count(n int) string {
	if n >= saturate {
		return "more than a trillion"
	}
	return fmt.Sprint(n)
}

// shape is what queryLimits measures of a selection set.
type shape struct {
	depth, fields, aliases int
	introspects            bool
}

// measure walks op, expanding fragment spreads. Each fragment is measured once and its shape
// reused (so a "fragment bomb", fragments that spread each other many times over, costs
// time linear in the document while its expanded figures are counted in full, saturating).
// Fragment cycles are refused by validation before this runs; here a cycle counts as empty.
func measure(doc *ast.QueryDocument, op *ast.OperationDefinition) shape {
	w := walker{doc: doc, memo: map[string]*shape{}}
	return w.set(op.SelectionSet)
}

type walker struct {
	doc  *ast.QueryDocument
	memo map[string]*shape // nil value: being measured (a cycle)
}

func (w *walker) set(ss ast.SelectionSet) shape {
	var out shape
	for _, sel := range ss {
		var s shape
		switch sel := sel.(type) {
		case *ast.Field:
			s = w.set(sel.SelectionSet)
			s.depth++
			s.fields = add(s.fields, 1)
			if sel.Alias != "" && sel.Alias != sel.Name {
				s.aliases = add(s.aliases, 1)
			}
			// _service is federation's way to ask for the schema: refused with the rest
			// (gqlgen refuses it as well when introspection is off, but as a resolver's
			// error, which would read as an internal one).
			if sel.Name == "__schema" || sel.Name == "__type" || sel.Name == "_service" {
				s.introspects = true
			}
		case *ast.InlineFragment:
			s = w.set(sel.SelectionSet)
		case *ast.FragmentSpread:
			s = w.fragment(sel.Name)
		}
		out.depth = max(out.depth, s.depth)
		out.fields = add(out.fields, s.fields)
		out.aliases = add(out.aliases, s.aliases)
		out.introspects = out.introspects || s.introspects
	}
	return out
}

func (w *walker) fragment(name string) shape {
	if s, seen := w.memo[name]; seen {
		if s == nil {
			return shape{}
		}
		return *s
	}
	f := w.doc.Fragments.ForName(name)
	if f == nil {
		return shape{}
	}
	w.memo[name] = nil
	s := w.set(f.SelectionSet)
	w.memo[name] = &s
	return s
}

func add(a, b int) int { return min(a+b, saturate) }
