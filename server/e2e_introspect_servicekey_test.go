package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/gid"
	"github.com/authgraph/authgraph/internal/token"
)

// Service keys introspected by a product: POST /introspect with token=agm_… verifies the key
// as an x-api-key request would, and meters it as one request of the key.

// introspectForm posts form to /introspect with the shared secret.
func (s *testServer) introspectForm(t testing.TB, form url.Values) *gqlResponse {
	t.Helper()
	return s.raw(t, http.MethodPost, "/introspect", form.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer "+introspectSecret)
}

// introspectKey introspects a service key's secret with the shared secret.
func (s *testServer) introspectKey(t testing.TB, secret string) *gqlResponse {
	t.Helper()
	return s.introspectForm(t, url.Values{"token": {secret}})
}

// wantInactive fails unless r is exactly the one inactive answer.
func wantInactive(t testing.TB, what string, r *gqlResponse) {
	t.Helper()
	if r.Status != http.StatusOK || r.Raw != "{\"active\":false}\n" {
		t.Fatalf("%s: want 200 {\"active\":false}, got %d %q", what, r.Status, r.Raw)
	}
}

// answerOf decodes an introspection answer.
func answerOf(t testing.TB, r *gqlResponse) map[string]any {
	t.Helper()
	var a map[string]any
	if r.Status != http.StatusOK {
		t.Fatalf("introspection: %d %s", r.Status, r.Raw)
	}
	if err := json.Unmarshal([]byte(r.Raw), &a); err != nil {
		t.Fatalf("introspection answer %q: %v", r.Raw, err)
	}
	return a
}

func TestIntrospectServiceKeys(t *testing.T) {
	for _, store := range []string{"redis", "embedded"} {
		t.Run(store, func(t *testing.T) {
			env := map[string]string{
				"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1",
				"AUTHGRAPH_INTROSPECT_SECRET": introspectSecret,
			}
			var srv *testServer
			if store == "redis" {
				srv, _ = startRedisServer(t, env)
			} else {
				srv = startServer(t, env)
			}
			runIntrospectServiceKeys(t, srv)
		})
	}
}

func runIntrospectServiceKeys(t *testing.T, srv *testServer) {
	admin := srv.login(t, adminName, adminPass)
	saID := createSA(t, srv, admin, "1", "customer-42", []string{"read", "admin"})
	expiry := time.Now().Add(time.Hour).UTC()
	before := time.Now().Add(-time.Second)
	k := createSK(t, srv, admin, saID, map[string]any{"s": []string{"read"}, "e": expiry.Format(time.RFC3339Nano)})
	// Keys whose refusal needs time to pass, made first so that the waits overlap.
	expiring := createSK(t, srv, admin, saID, map[string]any{"e": time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)})
	rolled := createSK(t, srv, admin, saID, nil)
	r := ok(t, "reroll with grace", srv.post(t, admin, qRerollSK, map[string]any{"id": rolled.id, "g": 1}))
	rolledNew := r.str(t, "rerollServiceKey.secret")
	graceEnds := time.Now().Add(1100 * time.Millisecond)

	// The active answer: the service account as sub, the key as client_id, the key's scopes.
	a := answerOf(t, srv.introspectKey(t, k.secret))
	want := map[string]any{
		"active": true, "token_type": "service_key", "sub": saID, "client_id": k.id, "scope": "read",
		"username": "customer-42", "account_id": gid.Encode("Account", 1), "exp": float64(expiry.Unix()),
	}
	for f, v := range want {
		if a[f] != v {
			t.Errorf("%s = %v, want %v", f, a[f], v)
		}
	}
	iat, _ := a["iat"].(float64)
	if iat < float64(before.Unix()) || iat > float64(time.Now().Unix()) {
		t.Errorf("iat %v is not the key's creation", a["iat"])
	}
	var fields []string
	for f := range a {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	if got := strings.Join(fields, " "); got != "account_id active client_id exp iat scope sub token_type username" {
		t.Errorf("fields %q: a key's answer has no user, session or role", got)
	}
	// The hint, the JSON body and an admin's session answer the same; a key without an
	// expiry has no exp.
	if r := srv.introspectForm(t, url.Values{"token": {k.secret}, "token_type_hint": {"service_key"}}); answerOf(t, r)["client_id"] != k.id {
		t.Errorf("with token_type_hint: %s", r.Raw)
	}
	body, _ := json.Marshal(map[string]string{"token": k.secret})
	if r := srv.raw(t, http.MethodPost, "/introspect", string(body), "Content-Type", "application/json", "x-auth-token", admin); answerOf(t, r)["sub"] != saID {
		t.Errorf("JSON, as an admin: %s", r.Raw)
	}
	if a := answerOf(t, srv.introspectKey(t, rolledNew)); a["active"] != true || a["exp"] != nil || a["scope"] != "read admin" {
		t.Errorf("a key without expiry holding its account's scopes: %v", a)
	}

	// Every refusal: the same bytes.
	wantInactive(t, "a malformed key", srv.introspectKey(t, "agm_nope"))
	wantInactive(t, "a key whose checksum fails", srv.introspectKey(t, k.secret[:10]+string(rune(k.secret[10]^1))+k.secret[11:]))
	unknown, err := token.New(token.ServiceKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	wantInactive(t, "an unknown key", srv.introspectKey(t, unknown))
	deleted := createSK(t, srv, admin, saID, nil)
	if a := answerOf(t, srv.introspectKey(t, deleted.secret)); a["active"] != true {
		t.Fatalf("before its deletion: %v", a)
	}
	ok(t, "delete", srv.post(t, admin, qDeleteSK, map[string]any{"id": deleted.id}))
	wantInactive(t, "a deleted key", srv.introspectKey(t, deleted.secret))
	otherSA := createSA(t, srv, admin, "1", "to-disable", []string{"read"})
	dk := createSK(t, srv, admin, otherSA, nil)
	if a := answerOf(t, srv.introspectKey(t, dk.secret)); a["active"] != true {
		t.Fatalf("before disabling: %v", a)
	}
	ok(t, "disable", srv.post(t, admin, qDisableSA, map[string]any{"id": otherSA, "d": true}))
	wantInactive(t, "a key of a disabled service account", srv.introspectKey(t, dk.secret))
	ok(t, "delete the service account", srv.post(t, admin, qDeleteSA, map[string]any{"id": otherSA}))
	wantInactive(t, "a key of a deleted service account", srv.introspectKey(t, dk.secret))
	time.Sleep(time.Until(graceEnds))
	wantInactive(t, "an old secret past its grace", srv.introspectKey(t, rolled.secret))
	if a := answerOf(t, srv.introspectKey(t, rolledNew)); a["active"] != true {
		t.Errorf("the new secret after the grace: %v", a)
	}
	time.Sleep(time.Until(time.Now().Add(500 * time.Millisecond)))
	wantInactive(t, "an expired key", srv.introspectKey(t, expiring.secret))
	wantInactive(t, "a session token given as a key's prefix", srv.introspectKey(t, "agm_"+admin))

	// Metering: each introspection is one request of the key, shared with its x-api-key
	// requests. Past the rate limit the answer is inactive, with why and when to retry.
	limited := createSK(t, srv, admin, saID, map[string]any{"r": map[string]any{"requests": 2, "periodSeconds": 60}})
	ok(t, "within the rate, by x-api-key", srv.apiPost(t, limited.secret, `{ version }`, nil))
	if a := answerOf(t, srv.introspectKey(t, limited.secret)); a["active"] != true {
		t.Fatalf("within the rate: %v", a)
	}
	a = answerOf(t, srv.introspectKey(t, limited.secret))
	if ra, _ := a["retry_after"].(float64); a["active"] != false || a["reason"] != "rate_limited" || ra < 1 || ra > 60 || len(a) != 3 {
		t.Fatalf("over the rate: %v", a)
	}
	if r := srv.apiPost(t, limited.secret, `{ version }`, nil); r.Status != http.StatusTooManyRequests {
		t.Fatalf("x-api-key after introspections spent the rate: %d %s", r.Status, r.Raw)
	}
	quota := createSK(t, srv, admin, saID, map[string]any{"q": map[string]any{"limit": 2}})
	for range 2 {
		if a := answerOf(t, srv.introspectKey(t, quota.secret)); a["active"] != true {
			t.Fatalf("within the quota: %v", a)
		}
	}
	if r := srv.introspectKey(t, quota.secret); r.Raw != "{\"active\":false,\"reason\":\"quota_exceeded\"}\n" {
		t.Fatalf("quota spent: %q", r.Raw)
	}
	if r := srv.apiPost(t, quota.secret, `{ version }`, nil); r.Status != http.StatusForbidden || r.code() != "QUOTA_EXCEEDED" {
		t.Fatalf("x-api-key after introspections spent the quota: %d %s", r.Status, r.Raw)
	}
	// The introspections are in the key's usage beside its x-api-key request: 2 allowed, and
	// refused once each way (usage may reach Redis a second late: keymeter.Leased).
	waitFor(t, func() bool {
		r := ok(t, "usage", srv.post(t, admin, qListSA, map[string]any{"a": "1"}))
		for _, sa := range r.Data["serviceAccounts"].([]any) {
			for _, kk := range sa.(map[string]any)["keys"].([]any) {
				km := kk.(map[string]any)
				if km["id"] != quota.id {
					continue
				}
				var allowed, refused float64
				for _, h := range km["usage"].([]any) {
					allowed += h.(map[string]any)["allowed"].(float64)
					refused += h.(map[string]any)["refused"].(float64)
				}
				return allowed == 2 && refused == 2 && km["lastUsedAt"] != nil && km["quotaRemaining"] == float64(0)
			}
		}
		return false
	})
	// Only a live key is metered, so only a live key gets a reason: a bad one stays plain.
	wantInactive(t, "a deleted key, after metered ones", srv.introspectKey(t, deleted.secret))

	// nginx's auth_request does not read x-api-key: a request with a key alone is 401.
	if r := srv.raw(t, http.MethodGet, "/introspect/auth_request", "", "x-api-key", rolledNew, SecretHeaderForTests, introspectSecret); r.Status != http.StatusUnauthorized {
		t.Errorf("auth_request with x-api-key: %d %v", r.Status, r.Header)
	}

	// The refusals of keys that exist are in their account's audit trail, as on the x-api-key
	// path (every refusal above was an introspection's); never a secret.
	var trail string
	waitFor(t, func() bool {
		var types []string
		trail, types = auditDump(t, srv, admin, []string{"1"}, nil)
		return strings.Contains(strings.Join(types, "\n"), "service_key.refused FAILURE")
	})

	// No secret in any answer seen above, nor in the log or the trail.
	logs := srv.logs.String()
	for _, s := range []string{k.secret, expiring.secret, rolled.secret, rolledNew, deleted.secret, dk.secret, limited.secret, quota.secret, introspectSecret} {
		if strings.Contains(logs, s) || strings.Contains(trail, s) {
			t.Error("the log or the trail holds a service key's secret or the introspection secret")
		}
	}
	if !strings.Contains(logs, `"path":"/introspect"`) {
		t.Error("introspection requests are not in the request log")
	}
}

// SecretHeaderForTests is httpapi.SecretHeader, spelt out: the test checks the documented name.
const SecretHeaderForTests = "X-Authgraph-Introspect-Secret"

// A service key deleted or disabled on one replica is introspected as inactive by another
// within 100 ms (p99), the bound of the x-api-key path: both replicas on one Redis, each
// with its cache.
func TestIntrospectServiceKeyRevocationReachesAnotherReplica(t *testing.T) {
	env := map[string]string{
		"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn",
		"AUTHGRAPH_INTROSPECT_SECRET": introspectSecret,
	}
	a, rs := startRedisServer(t, env)
	envB := map[string]string{"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix, "AUTHGRAPH_REDIS_TIMEOUT": "2s"}
	for k, v := range env {
		envB[k] = v
	}
	b := startServer(t, envB)
	admin := a.login(t, adminName, adminPass)
	const rounds = 60
	var lat []time.Duration
	for i := range rounds {
		saID := createSA(t, a, admin, "1", "replicated", []string{"read"})
		k := createSK(t, a, admin, saID, nil)
		for range 2 { // B verifies the key, then answers it from its cache
			if r := b.introspectKey(t, k.secret); answerOf(t, r)["active"] != true {
				t.Fatalf("round %d: B: %s", i, r.Raw)
			}
		}
		switch i % 3 {
		case 0:
			ok(t, "delete the key on A", a.post(t, admin, qDeleteSK, map[string]any{"id": k.id}))
		case 1:
			ok(t, "disable on A", a.post(t, admin, qDisableSA, map[string]any{"id": saID, "d": true}))
		default:
			ok(t, "delete the service account on A", a.post(t, admin, qDeleteSA, map[string]any{"id": saID}))
		}
		start := time.Now()
		for {
			r := b.introspectKey(t, k.secret)
			if r.Raw == "{\"active\":false}\n" {
				break
			}
			if answerOf(t, r)["active"] != true || time.Since(start) > 15*time.Second {
				t.Fatalf("round %d: B answers %s", i, r.Raw)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("revocation introspected by another replica over %d keys: p50 %v, p99 %v, max %v", rounds, p50, p99, lat[len(lat)-1])
	if p99 > 100*time.Millisecond {
		t.Errorf("p99 %v: want at most 100 ms", p99)
	}
}
