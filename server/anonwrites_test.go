package main

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/authgraph/authgraph/graph"
	"github.com/authgraph/authgraph/internal/apq"
	"github.com/authgraph/authgraph/internal/ratelimit"
)

// publicRootFields answers every root field of the schema that carries no guard directive:
// what a client without a session can call.
func publicRootFields(schema *ast.Schema) []string {
	var out []string
	for _, root := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		if root == nil {
			continue
		}
		for _, f := range root.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			guarded := false
			for _, g := range []string{"auth", "hasRole", "hasScope"} {
				guarded = guarded || f.Directives.ForName(g) != nil
			}
			if !guarded {
				out = append(out, root.Name+"."+f.Name)
			}
		}
	}
	return out
}

// TestAnonymousWritesAreListed: every public root field of the schema, and both halves of
// the persisted query protocol, have an entry in anonymousWrites; every entry that writes
// names rules, and every rule exists in ratelimit.DefaultRules (so it is enforced and can be
// configured). No entry is stale.
func TestAnonymousWritesAreListed(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	entries := map[string]anonymousWrite{}
	for _, w := range anonymousWrites {
		if _, dup := entries[w.Entry]; dup {
			t.Errorf("%s: listed twice", w.Entry)
		}
		entries[w.Entry] = w
	}
	want := append(publicRootFields(schema), "APQ lookup", "APQ registration")
	for _, e := range want {
		w, ok := entries[e]
		if !ok {
			t.Errorf("%s: an anonymous client can call it, and anonymousWrites does not say what it writes and which limit bounds it", e)
			continue
		}
		if w.Writes != "" && len(w.Rules) == 0 {
			t.Errorf("%s writes %q with no limit", e, w.Writes)
		}
		for _, r := range w.Rules {
			if _, ok := ratelimit.DefaultRules()[r]; !ok {
				t.Errorf("%s: rule %q is not in ratelimit.DefaultRules", e, r)
			}
		}
	}
	for e := range entries {
		if !slices.Contains(want, e) {
			t.Errorf("%s: listed, but no anonymous client can call it", e)
		}
	}
}

// credentialLike matches the names of arguments and input fields that may carry a secret.
var credentialLike = regexp.MustCompile(`(?i)(password|secret|token|otp|code|passphrase|pin)$`)

// TestCredentialNamesCoverTheSchema: every argument or input field of the schema whose name
// says it carries a secret is in apq.CredentialNames, so a document that writes one inline is
// never kept. A new credential input cannot be forgotten.
func TestCredentialNamesCoverTheSchema(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	var found []string
	check := func(where, name string) {
		if credentialLike.MatchString(name) {
			found = append(found, name)
			if !slices.Contains(apq.CredentialNames, name) {
				t.Errorf("%s carries a credential, and %q is not in apq.CredentialNames", where, name)
			}
		}
	}
	for _, def := range schema.Types {
		if strings.HasPrefix(def.Name, "__") {
			continue
		}
		for _, f := range def.Fields {
			if def.Kind == ast.InputObject {
				check(def.Name+"."+f.Name, f.Name)
			}
			for _, a := range f.Arguments {
				check(def.Name+"."+f.Name+"("+a.Name+")", a.Name)
			}
		}
	}
	for _, d := range schema.Directives {
		for _, a := range d.Arguments {
			check("@"+d.Name+"("+a.Name+")", a.Name)
		}
	}
	// The schema's known credentials are found, so the pattern is not blind.
	for _, n := range []string{"password", "secret", "token", "refreshToken", "otp", "code", "currentPassword", "newPassword"} {
		if !slices.Contains(found, n) {
			t.Errorf("the schema scan did not find %q", n)
		}
	}
}

// TestAnonymousFloodsStayBounded floods each entry of anonymousWrites from one address over
// HTTP, on a real Redis, and checks that what it leaves in Redis is a handful of keys and a
// few KiB, however many requests were sent (each flood is twice its rules' bursts), and
// that sign-in still works after every flood. A new entry fails here until it has a flood.
func TestAnonymousFloodsStayBounded(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1"})
	loginU := `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`
	loginK := `mutation($k: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $k, secret: $s}) { token } }`
	ext := `mutation($t: String!) { createSessionUsingExternalToken(input: {token: $t}) { token } }`
	refresh := `mutation($r: String) { refreshSession(input: {refreshToken: $r}) { token } }`
	floods := map[string]func(i int, ip string) *gqlResponse{
		"Query.version": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", "{ version }", nil, "X-Forwarded-For", ip)
		},
		"Mutation.createSessionUsingUsername": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", loginU, map[string]any{"u": fmt.Sprint("nobody", i), "p": "wrong-password"}, "X-Forwarded-For", ip)
		},
		"Mutation.createSessionUsingUserKey": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", loginK, map[string]any{"k": 1000 + i, "s": "agk_wrong"}, "X-Forwarded-For", ip)
		},
		"Mutation.createSessionUsingExternalToken": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", ext, map[string]any{"t": "not-a-jwt"}, "X-Forwarded-For", ip)
		},
		"Mutation.refreshSession": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", refresh, map[string]any{"r": fmt.Sprint("agr_made_up_", i)}, "X-Forwarded-For", ip)
		},
		"APQ lookup": func(i int, ip string) *gqlResponse {
			return srv.postAPQ(t, "", sha256Hex(fmt.Sprint("guess ", i)), "", "X-Forwarded-For", ip)
		},
		"APQ registration": func(i int, ip string) *gqlResponse {
			q := floodQuery(i, apq.MaxQueryBytes)
			return srv.postAPQ(t, "", sha256Hex(q), q, "X-Forwarded-For", ip)
		},
	}
	used := func() int64 {
		if rs.Cluster {
			return 0 // memory is per node; the key count still holds
		}
		for _, line := range strings.Split(rs.Client.Info(t.Context(), "memory").Val(), "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				m, _ := strconv.ParseInt(v, 10, 64)
				return m
			}
		}
		t.Fatal("no used_memory")
		return 0
	}
	srv.login(t, adminName, adminPass)
	for k, w := range anonymousWrites {
		flood, ok := floods[w.Entry]
		if !ok {
			t.Errorf("%s: no flood in this test", w.Entry)
			continue
		}
		ip := fmt.Sprintf("203.0.113.%d", 100+k)
		keys, mem := len(prefixKeys(t, rs)), used()
		// Many times the burst of every rule involved.
		n := 150
		for _, r := range w.Rules {
			n = max(n, 2*ratelimit.DefaultRules()[r].Burst)
		}
		statuses := map[int]int{}
		for i := range n {
			r := flood(i, ip)
			statuses[r.Status]++
			if r.Status >= 500 {
				t.Fatalf("%s, request %d: %d %s", w.Entry, i, r.Status, r.Raw)
			}
		}
		// Each rule keeps a bucket per address, and the per-account rules one per account
		// tried before the address's own limit stopped it (its burst, at most).
		bound := len(w.Rules)
		if slices.Contains(w.Rules, ratelimit.RuleLoginIP) {
			bound += 2 * ratelimit.DefaultRules()[ratelimit.RuleLoginIP].Burst
		}
		addedKeys, addedMem := len(prefixKeys(t, rs))-keys, used()-mem
		t.Logf("%s: %d requests (statuses %v): %d keys, %d bytes of Redis memory", w.Entry, n, statuses, addedKeys, addedMem)
		if addedKeys > bound {
			t.Errorf("%s: %d requests left %d keys in Redis, bound %d", w.Entry, n, addedKeys, bound)
		}
		if addedMem > 64<<10 {
			t.Errorf("%s: %d requests grew Redis by %d bytes", w.Entry, n, addedMem)
		}
		if w.Writes == "" && addedKeys != 0 {
			t.Errorf("%s: listed as writing nothing, and left %d keys", w.Entry, addedKeys)
		}
		if statuses[http.StatusTooManyRequests] == 0 && addedKeys > 0 {
			t.Errorf("%s: %d requests from one address wrote, and no limit refused any", w.Entry, n)
		}
		srv.login(t, adminName, adminPass)
	}
}
