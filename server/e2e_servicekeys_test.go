package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authgraph/authgraph/internal/redistest"
)

// Service accounts and keys over real HTTP: x-api-key on every request, with no sign-in.

const (
	qCreateSA  = `mutation($a: ObjectID!, $n: String!, $s: [String!]) { createServiceAccount(input: {account: $a, name: $n, scopes: $s}) { id rawID scopes } }`
	qCreateSK  = `mutation($id: ObjectID!, $n: String!, $s: [String!], $e: DateTime, $r: ServiceKeyRateLimitInput, $q: ServiceKeyQuotaInput) { createServiceKey(input: {serviceAccountId: $id, name: $n, scopes: $s, expiresAt: $e, rateLimit: $r, quota: $q}) { id secret scopes secretHint } }`
	qRerollSK  = `mutation($id: ObjectID!, $g: Int) { rerollServiceKey(input: {keyId: $id, graceSeconds: $g}) { id secret previousSecretExpiresAt } }`
	qDeleteSK  = `mutation($id: ObjectID!) { deleteServiceKey(input: {keyId: $id}) { keyId } }`
	qListSA    = `query($a: ObjectID!) { serviceAccounts(account: $a) { id name disabled keys { id name secret lastUsedAt quotaRemaining usage { start allowed refused } } } }`
	qDisableSA = `mutation($id: ObjectID!, $d: Boolean!) { setServiceAccountDisabled(input: {serviceAccountId: $id, disabled: $d}) { id disabled } }`
	qDeleteSA  = `mutation($id: ObjectID!) { deleteServiceAccount(input: {serviceAccountId: $id}) { serviceAccountId } }`
)

type serviceKey struct{ id, secret string }

// apiPost sends a GraphQL request with a service key in x-api-key (and extra headers).
func (s *testServer) apiPost(t testing.TB, key, query string, vars map[string]any, headers ...string) *gqlResponse {
	t.Helper()
	return s.post(t, "", query, vars, append([]string{"x-api-key", key}, headers...)...)
}

func createSA(t *testing.T, srv *testServer, tok, account, name string, scopes []string) string {
	t.Helper()
	vars := map[string]any{"a": account, "n": name}
	if scopes != nil {
		vars["s"] = scopes
	}
	return ok(t, "createServiceAccount", srv.post(t, tok, qCreateSA, vars)).str(t, "createServiceAccount.id")
}

func createSK(t testing.TB, srv *testServer, tok, saID string, extra map[string]any) serviceKey {
	t.Helper()
	vars := map[string]any{"id": saID, "n": "k"}
	for k, v := range extra {
		vars[k] = v
	}
	r := srv.post(t, tok, qCreateSK, vars)
	if r.Status != http.StatusOK || len(r.Errors) != 0 {
		t.Fatalf("createServiceKey: %d %s", r.Status, r.Raw)
	}
	return serviceKey{r.str(t, "createServiceKey.id"), r.str(t, "createServiceKey.secret")}
}

// unauthorizedBody is the one answer of every refused key; set by the first refusal seen.
type refusals struct {
	mu   sync.Mutex
	body string
}

// want401 fails unless key is refused with 401 and the same body as every other refusal.
func (rf *refusals) want401(t testing.TB, srv *testServer, what, key string) {
	t.Helper()
	r := srv.apiPost(t, key, `{ version }`, nil)
	if r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
		t.Fatalf("%s: want 401 UNAUTHENTICATED, got %d %s", what, r.Status, r.Raw)
	}
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.body == "" {
		rf.body = r.Raw
	} else if r.Raw != rf.body {
		t.Fatalf("%s: a refusal that differs from the others: %s, not %s", what, r.Raw, rf.body)
	}
}

func TestServiceKeysEndToEnd(t *testing.T) {
	for _, store := range []string{"redis", "embedded"} {
		t.Run(store, func(t *testing.T) {
			env := map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn"}
			var srv *testServer
			var rs *redistest.Server
			if store == "redis" {
				srv, rs = startRedisServer(t, env)
			} else {
				srv = startServer(t, env)
			}
			runServiceKeys(t, srv, rs)
		})
	}
}

func runServiceKeys(t *testing.T, srv *testServer, rs *redistest.Server) {
	admin := srv.login(t, adminName, adminPass)
	var rf refusals
	saID := createSA(t, srv, admin, "1", "billing-bot", []string{"read"})
	k := createSK(t, srv, admin, saID, nil)
	if !strings.HasPrefix(k.secret, "agm_") || len(k.secret) != 53 {
		t.Fatalf("secret %q: want agm_ and 53 characters", k.secret)
	}

	// A query with the key alone, no sign-in.
	r := ok(t, "serviceAccounts by x-api-key", srv.apiPost(t, k.secret, qListSA, map[string]any{"a": "1"}))
	if !strings.Contains(r.Raw, "billing-bot") || strings.Contains(r.Raw, "agm_") {
		t.Fatalf("the key's own account: %s", r.Raw)
	}
	// Another account is NOT_FOUND; a person's operation FORBIDDEN; minting FORBIDDEN.
	acct := ok(t, "createAccount", srv.post(t, admin, `mutation { createAccount(input: {slug: "other-sk", name: "Other"}) { id } }`, nil)).str(t, "createAccount.id")
	wantGQLCode(t, "another account's service accounts", srv.apiPost(t, k.secret, qListSA, map[string]any{"a": acct}), "NOT_FOUND")
	wantGQLCode(t, "me by a service key", srv.apiPost(t, k.secret, `{ me { id } }`, nil), "FORBIDDEN")
	wantGQLCode(t, "createUserKey by a service key", srv.apiPost(t, k.secret, `mutation { createUserKey { secret } }`, nil), "FORBIDDEN")
	wantGQLCode(t, "createServiceKey by a service key", srv.apiPost(t, k.secret, qCreateSK, map[string]any{"id": saID, "n": "x"}), "FORBIDDEN")

	// x-api-key with another credential: 400, like two tokens.
	for _, h := range [][]string{{"x-auth-token", admin}, {"Authorization", "Bearer " + admin}} {
		r := srv.apiPost(t, k.secret, `{ version }`, nil, h...)
		if r.Status != http.StatusBadRequest || r.code() != "BAD_USER_INPUT" {
			t.Fatalf("x-api-key with %s: want 400, got %d %s", h[0], r.Status, r.Raw)
		}
	}

	// Every bad key: the same 401.
	rf.want401(t, srv, "a malformed key", "agm_nope")
	flipped := k.secret[:10] + string(rune(k.secret[10]^1)) + k.secret[11:]
	rf.want401(t, srv, "a key whose checksum fails", flipped)
	other := createSK(t, srv, admin, saID, nil)
	ok(t, "delete", srv.post(t, admin, qDeleteSK, map[string]any{"id": other.id}))
	rf.want401(t, srv, "a deleted key", other.secret)
	rf.want401(t, srv, "a session token in x-api-key", admin)
	expiring := createSK(t, srv, admin, saID, map[string]any{"e": time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)})
	ok(t, "an expiring key before its expiry", srv.apiPost(t, expiring.secret, `{ version }`, nil))
	disabledSA := createSA(t, srv, admin, "1", "to-disable", []string{"read"})
	dk := createSK(t, srv, admin, disabledSA, nil)
	ok(t, "before disabling", srv.apiPost(t, dk.secret, `{ version }`, nil))
	ok(t, "disable", srv.post(t, admin, qDisableSA, map[string]any{"id": disabledSA, "d": true}))
	rf.want401(t, srv, "a key of a disabled service account", dk.secret)
	ok(t, "enable", srv.post(t, admin, qDisableSA, map[string]any{"id": disabledSA, "d": false}))
	ok(t, "after enabling", srv.apiPost(t, dk.secret, `{ version }`, nil))
	ok(t, "delete the service account", srv.post(t, admin, qDeleteSA, map[string]any{"id": disabledSA}))
	rf.want401(t, srv, "a key of a deleted service account", dk.secret)
	time.Sleep(time.Until(time.Now().Add(1600 * time.Millisecond)))
	rf.want401(t, srv, "an expired key", expiring.secret)

	// The rate limit: 429 with Retry-After.
	limited := createSK(t, srv, admin, saID, map[string]any{"r": map[string]any{"requests": 2, "periodSeconds": 60}})
	for i := range 2 {
		ok(t, "within the rate "+strconv.Itoa(i), srv.apiPost(t, limited.secret, `{ version }`, nil))
	}
	r = srv.apiPost(t, limited.secret, `{ version }`, nil)
	if r.Status != http.StatusTooManyRequests || r.code() != "RATE_LIMITED" || r.Header.Get("Retry-After") == "" ||
		r.Errors[0].Extensions["retryAfter"] == nil {
		t.Fatalf("over the rate: want 429 RATE_LIMITED with Retry-After, got %d %v %s", r.Status, r.Header, r.Raw)
	}
	// The quota: 403 QUOTA_EXCEEDED once spent.
	quota := createSK(t, srv, admin, saID, map[string]any{"q": map[string]any{"limit": 3}})
	for i := range 3 {
		ok(t, "within the quota "+strconv.Itoa(i), srv.apiPost(t, quota.secret, `{ version }`, nil))
	}
	r = srv.apiPost(t, quota.secret, `{ version }`, nil)
	if r.Status != http.StatusForbidden || r.code() != "QUOTA_EXCEEDED" {
		t.Fatalf("quota spent: want 403 QUOTA_EXCEEDED, got %d %s", r.Status, r.Raw)
	}

	// Usage in GraphQL: the quota key made 3 requests and was refused once.
	r = ok(t, "usage", srv.post(t, admin, qListSA, map[string]any{"a": "1"}))
	var found bool
	for _, sa := range r.Data["serviceAccounts"].([]any) {
		for _, kk := range sa.(map[string]any)["keys"].([]any) {
			km := kk.(map[string]any)
			if km["id"] != quota.id {
				continue
			}
			found = true
			hours := km["usage"].([]any)
			var allowed, refused float64
			for _, h := range hours {
				allowed += h.(map[string]any)["allowed"].(float64)
				refused += h.(map[string]any)["refused"].(float64)
			}
			if allowed != 3 || refused != 1 || km["lastUsedAt"] == nil || km["quotaRemaining"] != float64(0) {
				t.Fatalf("usage of the quota key: %v", km)
			}
		}
	}
	if !found {
		t.Fatalf("the quota key is not listed: %s", r.Raw)
	}

	// Reroll with a grace period: both secrets work until its end, then only the new one.
	r = ok(t, "reroll", srv.post(t, admin, qRerollSK, map[string]any{"id": k.id, "g": 1}))
	fresh := r.str(t, "rerollServiceKey.secret")
	ok(t, "the old secret during the grace period", srv.apiPost(t, k.secret, `{ version }`, nil))
	ok(t, "the new secret", srv.apiPost(t, fresh, `{ version }`, nil))
	time.Sleep(1100 * time.Millisecond)
	rf.want401(t, srv, "the old secret after the grace period", k.secret)
	ok(t, "the new secret after the grace period", srv.apiPost(t, fresh, `{ version }`, nil))
	// Without grace the old secret stops at once.
	r = ok(t, "reroll without grace", srv.post(t, admin, qRerollSK, map[string]any{"id": k.id}))
	rf.want401(t, srv, "the secret rerolled without grace", fresh)
	newest := r.str(t, "rerollServiceKey.secret")
	ok(t, "the newest secret", srv.apiPost(t, newest, `{ version }`, nil))

	// The account's audit trail: what was done to its service accounts and keys, and the
	// refusals of keys that exist; never a secret.
	secrets := []string{k.secret, fresh, newest, other.secret, expiring.secret, dk.secret, limited.secret, quota.secret}
	var raw string
	var types []string
	waitFor(t, func() bool {
		raw, types = auditDump(t, srv, admin, []string{"1"}, nil)
		return strings.Contains(strings.Join(types, "\n"), "service_key.rerolled")
	})
	all := strings.Join(types, "\n")
	for _, want := range []string{"service_account.created SUCCESS", "service_key.created SUCCESS", "service_key.deleted SUCCESS",
		"service_key.rerolled SUCCESS", "service_account.disabled SUCCESS", "service_account.enabled SUCCESS",
		"service_account.deleted SUCCESS", "service_key.refused FAILURE"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q event in the trail:\n%s", want, all)
		}
	}
	for _, s := range secrets {
		if strings.Contains(raw, s) {
			t.Errorf("the trail holds a service key's secret")
		}
	}
	if rs != nil {
		assertNoSecretInRedis(t, rs.Client, rs.Prefix, secrets)
	}

	// The metrics count x-api-key outcomes under method api_key.
	resp, err := http.Get(srv.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, outcome := range []string{"ok", "invalid_token", "rate_limited", "quota_exceeded"} {
		if !strings.Contains(string(b), `authgraph_auth_outcomes_total{method="api_key",outcome="`+outcome+`"}`) {
			t.Errorf("no api_key %s in the metrics", outcome)
		}
	}
}

// A key deleted on one replica is refused by another within 100 ms (p99), the bound of a
// session's revocation: both replicas on one Redis, each with its cache.
func TestServiceKeyRevocationReachesAnotherReplica(t *testing.T) {
	env := map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn"}
	a, rs := startRedisServer(t, env)
	envB := map[string]string{"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix, "AUTHGRAPH_REDIS_TIMEOUT": "2s"}
	for k, v := range env {
		envB[k] = v
	}
	b := startServer(t, envB)
	admin := a.login(t, adminName, adminPass)
	saID := createSA(t, a, admin, "1", "replicated", []string{"read"})
	const rounds = 200
	var lat []time.Duration
	for i := range rounds {
		k := createSK(t, a, admin, saID, nil)
		// B verifies the key (and caches it), twice to be sure it is served from the cache.
		for range 2 {
			if r := b.apiPost(t, k.secret, `{ version }`, nil); r.Status != http.StatusOK {
				t.Fatalf("round %d: B refuses a live key: %d %s", i, r.Status, r.Raw)
			}
		}
		if i%2 == 0 {
			ok(t, "delete on A", a.post(t, admin, qDeleteSK, map[string]any{"id": k.id}))
		} else {
			ok(t, "reroll on A", a.post(t, admin, qRerollSK, map[string]any{"id": k.id}))
		}
		start := time.Now()
		for {
			r := b.apiPost(t, k.secret, `{ version }`, nil)
			if r.Status == http.StatusUnauthorized {
				break
			}
			if time.Since(start) > 15*time.Second {
				t.Fatalf("round %d: B still accepts a revoked key after 15 s", i)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("revocation seen by another replica over %d keys: p50 %v, p99 %v, max %v", rounds, p50, p99, lat[len(lat)-1])
	if p99 > 100*time.Millisecond {
		t.Errorf("p99 %v: want at most 100 ms", p99)
	}
}

// deleteServiceKey racing rerolls and the creation of keys of a service account being
// deleted: afterwards no secret of a deleted key (old or rerolled) works.
func TestServiceKeyDeletionRaces(t *testing.T) {
	for _, store := range []string{"redis", "embedded"} {
		t.Run(store, func(t *testing.T) {
			env := map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn"}
			var srv *testServer
			if store == "redis" {
				srv, _ = startRedisServer(t, env)
			} else {
				srv = startServer(t, env)
			}
			admin := srv.login(t, adminName, adminPass)
			var rf refusals
			for round := range 20 {
				saID := createSA(t, srv, admin, "1", fmt.Sprintf("race-%d", round), []string{"read"})
				k := createSK(t, srv, admin, saID, nil)
				var mu sync.Mutex
				secrets := []string{k.secret}
				var wg sync.WaitGroup
				for range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r := srv.post(t, admin, qRerollSK, map[string]any{"id": k.id, "g": 60})
						if r.code() == "" {
							mu.Lock()
							secrets = append(secrets, r.str(t, "rerollServiceKey.secret"))
							mu.Unlock()
						}
					}()
				}
				for range 3 { // keys made while the service account is deleted
					wg.Add(1)
					go func() {
						defer wg.Done()
						r := srv.post(t, admin, qCreateSK, map[string]any{"id": saID, "n": "late"})
						if r.code() == "" {
							mu.Lock()
							secrets = append(secrets, r.str(t, "createServiceKey.secret"))
							mu.Unlock()
						}
					}()
				}
				wg.Add(2)
				go func() {
					defer wg.Done()
					srv.post(t, admin, qDeleteSK, map[string]any{"id": k.id})
				}()
				go func() {
					defer wg.Done()
					time.Sleep(time.Millisecond)
					ok(t, "delete the service account", srv.post(t, admin, qDeleteSA, map[string]any{"id": saID}))
				}()
				wg.Wait()
				for i, s := range secrets {
					rf.want401(t, srv, fmt.Sprintf("round %d: secret %d after the deletion", round, i), s)
				}
			}
		})
	}
}

// A flood of bad keys — malformed, unknown, expired, of a disabled service account — writes
// nothing to Redis: no key name appears and the account's trail does not grow (a refused key
// that exists is recorded once a minute at most, and its first refusal came before).
func TestBadServiceKeysWriteNothing(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn"})
	admin := srv.login(t, adminName, adminPass)
	sa := createSA(t, srv, admin, "1", "flood", []string{"read"})
	expiring := createSK(t, srv, admin, sa, map[string]any{"e": time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)})
	disabledSA := createSA(t, srv, admin, "1", "flood-off", []string{"read"})
	dk := createSK(t, srv, admin, disabledSA, nil)
	ok(t, "disable", srv.post(t, admin, qDisableSA, map[string]any{"id": disabledSA, "d": true}))
	time.Sleep(1100 * time.Millisecond)
	unknown := createSK(t, srv, admin, sa, nil)
	ok(t, "delete", srv.post(t, admin, qDeleteSK, map[string]any{"id": unknown.id}))
	bad := []string{"agm_nope", unknown.secret, expiring.secret, dk.secret, strings.Repeat("x", 200)}
	var rf refusals
	for _, k := range bad { // the first refusals, recorded
		rf.want401(t, srv, "a bad key", k)
	}
	ctx := t.Context()
	stream := rs.Prefix + "{a1}:audit"
	snapshot := func() ([]string, int64) {
		time.Sleep(300 * time.Millisecond) // the trail is written off the request's path
		keys, err := redistest.Keys(ctx, rs.Client, rs.Prefix+"*")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(keys)
		n, _ := rs.Client.XLen(ctx, stream).Result()
		return keys, n
	}
	keysBefore, lenBefore := snapshot()
	if lenBefore == 0 {
		t.Fatal("the account's trail is empty: the refusals of existing keys were not recorded")
	}
	for i := range 200 {
		rf.want401(t, srv, "a flood", bad[i%len(bad)])
	}
	keysAfter, lenAfter := snapshot()
	if !slices.Equal(keysBefore, keysAfter) {
		t.Errorf("the flood wrote key names: before %d, after %d", len(keysBefore), len(keysAfter))
	}
	if lenAfter != lenBefore {
		t.Errorf("the flood grew the account's trail from %d to %d entries", lenBefore, lenAfter)
	}
}

// The CLI's service-keys commands against a real server: an admin lists, makes (with a
// quota), reads the usage of, and deletes a service key; the key works over HTTP in between.
func TestCLIServiceKeys(t *testing.T) {
	srv := startServer(t, map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn"})
	admin := srv.login(t, adminName, adminPass)
	sa := createSA(t, srv, admin, "1", "cli-bot", []string{"read"})
	c := newCLI(t, srv.URL, nil)
	c.ok(adminPass+"\n", "login", "--username", adminName)
	if out := c.ok("", "service-keys", "list"); !strings.Contains(out, "cli-bot") {
		t.Fatalf("list: %s", out)
	}
	var made struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	c.okJSON("", &made, "service-keys", "create", "--service-account", sa, "--name", "ci", "--quota", "10", "--rate", "100/60")
	if !strings.HasPrefix(made.Secret, "agm_") {
		t.Fatalf("create: %+v", made)
	}
	for range 2 {
		ok(t, "the CLI's key", srv.apiPost(t, made.Secret, `{ version }`, nil))
	}
	if out := c.ok("", "service-keys", "list"); !strings.Contains(out, made.ID) || !strings.Contains(out, "8") {
		t.Fatalf("list after use (the quota left, 8): %s", out)
	}
	if out := c.ok("", "service-keys", "usage", made.ID); !strings.Contains(out, "\t2\t0") && !strings.Contains(out, "  2  ") {
		t.Fatalf("usage: %s", out)
	}
	if out := c.ok("", "service-keys", "delete", made.ID); !strings.Contains(out, "Deleted service key") {
		t.Fatalf("delete: %s", out)
	}
	var rf refusals
	rf.want401(t, srv, "the deleted key", made.Secret)
	if code, _, _ := c.run("", "service-keys", "create", "--service-account", sa, "--rate", "oops"); code != 2 {
		t.Fatalf("a malformed --rate: exit %d, want 2", code)
	}
}

// The account page shows an admin their account's service keys with their use, in a real
// Chromium.
func TestAccountPageShowsServiceKeys(t *testing.T) {
	ctx := newBrowser(t)
	srv := startServer(t, map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn"})
	admin := srv.login(t, adminName, adminPass)
	sa := createSA(t, srv, admin, "1", "page-bot", []string{"read"})
	k := createSK(t, srv, admin, sa, map[string]any{"n": "deployer", "q": map[string]any{"limit": 100}})
	for range 3 {
		ok(t, "a request", srv.apiPost(t, k.secret, `{ version }`, nil))
	}
	var text string
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Run(sctx,
		chromedp.Navigate(srv.URL+"/account"),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SendKeys("#username", adminName, chromedp.ByID),
		chromedp.SendKeys("#password", adminPass, chromedp.ByID),
		chromedp.Click("#signin-submit", chromedp.ByID),
		chromedp.WaitVisible("#service-keys-table", chromedp.ByID),
		chromedp.Text("#service-keys-table", &text, chromedp.ByID),
	)
	if err != nil {
		screenshot(t, ctx, "service-keys-failure.png")
		t.Fatal(err)
	}
	for _, want := range []string{"page-bot", "deployer", "read", "97"} {
		if !strings.Contains(text, want) {
			t.Errorf("the service keys table lacks %q: %q", want, text)
		}
	}
	if strings.Contains(text, "agm_") {
		t.Errorf("the page shows a secret: %q", text)
	}
}
