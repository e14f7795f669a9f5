package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/authgraph/authgraph/internal/testenv"
)

// productSDL is the product subgraph's schema: it adds a field to authgraph's User entity.
const productSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

scalar ObjectID

type User @key(fields: "id") {
  id: ObjectID!
  favouriteColour: String
}
`

// productSubgraph is a product subgraph small enough to write by hand: it answers
// _service { sdl } with productSDL and _entities for Users, each user's colour by id. It
// records the x-auth-token of each request, to show that the router forwards it (a real
// product would check it against authgraph, see docs/federation.md).
type productSubgraph struct {
	colours map[string]string // by User.id
	mu      sync.Mutex
	tokens  []string
}

func (p *productSubgraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.tokens = append(p.tokens, r.Header.Get("x-auth-token"))
	p.mu.Unlock()
	doc, err := parser.ParseQuery(&ast.Source{Input: req.Query})
	if err != nil || len(doc.Operations) != 1 {
		http.Error(w, "one operation, please", http.StatusBadRequest)
		return
	}
	data := map[string]any{}
	for _, sel := range doc.Operations[0].SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok {
			continue
		}
		switch f.Name {
		case "_service":
			data[f.Alias] = map[string]any{"sdl": productSDL}
		case "_entities":
			reps, _ := req.Variables["representations"].([]any)
			out := make([]any, len(reps))
			for i, rep := range reps {
				m, _ := rep.(map[string]any)
				if m["__typename"] != "User" {
					continue
				}
				id, _ := m["id"].(string)
				out[i] = p.user(f.SelectionSet, id)
			}
			data[f.Alias] = out
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

// user answers the fields of sel (and of its inline fragments on User) for the user id.
func (p *productSubgraph) user(sel ast.SelectionSet, id string) map[string]any {
	out := map[string]any{}
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.InlineFragment:
			if s.TypeCondition == "" || s.TypeCondition == "User" {
				for k, v := range p.user(s.SelectionSet, id) {
					out[k] = v
				}
			}
		case *ast.Field:
			switch s.Name {
			case "__typename":
				out[s.Alias] = "User"
			case "id":
				out[s.Alias] = id
			case "favouriteColour":
				if c, ok := p.colours[id]; ok {
					out[s.Alias] = c
				} else {
					out[s.Alias] = nil
				}
			}
		}
	}
	return out
}

// gatewayDir holds the gateway script and its npm packages (npm ci there installs them).
const gatewayDir = "testdata/federation"

// needGateway skips the test (fails it under CI) unless node and the gateway's packages are
// installed.
func needGateway(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Skip(t, "node is not installed; the federation test runs an Apollo gateway")
	}
	if _, err := os.Stat(filepath.Join(gatewayDir, "node_modules", "@apollo", "gateway")); err != nil {
		testenv.Skip(t, "the gateway's npm packages are not installed: run `npm ci` in server/"+gatewayDir)
	}
	return node
}

// runGateway composes the subgraphs and runs query through an Apollo gateway with headers,
// and answers the gateway's JSON result.
func runGateway(t *testing.T, node string, subgraphs []map[string]string, headers map[string]string, query string) map[string]any {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"subgraphs": subgraphs, "headers": headers, "query": query})
	cmd := exec.CommandContext(t.Context(), node, "gateway.mjs")
	cmd.Dir = gatewayDir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("gateway: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	t.Logf("gateway ran in %v", time.Since(start).Round(time.Millisecond))
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("gateway answered %q (%v); stderr: %s", stdout.String(), err, stderr.String())
	}
	return out
}

// authgraph composes with a product subgraph that extends User: authgraph's _service SDL,
// fetched from a running server, and the product's compose into one supergraph; through an
// Apollo gateway forwarding x-auth-token, `me` answers authgraph's fields and the product's.
// Without a token, authgraph refuses `me` and the gateway passes that on.
func TestFederationComposesWithAProductSubgraph(t *testing.T) {
	node := needGateway(t)
	srv := startServer(t, map[string]string{"AUTHGRAPH_LOG_LEVEL": "warn"})
	token := srv.login(t, adminName, adminPass)

	// (a) authgraph's subgraph schema, as a router reads it.
	sdl := ok(t, "_service", srv.post(t, "", `{ _service { sdl } }`, nil)).str(t, "_service.sdl")
	for _, want := range []string{`@link(url: "https://specs.apollo.dev/federation/v2.7"`, `extend type User @key(fields: "id")`,
		`extend type Account @key(fields: "id")`, "type User implements Node"} {
		if !strings.Contains(sdl, want) {
			t.Errorf("_service.sdl lacks %q", want)
		}
	}
	me := ok(t, "me", srv.post(t, token, `{ me { id } }`, nil)).str(t, "me.id")

	// (b) the product subgraph.
	product := &productSubgraph{colours: map[string]string{me: "teal"}}
	ps := httptest.NewServer(product)
	t.Cleanup(ps.Close)

	subgraphs := []map[string]string{
		{"name": "authgraph", "url": srv.URL + "/graphql", "sdl": sdl},
		{"name": "product", "url": ps.URL, "sdl": productSDL},
	}
	// (c), (d): through the gateway.
	out := runGateway(t, node, subgraphs, map[string]string{"x-auth-token": token, "apollographql-client-name": "federation-test"},
		`{ me { id username favouriteColour account { slug } } }`)
	if out["errors"] != nil {
		t.Fatalf("gateway answered errors: %v", out)
	}
	got, _ := out["data"].(map[string]any)["me"].(map[string]any)
	t.Logf("me through the gateway: %v", got)
	if got["id"] != me || got["username"] != adminName || got["favouriteColour"] != "teal" ||
		got["account"].(map[string]any)["slug"] != "default" {
		t.Errorf("me through the gateway = %v; want the admin, favouriteColour teal, account default", got)
	}
	product.mu.Lock()
	forwarded := len(product.tokens) > 0 && product.tokens[len(product.tokens)-1] == token
	product.mu.Unlock()
	if !forwarded {
		t.Errorf("the product subgraph did not receive the caller's x-auth-token")
	}

	// Without a token authgraph refuses me, and the product is not asked.
	out = runGateway(t, node, subgraphs, nil, `{ me { id favouriteColour } }`)
	if code := firstCode(out); code != "UNAUTHENTICATED" {
		t.Errorf("me without a token through the gateway: code %q, want UNAUTHENTICATED: %v", code, out)
	}
}

// firstCode answers the extensions.code of a GraphQL result's first error.
func firstCode(out map[string]any) string {
	errs, _ := out["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	ext, _ := e["extensions"].(map[string]any)
	c, _ := ext["code"].(string)
	return c
}

// _service answers schema.graphqls and federation.graphqls joined, as docs/federation.md
// tells Rover users to join them. With introspection off it is refused as introspection is
// (a validation failure, not an internal error), and _entities still answers.
func TestFederationServiceSDL(t *testing.T) {
	want := readDoc(t, "schema.graphqls") + "\n" + readDoc(t, "federation.graphqls")
	srv := startServer(t, map[string]string{"AUTHGRAPH_LOG_LEVEL": "warn"})
	if sdl := ok(t, "_service", srv.post(t, "", `{ _service { sdl } }`, nil)).str(t, "_service.sdl"); sdl != want {
		t.Errorf("_service.sdl is not schema.graphqls and federation.graphqls joined (%d bytes, want %d)", len(sdl), len(want))
	}

	off := startServer(t, map[string]string{"AUTHGRAPH_LOG_LEVEL": "warn", "AUTHGRAPH_INTROSPECTION": "false"})
	if r := off.post(t, "", `{ _service { sdl } }`, nil); r.Status != http.StatusUnprocessableEntity || r.code() != "GRAPHQL_VALIDATION_FAILED" ||
		!strings.Contains(r.Raw, "Introspection is disabled") {
		t.Errorf("_service with introspection off: %d %s", r.Status, r.Raw)
	}
	token := off.login(t, adminName, adminPass)
	r := ok(t, "_entities", off.post(t, token, `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { username } } }`,
		map[string]any{"r": []map[string]any{{"__typename": "User", "id": "1"}}}))
	if !strings.Contains(r.Raw, `"username":"`+adminName+`"`) {
		t.Errorf("_entities with introspection off: %s", r.Raw)
	}
}

// docs/federation.md's router.yaml propagates to authgraph the headers authgraph reads, the
// same the composition test's gateway forwards; the snippets parse.
func TestFederationDocRouterConfig(t *testing.T) {
	doc := readDoc(t, "docs/federation.md")
	blocks := regexp.MustCompile("(?s)```yaml\n(# ([a-z.]+)\n.*?)```").FindAllStringSubmatch(doc, -1)
	files := map[string]string{}
	for _, b := range blocks {
		files[b[2]] = b[1]
	}
	var router struct {
		Headers struct {
			Subgraphs map[string]struct {
				Request []struct {
					Propagate struct{ Named string } `yaml:"propagate"`
				} `yaml:"request"`
			} `yaml:"subgraphs"`
		} `yaml:"headers"`
		IncludeSubgraphErrors struct {
			Subgraphs map[string]bool `yaml:"subgraphs"`
		} `yaml:"include_subgraph_errors"`
	}
	if err := yaml.Unmarshal([]byte(files["router.yaml"]), &router); err != nil {
		t.Fatalf("router.yaml: %v\n%s", err, files["router.yaml"])
	}
	var supergraph struct {
		Subgraphs map[string]struct {
			RoutingURL string `yaml:"routing_url"`
		} `yaml:"subgraphs"`
	}
	if err := yaml.Unmarshal([]byte(files["supergraph.yaml"]), &supergraph); err != nil || supergraph.Subgraphs["authgraph"].RoutingURL == "" {
		t.Errorf("supergraph.yaml: %v %+v", err, supergraph)
	}
	var propagated []string
	for _, h := range router.Headers.Subgraphs["authgraph"].Request {
		propagated = append(propagated, h.Propagate.Named)
	}
	gateway := readDoc(t, "server/"+gatewayDir+"/gateway.mjs")
	// What authgraph reads: the session token (either header), the client's name and version.
	for _, h := range []string{"x-auth-token", "authorization", "apollographql-client-name", "apollographql-client-version"} {
		if !slices.Contains(propagated, h) {
			t.Errorf("router.yaml does not propagate %s to authgraph (it does %v)", h, propagated)
		}
		if h != "authorization" && !strings.Contains(gateway, `"`+h+`"`) {
			t.Errorf("the test's gateway does not forward %s", h)
		}
	}
	if !router.IncludeSubgraphErrors.Subgraphs["authgraph"] {
		t.Errorf("router.yaml hides authgraph's errors")
	}
}
