package apq

import (
	"github.com/vektah/gqlparser/v2/ast"
)

// CredentialNames are the arguments and input fields of the schema that carry a secret. A
// document that writes a value for one of them into its text (rather than a $variable) is
// never kept: the cache would hold the secret, and, worse, anyone who can guess it could
// compute the document's hash and ask whether it is cached. server's
// TestCredentialNamesCoverTheSchema fails when the schema gains a credential input that is
// not listed here.
var CredentialNames = []string{
	"password", "newPassword", "currentPassword",
	"secret", "token", "refreshToken",
	"otp", "code", "recoveryCode",
	// A PKCE verifier redeems a stolen authorization code.
	"codeVerifier",
}

var credentialSet = func() map[string]bool {
	m := make(map[string]bool, len(CredentialNames))
	for _, n := range CredentialNames {
		m[n] = true
	}
	return m
}()

// InlineCredential reports the name of the first credential argument or input field of doc
// (any operation or fragment, since the whole text is what would be kept) that is given a
// literal value, or a variable whose definition has a default value; "" if there is none.
// A null literal carries nothing and is allowed.
func InlineCredential(doc *ast.QueryDocument) string {
	w := credWalker{vars: map[string]bool{}}
	for _, op := range doc.Operations {
		w.directives(op.Directives)
		w.selections(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		w.directives(f.Directives)
		w.selections(f.SelectionSet)
	}
	if w.found != "" {
		return w.found
	}
	for _, op := range doc.Operations {
		for _, v := range op.VariableDefinitions {
			if w.vars[v.Variable] && v.DefaultValue != nil && v.DefaultValue.Kind != ast.NullValue {
				return w.varArg[v.Variable]
			}
		}
	}
	// A default value is text of the document too, whatever the variable feeds: a whole
	// input object ($i: SomeInput = {password: "…"}) carries its credential fields inside.
	for _, op := range doc.Operations {
		for _, v := range op.VariableDefinitions {
			w.value("", v.DefaultValue)
			if w.found != "" {
				return w.found
			}
		}
	}
	return ""
}

type credWalker struct {
	found  string
	vars   map[string]bool   // variables used in a credential position
	varArg map[string]string // and the credential each one fills
}

func (w *credWalker) selections(ss ast.SelectionSet) {
	for _, sel := range ss {
		switch sel := sel.(type) {
		case *ast.Field:
			w.arguments(sel.Arguments)
			w.directives(sel.Directives)
			w.selections(sel.SelectionSet)
		case *ast.InlineFragment:
			w.directives(sel.Directives)
			w.selections(sel.SelectionSet)
		case *ast.FragmentSpread:
			w.directives(sel.Directives)
		}
	}
}

func (w *credWalker) directives(ds ast.DirectiveList) {
	for _, d := range ds {
		w.arguments(d.Arguments)
	}
}

func (w *credWalker) arguments(args ast.ArgumentList) {
	for _, a := range args {
		w.value(a.Name, a.Value)
	}
}

// value looks at v, the value given to the argument or input field name.
func (w *credWalker) value(name string, v *ast.Value) {
	if v == nil || w.found != "" {
		return
	}
	if credentialSet[name] {
		if w.literal(name, v) {
			w.found = name
		}
		return
	}
	for _, c := range v.Children { // object fields and list items
		w.value(c.Name, c.Value)
	}
}

// literal reports whether v, in the credential position name, holds a value written in the
// document; the variables it holds are noted.
func (w *credWalker) literal(name string, v *ast.Value) bool {
	switch v.Kind {
	case ast.Variable:
		w.vars[v.Raw] = true
		if w.varArg == nil {
			w.varArg = map[string]string{}
		}
		if _, ok := w.varArg[v.Raw]; !ok {
			w.varArg[v.Raw] = name
		}
		return false
	case ast.NullValue:
		return false
	case ast.ListValue, ast.ObjectValue:
		lit := false
		for _, c := range v.Children {
			lit = w.literal(name, c.Value) || lit
		}
		return lit
	}
	return true
}
