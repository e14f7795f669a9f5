package errmap

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/metrics"
)

// domainCodes reads every constant of type Code that internal/auth declares, from its
// source: a code added there without a row here is found without anyone listing it.
func domainCodes(t *testing.T) map[auth.Code]string {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("../auth/*.go")
	if err != nil {
		t.Fatal(err)
	}
	codes := map[auth.Code]string{}
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
					continue
				}
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						t.Fatalf("auth.%s is not a string literal", name.Name)
					}
					v, _ := strconv.Unquote(lit.Value)
					codes[auth.Code(v)] = name.Name
				}
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("found only %d codes in internal/auth: the scan is blind", len(codes))
	}
	return codes
}

// TestEveryCodeHasARow: every domain code has a row, and every row a domain code; the
// GraphQL code is the domain code's own value (the contract's codes); the codes that set a
// whole request's status are exactly the retryable ones (429 and 503, sent with
// Retry-After); every row has a status and a metrics outcome.
func TestEveryCodeHasARow(t *testing.T) {
	codes := domainCodes(t)
	for c, name := range codes {
		r, ok := rows[c]
		if !ok {
			t.Errorf("auth.%s (%s) has no row in errmap", name, c)
			continue
		}
		if r.GraphQL != string(c) {
			t.Errorf("auth.%s: GraphQL code %q, want %q", name, r.GraphQL, c)
		}
		if http.StatusText(r.Status) == "" || r.Status < 400 {
			t.Errorf("auth.%s: status %d is not an error status", name, r.Status)
		}
		retryable := r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable
		if r.WholeRequest != retryable {
			t.Errorf("auth.%s: WholeRequest %v with status %d", name, r.WholeRequest, r.Status)
		}
		if r.Outcome == "" || r.Outcome == metrics.OutcomeOK {
			t.Errorf("auth.%s: outcome %q", name, r.Outcome)
		}
		if back, ok := ByGraphQL(r.GraphQL); !ok || back != r {
			t.Errorf("auth.%s: ByGraphQL(%q) = %+v, %v", name, r.GraphQL, back, ok)
		}
	}
	for c := range rows {
		if _, ok := codes[c]; !ok {
			t.Errorf("errmap has a row for %q, which internal/auth does not declare", c)
		}
	}
	if _, ok := ByGraphQL("GRAPHQL_VALIDATION_FAILED"); ok {
		t.Error("gqlgen's own code has a row")
	}
	if Of("NO_SUCH_CODE") != rows[auth.CodeInternal] {
		t.Error("an unknown code is not taken for an internal error")
	}
}

// TestSignInOutcomes: the failures a sign-in dashboard tells apart keep their own outcome
// label; the rest are errors.
func TestSignInOutcomes(t *testing.T) {
	for code, want := range map[auth.Code]string{
		auth.CodeInvalidCredentials: metrics.OutcomeBadCredentials,
		auth.CodeRateLimited:        metrics.OutcomeRateLimited,
		auth.CodeOTPRequired:        metrics.OutcomeOTPRequired,
		auth.CodeUnauthenticated:    metrics.OutcomeInvalidToken,
		auth.CodeRefreshTokenReused: metrics.OutcomeRefreshReused,
		auth.CodeUnavailable:        metrics.OutcomeUnavailable,
		auth.CodeInvalidInput:       metrics.OutcomeError,
		auth.CodeTokenInvalid:       metrics.OutcomeBadCredentials,
		"NO_SUCH_CODE":              metrics.OutcomeError,
	} {
		if got := Of(code).Outcome; got != want {
			t.Errorf("%s: outcome %q, want %q", code, got, want)
		}
	}
}
