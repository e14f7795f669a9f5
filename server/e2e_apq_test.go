package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/apq"
	"github.com/authgraph/authgraph/internal/httpapi"
	"github.com/authgraph/authgraph/internal/ratelimit"
	"github.com/authgraph/authgraph/internal/redistest"
)

func sha256Hex(s string) string {
	b := sha256.Sum256([]byte(s))
	return hex.EncodeToString(b[:])
}

// postAPQ sends an APQ request: the hash, and the query too when query is not "".
func (s *testServer) postAPQ(t *testing.T, token, hash, query string, headers ...string) *gqlResponse {
	t.Helper()
	body := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		body["query"] = query
	}
	b, _ := json.Marshal(body)
	h := []string{"Content-Type", "application/json"}
	if token != "" {
		h = append(h, "x-auth-token", token)
	}
	return s.raw(t, http.MethodPost, "/graphql", string(b), append(h, headers...)...)
}

// TestPersistedQueriesPerReplica registers a query on one replica and runs it by hash alone
// there, as Apollo Client's persisted query link does. Another replica has its own cache: it
// answers PERSISTED_QUERY_NOT_FOUND once, the client sends the query, and from then on the
// hash is enough there too. Nothing of it is written to Redis.
func TestPersistedQueriesPerReplica(t *testing.T) {
	a, rs := startRedisServer(t, nil)
	b := startServer(t, map[string]string{"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix})
	token := a.login(t, adminName, adminPass)
	q := "query Me { me { username } }"
	h := sha256Hex(q)

	r := a.postAPQ(t, token, h, "")
	if r.Status != http.StatusOK || r.code() != "PERSISTED_QUERY_NOT_FOUND" || r.Errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("unknown hash: %d %s", r.Status, r.Raw)
	}
	if r := a.postAPQ(t, token, h, q); r.str(t, "me.username") != adminName {
		t.Fatalf("register: %s", r.Raw)
	}
	if r := a.postAPQ(t, token, h, ""); r.str(t, "me.username") != adminName {
		t.Fatalf("by hash: %s", r.Raw)
	}
	if r := b.postAPQ(t, token, h, ""); r.code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("the other replica: %s", r.Raw)
	}
	b.postAPQ(t, token, h, q)
	if r := b.postAPQ(t, token, h, ""); r.str(t, "me.username") != adminName {
		t.Fatalf("by hash on the other replica: %s", r.Raw)
	}
	// GET works too, so a CDN may cache public queries by URL.
	v := sha256Hex("{ version }")
	b.postAPQ(t, "", v, "{ version }")
	ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + v + `"}}`
	g := b.raw(t, http.MethodGet, "/graphql?extensions="+url.QueryEscape(ext), "")
	if g.str(t, "version") == "" {
		t.Fatalf("GET by hash: %s", g.Raw)
	}
	if !strings.Contains(b.scrape(t), `authgraph_apq_lookups_total{result="hit"} 2`) {
		t.Error("APQ hits are not counted")
	}
	for _, k := range prefixKeys(t, rs) {
		if strings.Contains(k, "apq:") && !strings.Contains(k, "rl:apq:") {
			t.Errorf("persisted query in Redis: %s", k)
		}
	}
}

// TestPersistedQueriesKeepOnlyValidQueries: a query that does not validate is answered with
// its error and not kept, and a hash that does not match the query is refused.
func TestPersistedQueriesKeepOnlyValidQueries(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	junk := "{ this is not a valid operation }"
	if r := srv.postAPQ(t, "", sha256Hex(junk), junk); r.code() == "" {
		t.Fatalf("junk ran: %s", r.Raw)
	}
	if r := srv.postAPQ(t, "", sha256Hex(junk), ""); r.code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("junk was kept: %s", r.Raw)
	}
	if r := srv.postAPQ(t, "", sha256Hex("{ me { id } }"), "{ version }"); !strings.Contains(r.Raw, "provided APQ hash does not match query") {
		t.Fatalf("mismatched hash: %s", r.Raw)
	}
	for _, ext := range []string{`{"persistedQuery":{"version":2,"sha256Hash":"x"}}`, `{"persistedQuery":{"version":"1","sha256Hash":"x"}}`} {
		g := srv.raw(t, http.MethodGet, "/graphql?extensions="+url.QueryEscape(ext), "")
		if !strings.Contains(g.Raw, "unsupported APQ version") {
			t.Fatalf("%s: %s", ext, g.Raw)
		}
	}
}

func TestPersistedQueriesEmbeddedStore(t *testing.T) {
	srv := startServer(t, nil)
	q := "{ version }"
	if r := srv.postAPQ(t, "", sha256Hex(q), q); r.str(t, "version") == "" {
		t.Fatal(r.Raw)
	}
	if r := srv.postAPQ(t, "", sha256Hex(q), ""); r.str(t, "version") == "" {
		t.Fatal(r.Raw)
	}
}

// floodQuery is the n-th document of an APQ flood: a valid query padded with a comment to
// size bytes, so that each is distinct and as large as the cache accepts.
func floodQuery(n, size int) string {
	q := fmt.Sprintf("query Q%d{version}#", n)
	return q + strings.Repeat(" ", max(0, size-len(q)))
}

// TestAPQFloodFromOneAddressIsLimited: distinct documents from one address are kept up to
// apq:register:ip's burst, then refused with 429 RATE_LIMITED; other addresses are not
// affected, and nothing reaches Redis but the limiter's buckets.
func TestAPQFloodFromOneAddressIsLimited(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1"})
	burst := ratelimit.DefaultRules()[ratelimit.RuleAPQRegisterIP].Burst
	before := dataKeys(t, rs)
	const flooder = "203.0.113.80"
	for i := range burst {
		q := floodQuery(i, apq.MaxQueryBytes)
		if r := srv.postAPQ(t, "", sha256Hex(q), q, "X-Forwarded-For", flooder); r.str(t, "version") == "" {
			t.Fatalf("document %d: %d %s", i, r.Status, r.Raw)
		}
	}
	for i := burst; i < burst+20; i++ {
		q := floodQuery(i, apq.MaxQueryBytes)
		assertLimited(t, srv.postAPQ(t, "", sha256Hex(q), q, "X-Forwarded-For", flooder))
	}
	// A document already kept costs nothing more to send again.
	q0 := floodQuery(0, apq.MaxQueryBytes)
	if r := srv.postAPQ(t, "", sha256Hex(q0), q0, "X-Forwarded-For", flooder); r.str(t, "version") == "" {
		t.Fatalf("a kept document was refused: %s", r.Raw)
	}
	q := floodQuery(1000, 100)
	if r := srv.postAPQ(t, "", sha256Hex(q), q, "X-Forwarded-For", "198.51.100.20"); r.str(t, "version") == "" {
		t.Fatalf("another address was refused: %s", r.Raw)
	}
	// In Redis: the two addresses' apq:register:ip buckets, whatever the size of the flood.
	keys := prefixKeys(t, rs)
	if after := dataKeys(t, rs); after-before != 2 {
		t.Fatalf("Redis keys: %d before the flood, %d after: %v", before, after, keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "apq:") && !strings.Contains(k, "rl:apq:register:ip:") {
			t.Errorf("unexpected key %s", k)
		}
	}
}

// TestAPQFloodCannotStarveSignIn: Redis runs with a small maxmemory and noeviction, the
// setting the README recommends. A flood of distinct, maximum-size documents from many
// addresses (each under its own limit), several times larger than Redis's headroom, leaves
// Redis's memory where it was; sign-ins succeed throughout; the replica's cache holds only
// its budget (the oldest documents are gone).
func TestAPQFloodCannotStarveSignIn(t *testing.T) {
	rs := redistest.Start(t)
	if rs.External {
		t.Skip("needs a private redis-server to set maxmemory on")
	}
	ctx := t.Context()
	used := func() int64 {
		info := rs.Client.Info(ctx, "memory").Val()
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		t.Fatalf("no used_memory in %q", info)
		return 0
	}
	const headroom = 2 << 20
	if err := rs.Client.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used()+headroom, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rs.Client.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, map[string]string{
		"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix, "AUTHGRAPH_REDIS_TIMEOUT": "2s",
		"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1", "AUTHGRAPH_APQ_CACHE_BYTES": strconv.Itoa(1 << 20),
	})
	srv.login(t, adminName, adminPass)
	start := used()

	// 400 documents of 16 KiB: 6.4 MiB, three times Redis's headroom; 20 from each address.
	const docs, perAddress = 400, 20
	for i := range docs {
		ip := fmt.Sprintf("203.0.113.%d", i/perAddress+1)
		q := floodQuery(i, apq.MaxQueryBytes)
		if r := srv.postAPQ(t, "", sha256Hex(q), q, "X-Forwarded-For", ip); r.str(t, "version") == "" {
			t.Fatalf("document %d: %d %s", i, r.Status, r.Raw)
		}
		if i%50 == 49 {
			srv.login(t, adminName, adminPass) // fails the test if sign-in fails
		}
	}
	srv.login(t, adminName, adminPass)
	if growth := used() - start; growth > 256<<10 {
		t.Fatalf("Redis grew by %d bytes during the flood", growth)
	}
	// The cache kept the newest documents within its budget and dropped the oldest.
	last := floodQuery(docs-1, apq.MaxQueryBytes)
	if r := srv.postAPQ(t, "", sha256Hex(last), ""); r.str(t, "version") == "" {
		t.Fatalf("the newest document is not cached: %s", r.Raw)
	}
	first := floodQuery(0, apq.MaxQueryBytes)
	if r := srv.postAPQ(t, "", sha256Hex(first), ""); r.code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("the cache outgrew its budget: the first document is still there: %s", r.Raw)
	}
}

// dataKeys counts the keys under the server's prefix but the audit trail's streams and the
// background queues (mail, webhooks), which their workers fill or create a moment after what
// they record (the server's start, among others).
func dataKeys(t *testing.T, rs *redistest.Server) int {
	n := 0
	for _, k := range prefixKeys(t, rs) {
		if !strings.HasSuffix(k, "}:audit") && !strings.HasSuffix(k, "{mail}:q") && !strings.HasSuffix(k, "{wh}:q") {
			n++
		}
	}
	return n
}

// TestPersistedQueriesRefuseInlineCredentials: a document that writes a password (or any
// credential) into its text is refused with a message that says to use variables, is not
// run, and is stored nowhere; the same operation with variables is kept.
func TestPersistedQueriesRefuseInlineCredentials(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	const pw = "inline-literal-password-7731"
	for _, q := range []string{
		`mutation { createSessionUsingUsername(input: {username: "` + adminName + `", password: "` + adminPass + `"}) { token } }`,
		`mutation { createSessionUsingUsername(input: {username: "nobody", password: "` + pw + `"}) { token } }`,
		`mutation($p: String! = "` + pw + `") { createSessionUsingUsername(input: {username: "nobody", password: $p}) { token } }`,
		`mutation { refreshSession(input: {refreshToken: "agr_` + pw + `"}) { token } }`,
		// The credential inside a whole input object given as a variable's default.
		`mutation($i: CreateSessionUsingUsernameInput! = {username: "` + adminName + `", password: "` + adminPass + `"}) { createSessionUsingUsername(input: $i) { token } }`,
	} {
		before := dataKeys(t, rs)
		r := srv.postAPQ(t, "", sha256Hex(q), q)
		if r.code() != "BAD_USER_INPUT" || r.Errors[0].Message != httpapi.MsgInlineCredential || r.Data["createSessionUsingUsername"] != nil {
			t.Fatalf("%s: %d %s", q, r.Status, r.Raw)
		}
		if strings.Contains(r.Raw, pw) || strings.Contains(r.Raw, adminPass) {
			t.Fatalf("the answer echoes the credential: %s", r.Raw)
		}
		if after := dataKeys(t, rs); after != before {
			t.Fatalf("the refused operation wrote to Redis: %d keys before, %d after", before, after)
		}
		if r := srv.postAPQ(t, "", sha256Hex(q), ""); r.code() != "PERSISTED_QUERY_NOT_FOUND" {
			t.Fatalf("kept: %s", r.Raw)
		}
	}
	assertNoValueContains(t, rs, pw, adminPass)
	if !strings.Contains(srv.logs.String(), "bootstrap admin") || strings.Contains(srv.logs.String(), pw) {
		t.Fatal("the credential reached the log")
	}
	q := `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`
	body, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"u": adminName, "p": adminPass},
		"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha256Hex(q)}}})
	if r := srv.raw(t, http.MethodPost, "/graphql", string(body), "Content-Type", "application/json"); r.str(t, "createSessionUsingUsername.token") == "" {
		t.Fatalf("with variables: %s", r.Raw)
	}
	body, _ = json.Marshal(map[string]any{"variables": map[string]any{"u": adminName, "p": adminPass},
		"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha256Hex(q)}}})
	if r := srv.raw(t, http.MethodPost, "/graphql", string(body), "Content-Type", "application/json"); r.str(t, "createSessionUsingUsername.token") == "" {
		t.Fatalf("by hash with variables: %s", r.Raw)
	}
}

// TestPersistedQueryLookupsAreLimited: hash-only requests count against apq:lookup:ip before
// the lookup, hits and misses alike; past the limit they are 429 RATE_LIMITED, so asking
// whether a document is cached is no free oracle. Another address is not affected.
func TestPersistedQueryLookupsAreLimited(t *testing.T) {
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1", "AUTHGRAPH_RATE_LIMITS": "apq:lookup:ip=5/1m"})
	known := "{ version }"
	srv.postAPQ(t, "", sha256Hex(known), known, "X-Forwarded-For", "198.51.100.30")
	const guesser = "203.0.113.90"
	for i := range 4 {
		if r := srv.postAPQ(t, "", sha256Hex(fmt.Sprint("guess ", i)), "", "X-Forwarded-For", guesser); r.code() != "PERSISTED_QUERY_NOT_FOUND" {
			t.Fatalf("guess %d: %s", i, r.Raw)
		}
	}
	if r := srv.postAPQ(t, "", sha256Hex(known), "", "X-Forwarded-For", guesser); r.str(t, "version") == "" {
		t.Fatalf("the fifth lookup, a hit: %s", r.Raw)
	}
	assertLimited(t, srv.postAPQ(t, "", sha256Hex("guess 5"), "", "X-Forwarded-For", guesser))
	assertLimited(t, srv.postAPQ(t, "", sha256Hex(known), "", "X-Forwarded-For", guesser))
	ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + sha256Hex(known) + `"}}`
	assertLimited(t, srv.raw(t, http.MethodGet, "/graphql?extensions="+url.QueryEscape(ext), "", "X-Forwarded-For", guesser))
	// The full query still runs: the limit is on lookups, not on queries.
	if r := srv.post(t, "", known, nil, "X-Forwarded-For", guesser); r.str(t, "version") == "" {
		t.Fatalf("a plain query from the limited address: %s", r.Raw)
	}
	if r := srv.postAPQ(t, "", sha256Hex(known), "", "X-Forwarded-For", "198.51.100.31"); r.str(t, "version") == "" {
		t.Fatalf("another address: %s", r.Raw)
	}
}

// TestPersistedQueriesWithRedisDown: when the limiter cannot count, a lookup is a miss and a
// registration is skipped, so the client falls back to sending its query, which runs as any
// query does: never a 503 that a plain query would not get.
func TestPersistedQueriesWithRedisDown(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	if rs.External {
		t.Skip("needs a private redis-server to stop")
	}
	known, other := "{ version }", "query Other { version }"
	srv.postAPQ(t, "", sha256Hex(known), known)
	rs.Stop()
	if r := srv.postAPQ(t, "", sha256Hex(known), ""); r.Status != http.StatusOK || r.code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("lookup with Redis down: %d %s", r.Status, r.Raw)
	}
	if r := srv.postAPQ(t, "", sha256Hex(other), other); r.str(t, "version") == "" {
		t.Fatalf("query and hash with Redis down: %d %s", r.Status, r.Raw)
	}
	rs.Restart()
	if r := srv.postAPQ(t, "", sha256Hex(other), ""); r.code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("kept without being counted: %s", r.Raw)
	}
	if r := srv.postAPQ(t, "", sha256Hex(known), ""); r.str(t, "version") == "" {
		t.Fatalf("after Redis came back: %s", r.Raw)
	}
}

// prefixKeys lists the test's keys, on one server or every master of a Cluster.
func prefixKeys(t *testing.T, rs *redistest.Server) []string {
	t.Helper()
	ctx := t.Context()
	var mu sync.Mutex
	var out []string
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, rs.Prefix+"*", 1000).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			out = append(out, it.Val())
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if cc, ok := rs.Client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	} else {
		err = scan(ctx, rs.Client)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertNoValueContains reads every key of the test and fails if a name or a value holds
// one of secrets.
func assertNoValueContains(t *testing.T, rs *redistest.Server, secrets ...string) {
	t.Helper()
	ctx := t.Context()
	for _, k := range prefixKeys(t, rs) {
		var vals []string
		switch rs.Client.Type(ctx, k).Val() {
		case "string":
			vals = []string{rs.Client.Get(ctx, k).Val()}
		case "hash":
			for f, v := range rs.Client.HGetAll(ctx, k).Val() {
				vals = append(vals, f, v)
			}
		case "set":
			vals = rs.Client.SMembers(ctx, k).Val()
		case "zset":
			vals = rs.Client.ZRange(ctx, k, 0, -1).Val()
		case "list":
			vals = rs.Client.LRange(ctx, k, 0, -1).Val()
		}
		for _, v := range append(vals, k) {
			for _, s := range secrets {
				if strings.Contains(v, s) {
					t.Fatalf("key %s holds a credential", k)
				}
			}
		}
	}
}

func TestCORS(t *testing.T) {
	preflight := func(t *testing.T, srv *testServer, origin string) *gqlResponse {
		return srv.raw(t, http.MethodOptions, "/graphql", "", "Origin", origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type,apollographql-client-name,apollographql-client-version,x-auth-token")
	}
	t.Run("any origin by default", func(t *testing.T) {
		srv := startServer(t, nil)
		r := preflight(t, srv, "https://anywhere.example")
		if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("%d %v", r.Status, r.Header)
		}
		allow := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"apollographql-client-name", "apollographql-client-version", "x-auth-token", "authorization", "content-type", "apollo-require-preflight"} {
			if !strings.Contains(allow, h) {
				t.Errorf("%s is not allowed: %s", h, allow)
			}
		}
	})
	t.Run("a list of origins", func(t *testing.T) {
		srv := startServer(t, map[string]string{"AUTHGRAPH_CORS_ORIGINS": "https://app.example, http://localhost:3000"})
		r := preflight(t, srv, "http://localhost:3000")
		if r.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("listed origin: %v", r.Header)
		}
		r = preflight(t, srv, "https://evil.example")
		if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Headers") != "" {
			t.Fatalf("unlisted origin got CORS headers: %v", r.Header)
		}
		p := srv.raw(t, http.MethodPost, "/graphql", `{"query":"{ version }"}`, "Content-Type", "application/json", "Origin", "https://app.example")
		if p.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(p.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
			t.Fatalf("POST: %v", p.Header)
		}
	})
	t.Run("a malformed origin is refused at start", func(t *testing.T) {
		if _, err := loadConfig(nil, func(k string) string {
			if k == "AUTHGRAPH_CORS_ORIGINS" {
				return "app.example/path"
			}
			return ""
		}, nil); err == nil {
			t.Fatal("want an error")
		}
	})
}
