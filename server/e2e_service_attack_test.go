package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestXAPIKeyHeaderForms sends a live service key in every form a client, a proxy or an
// attacker might, over a real listener on Redis, and checks each answer: the key alone (in
// any header case, with spaces around it) runs as the service account; with any other
// credential the server honours, or twice, it is a 400; anywhere but x-api-key, or altered,
// it is a plain 401; an empty x-api-key is no credential. An answer running as the key is
// told apart by serviceAccounts, which only a caller of account 1 holding read gets.
func TestXAPIKeyHeaderForms(t *testing.T) {
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1",
		"AUTHGRAPH_LOG_LEVEL": "warn", "AUTHGRAPH_INTROSPECT_SECRET": introspectSecret})
	admin := srv.login(t, adminName, adminPass)
	saID := createSA(t, srv, admin, "1", "forms-bot", []string{"read"})
	k := createSK(t, srv, admin, saID, nil)
	const q = `{ serviceAccounts(account: "1") { name } }`
	body, _ := json.Marshal(map[string]any{"query": q})
	getPath := "/graphql?query=" + url.QueryEscape(q)

	type form struct {
		name   string
		method string
		path   string
		h      http.Header
		status int
		code   string // GraphQL or refusal code; "" for a 200 that ran as the key
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = append(h[kv[i]], kv[i+1]) // kept as written: no canonicalisation
		}
		return h
	}
	forms := []form{
		{"alone", "POST", "/graphql", hdr("X-Api-Key", k.secret), 200, ""},
		{"lowercase name", "POST", "/graphql", hdr("x-api-key", k.secret), 200, ""},
		{"uppercase name", "POST", "/graphql", hdr("X-API-KEY", k.secret), 200, ""},
		{"spaces around", "POST", "/graphql", hdr("X-Api-Key", "  "+k.secret+"\t"), 200, ""},
		{"two equal headers", "POST", "/graphql", hdr("X-Api-Key", k.secret, "X-Api-Key", k.secret), 400, "BAD_USER_INPUT"},
		{"two headers in two spellings", "POST", "/graphql", hdr("X-Api-Key", k.secret, "x-api-key", k.secret), 400, "BAD_USER_INPUT"},
		{"with x-auth-token", "POST", "/graphql", hdr("X-Api-Key", k.secret, "X-Auth-Token", admin), 400, "BAD_USER_INPUT"},
		{"with the same string in x-auth-token", "POST", "/graphql", hdr("X-Api-Key", k.secret, "X-Auth-Token", k.secret), 400, "BAD_USER_INPUT"},
		{"with Authorization", "POST", "/graphql", hdr("X-Api-Key", k.secret, "Authorization", "Bearer "+admin), 400, "BAD_USER_INPUT"},
		{"with an honoured session cookie", "POST", "/graphql", hdr("X-Api-Key", k.secret, "Cookie", "authgraph_session="+admin), 400, "BAD_USER_INPUT"},
		{"with access_token (off)", "POST", "/graphql?access_token=" + admin, hdr("X-Api-Key", k.secret), 400, "BAD_USER_INPUT"},
		{"with a cookie a foreign page could send (ignored)", "GET", getPath, http.Header{"X-Api-Key": {k.secret}, "Cookie": {"authgraph_session=" + admin}}, 200, ""},
		{"in x-auth-token", "POST", "/graphql", hdr("X-Auth-Token", k.secret), 401, "UNAUTHENTICATED"},
		{"as Authorization: Bearer", "POST", "/graphql", hdr("Authorization", "Bearer "+k.secret), 401, "UNAUTHENTICATED"},
		{"with a Bearer scheme", "POST", "/graphql", hdr("X-Api-Key", "Bearer "+k.secret), 401, "UNAUTHENTICATED"},
		{"uppercase prefix", "POST", "/graphql", hdr("X-Api-Key", "AGM_"+k.secret[4:]), 401, "UNAUTHENTICATED"},
		{"two keys in one header", "POST", "/graphql", hdr("X-Api-Key", k.secret+", "+k.secret), 401, "UNAUTHENTICATED"},
		{"truncated", "POST", "/graphql", hdr("X-Api-Key", k.secret[:len(k.secret)-1]), 401, "UNAUTHENTICATED"},
		{"a session token in x-api-key", "POST", "/graphql", hdr("X-Api-Key", admin), 401, "UNAUTHENTICATED"},
		{"empty: no credential", "POST", "/graphql", hdr("X-Api-Key", ""), 200, "UNAUTHENTICATED"},
		{"blank: no credential", "POST", "/graphql", hdr("X-Api-Key", "   "), 200, "UNAUTHENTICATED"},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			b := string(body)
			if f.method == http.MethodGet {
				b = ""
			}
			r := srv.rawHeader(t, f.method, f.path, b, f.h)
			if r.Status != f.status || r.code() != f.code {
				t.Fatalf("want %d %q, got %d %q: %s", f.status, f.code, r.Status, r.code(), r.Raw)
			}
			if f.code == "" && !strings.Contains(r.Raw, "forms-bot") {
				t.Fatalf("did not run as the key: %s", r.Raw)
			}
			if strings.Contains(r.Raw, "agm_") {
				t.Fatalf("the answer quotes a secret: %s", r.Raw)
			}
		})
	}

	// The person-only routes outside GraphQL: introspection takes no service key as its
	// caller (401, as no credential, in x-api-key or as a Bearer token), and a service key
	// introspected is a service key's answer, never a session's.
	if r := srv.introspect(t, admin, "X-Api-Key", k.secret); r.Status != http.StatusUnauthorized {
		t.Fatalf("POST /introspect called with a service key: %d %s", r.Status, r.Raw)
	}
	if r := srv.introspect(t, admin, "Authorization", "Bearer "+k.secret); r.Status != http.StatusUnauthorized {
		t.Fatalf("POST /introspect called with a service key as Bearer: %d %s", r.Status, r.Raw)
	}
	r := srv.introspect(t, k.secret, "Authorization", "Bearer "+introspectSecret)
	if r.Status != http.StatusOK || !strings.Contains(r.Raw, `"token_type":"service_key"`) ||
		strings.Contains(r.Raw, `"user_id"`) || strings.Contains(r.Raw, `"session_id"`) || strings.Contains(r.Raw, "agm_") {
		t.Fatalf("a service key introspected: %d %s", r.Status, r.Raw)
	}
	// A browser page of another origin cannot send x-api-key: the preflight does not allow it.
	pre := srv.raw(t, http.MethodOptions, "/graphql", "", "Origin", "https://evil.example",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "x-api-key")
	if strings.Contains(strings.ToLower(pre.Header.Get("Access-Control-Allow-Headers")), "x-api-key") {
		t.Fatalf("a foreign origin may send x-api-key: %v", pre.Header)
	}
}

// TestServiceKeyUsageReadOncePerKey: a query may ask for a key's usage, lastUsedAt and
// quotaRemaining under many aliases (of serviceAccounts, and of usage with different since),
// which the complexity and alias limits count once each while every alias read the key's
// meter again (all 31 days of it): with a few hundred keys in the account, one request of a
// read-only service key cost Redis about 1,500 times an ordinary request. Each key's meter
// must be read at most once per query, whatever the aliases.
func TestServiceKeyUsageReadOncePerKey(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn"})
	if rs.External {
		t.Skip("counts the commands of its own Redis server")
	}
	admin := srv.login(t, adminName, adminPass)
	sa := createSA(t, srv, admin, "1", "usage-bot", []string{"read"})
	const keys = 10
	var k serviceKey
	for range keys {
		k = createSK(t, srv, admin, sa, map[string]any{"q": map[string]any{"limit": 1000}})
	}
	ok(t, "a request of the key", srv.apiPost(t, k.secret, `{ version }`, nil))

	var b strings.Builder
	b.WriteString("{ ")
	for i := range 12 {
		fmt.Fprintf(&b, `s%d: serviceAccounts(account: "1") { keys { lastUsedAt quotaRemaining usage { start allowed } `, i)
		if i == 0 {
			for j := range 10 {
				fmt.Fprintf(&b, `u%d: usage(since: "%s") { start } `, j, time.Now().Add(-time.Duration(j+1)*time.Hour).UTC().Format(time.RFC3339))
			}
		}
		b.WriteString("} } ")
	}
	b.WriteString("}")

	reads := func() int {
		info, err := rs.Client.Info(t.Context(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			if rest, found := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_hmget:calls="); found {
				n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
				return n
			}
		}
		return 0
	}
	before := reads()
	r := ok(t, "usage under many aliases", srv.apiPost(t, k.secret, b.String(), nil))
	if !strings.Contains(r.Raw, `"quotaRemaining":1000`) {
		t.Fatalf("the answer lacks the key's meter: %.300s", r.Raw)
	}
	// Once per key, and the meter's own flushes (every second), which read its state too.
	if n := reads() - before; n > 2*keys {
		t.Fatalf("the query read the meters of %d keys %d times: at most once per key", keys, n)
	}
}

// TestServiceAccountRevocationReachesAnotherReplica: what ends a service account's keys other
// than their own deletion or reroll — disabling it, deleting the account it belongs to — is
// seen by another replica that holds them in its cache within the bound of a session
// (100 ms here; the cache's TTL, 10 s, would be the bound if the message were lost).
func TestServiceAccountRevocationReachesAnotherReplica(t *testing.T) {
	env := map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn"}
	a, rs := startRedisServer(t, env)
	envB := map[string]string{"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix, "AUTHGRAPH_REDIS_TIMEOUT": "2s"}
	for k, v := range env {
		envB[k] = v
	}
	b := startServer(t, envB)
	admin := a.login(t, adminName, adminPass)
	acct := ok(t, "createAccount", a.post(t, admin, `mutation { createAccount(input: {slug: "doomed-sk", name: "Doomed"}) { id } }`, nil)).str(t, "createAccount.id")
	saID := createSA(t, a, admin, acct, "replicated", []string{"read"})
	k := createSK(t, a, admin, saID, nil)

	cached := func(what string) {
		t.Helper()
		for range 2 { // verified, then served from B's cache
			if r := b.apiPost(t, k.secret, `{ version }`, nil); r.Status != http.StatusOK {
				t.Fatalf("%s: B refuses a live key: %d %s", what, r.Status, r.Raw)
			}
		}
	}
	refusedWithin := func(what string) {
		t.Helper()
		start := time.Now()
		for b.apiPost(t, k.secret, `{ version }`, nil).Status != http.StatusUnauthorized {
			if time.Since(start) > 100*time.Millisecond {
				t.Fatalf("%s on A: B still accepts the key after %v", what, time.Since(start))
			}
			time.Sleep(time.Millisecond)
		}
	}
	cached("before")
	ok(t, "disable on A", a.post(t, admin, qDisableSA, map[string]any{"id": saID, "d": true}))
	refusedWithin("disabling its service account")
	ok(t, "enable on A", a.post(t, admin, qDisableSA, map[string]any{"id": saID, "d": false}))
	cached("enabled again")
	ok(t, "delete the account on A", a.post(t, admin, `mutation($id: ObjectID!) { deleteAccount(input: {accountId: $id, withUsers: true}) { account { id } } }`, map[string]any{"id": acct}))
	refusedWithin("deleting its account")
}
