package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

// Refreshable sessions end to end.

const (
	loginRefreshable = `mutation($u: String!, $p: String!, $m: TokenMode) { createSessionUsingUsername(input: {username: $u, password: $p, refreshable: true, mode: $m}) { id token refreshToken refreshTokenExpiresAt expiresAt expiresIn refreshable } }`
	refreshMutation  = `mutation($r: String, $m: TokenMode) { refreshSession(input: {refreshToken: $r, mode: $m}) { id token refreshToken refreshTokenExpiresAt expiresAt expiresIn refreshable } }`
)

// pair is an access token and a refresh token.
type pair struct{ access, refresh string }

// field digs any value out of Data by a dotted path; nil if absent or null.
func (r *gqlResponse) field(path string) any {
	var v any = r.Data
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func (r *gqlResponse) pair(t *testing.T, op string) pair {
	t.Helper()
	if r.Status != http.StatusOK || r.code() != "" {
		t.Fatalf("%s: %d %s", op, r.Status, r.Raw)
	}
	return pair{r.str(t, op+".token"), r.str(t, op+".refreshToken")}
}

func (s *testServer) loginRefreshable(t *testing.T, username, password string) (pair, *gqlResponse) {
	t.Helper()
	r := s.post(t, "", loginRefreshable, map[string]any{"u": username, "p": password})
	return r.pair(t, "createSessionUsingUsername"), r
}

func (s *testServer) refresh(t *testing.T, refreshToken string) *gqlResponse {
	t.Helper()
	return s.post(t, "", refreshMutation, map[string]any{"r": refreshToken})
}

// try is raw without a *testing.T, for goroutines.
func (s *testServer) try(body string, headers ...string) (*gqlResponse, error) {
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	out := &gqlResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(b)}
	_ = json.Unmarshal(b, out)
	return out, err
}

// concurrentRefreshes sends n refreshes with one token at once over HTTP and answers the
// pairs.
func concurrentRefreshes(t *testing.T, srv *testServer, refreshToken string, n int) []pair {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": refreshMutation, "variables": map[string]any{"r": refreshToken}})
	pairs := make([]pair, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := srv.try(string(body))
			if err != nil || r.Status != http.StatusOK || r.code() != "" {
				t.Errorf("refresh %d: %v %+v", i, err, r)
				return
			}
			a, _ := r.field("refreshSession.token").(string)
			f, _ := r.field("refreshSession.refreshToken").(string)
			pairs[i] = pair{a, f}
		})
	}
	close(start)
	wg.Wait()
	return pairs
}

func TestRefreshFlowRedis(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	secrets := runRefreshFlow(t, srv, rs.Client, rs.Prefix)
	assertNoSecretInRedis(t, rs.Client, rs.Prefix, secrets)
	assertNoSecretIn(t, "the server log", srv.logs.String(), secrets)
}

func TestRefreshFlowEmbeddedStore(t *testing.T) {
	srv := startServer(t, nil)
	secrets := runRefreshFlow(t, srv, nil, "")
	assertNoSecretIn(t, "the server log", srv.logs.String(), secrets)
}

// runRefreshFlow: a refreshable sign-in, token kinds kept apart, 50 concurrent refreshes
// getting one pair, the pair working, a user key sign-in, and logout ending the family. With
// rdb, it also checks Redis during the grace window, when the sealed pair is stored. It
// answers every secret it saw.
func runRefreshFlow(t *testing.T, srv *testServer, rdb redis.UniversalClient, prefix string) []string {
	first, r := srv.loginRefreshable(t, adminName, adminPass)
	secrets := []string{adminPass, first.access, first.refresh}
	if n, _ := r.field("createSessionUsingUsername.expiresIn").(float64); n < 890 || n > 900 {
		t.Fatalf("access token expiresIn = %v, want about 900 (15 min): %s", n, r.Raw)
	}
	exp, err := time.Parse(time.RFC3339, r.str(t, "createSessionUsingUsername.refreshTokenExpiresAt"))
	if err != nil || time.Until(exp) < 719*time.Hour || time.Until(exp) > 720*time.Hour {
		t.Fatalf("refreshTokenExpiresAt = %v (%v), want in 30 days", exp, err)
	}
	if r.field("createSessionUsingUsername.refreshable") != true {
		t.Fatalf("refreshable: %s", r.Raw)
	}
	if r := srv.post(t, first.access, `{ me { username sessions { nodes { refreshable current } } } }`, nil); r.str(t, "me.username") != adminName ||
		!strings.Contains(r.Raw, `{"refreshable":true,"current":true}`) {
		t.Fatalf("me with the access token: %s", r.Raw)
	}

	// A refresh token is never an access token, nor the other way round.
	if r := srv.post(t, first.refresh, `{ version }`, nil); r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
		t.Fatalf("a refresh token as an access token: %d %s", r.Status, r.Raw)
	}
	if r := srv.raw(t, "POST", "/graphql", `{"query":"{ version }"}`, "Content-Type", "application/json", "Authorization", "Bearer "+first.refresh); r.Status != http.StatusUnauthorized {
		t.Fatalf("a refresh token as a Bearer token: %d %s", r.Status, r.Raw)
	}
	if r := srv.refresh(t, first.access); r.Status != http.StatusOK || r.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("an access token as a refresh token: %d %s", r.Status, r.Raw)
	}
	if r := srv.refresh(t, "agr_nonsense"); r.Status != http.StatusOK || r.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("a malformed refresh token: %d %s", r.Status, r.Raw)
	}
	if r := srv.post(t, "", `mutation { refreshSession { token } }`, nil); r.code() != "BAD_USER_INPUT" {
		t.Fatalf("refreshSession without a token or cookie: %s", r.Raw)
	}

	// 50 tabs refresh at once: every one gets the same successor pair.
	pairs := concurrentRefreshes(t, srv, first.refresh, 50)
	next := pairs[0]
	for i, p := range pairs {
		if p != next || p.access == "" || p.refresh == "" {
			t.Fatalf("refresh %d answered no pair or another pair than refresh 0", i)
		}
	}
	if next.access == first.access || next.refresh == first.refresh {
		t.Fatal("the refresh answered the old pair")
	}
	secrets = append(secrets, next.access, next.refresh)
	if rdb != nil {
		// The grace window is open: the sealed successor pair is in Redis right now.
		assertGraceKeyStored(t, rdb, prefix)
		assertNoSecretInRedis(t, rdb, prefix, secrets)
	}
	if r := srv.post(t, next.access, `{ me { username } }`, nil); r.str(t, "me.username") != adminName {
		t.Fatalf("the successor access token: %s", r.Raw)
	}
	if r := srv.post(t, first.access, `{ me { username } }`, nil); r.Status != http.StatusOK {
		t.Fatalf("the first access token ends only at its expiry: %d %s", r.Status, r.Raw)
	}
	third := srv.refresh(t, next.refresh).pair(t, "refreshSession")
	secrets = append(secrets, third.access, third.refresh)

	// A user key sign-in can be refreshable too.
	r = srv.post(t, first.access, `mutation { createUserKey { id secret } }`, nil)
	keyID, secret := r.str(t, "createUserKey.id"), r.str(t, "createUserKey.secret")
	secrets = append(secrets, secret)
	r = srv.post(t, "", `mutation($id: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s, refreshable: true}) { token refreshToken refreshable } }`,
		map[string]any{"id": keyID, "s": secret})
	keyPair := r.pair(t, "createSessionUsingUserKey")
	keyNext := srv.refresh(t, keyPair.refresh).pair(t, "refreshSession")
	secrets = append(secrets, keyPair.access, keyPair.refresh, keyNext.access, keyNext.refresh)
	// Deleting the key ends its refreshable sessions, refresh token included.
	if r := srv.post(t, third.access, `mutation($id: ObjectID!) { deleteUserKey(input: {userKeyId: $id}) { userKey { id } } }`, map[string]any{"id": keyID}); r.code() != "" {
		t.Fatalf("deleteUserKey: %s", r.Raw)
	}
	if r := srv.refresh(t, keyNext.refresh); r.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("a refresh token of a deleted key: %s", r.Raw)
	}
	if r := srv.post(t, keyNext.access, `{ version }`, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("an access token of a deleted key: %d %s", r.Status, r.Raw)
	}

	// Logging out ends the family: the refresh token stops working, and older access tokens.
	if r := srv.post(t, third.access, `mutation { deleteSession { token refreshable } }`, nil); r.code() != "" ||
		r.str(t, "deleteSession.token") != third.access {
		t.Fatalf("logout: %s", r.Raw)
	}
	if r := srv.refresh(t, third.refresh); r.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("the refresh token after logout: %s", r.Raw)
	}
	for _, tok := range []string{first.access, next.access, third.access} {
		if r := srv.post(t, tok, `{ version }`, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("an access token of a logged-out family: %d %s", r.Status, r.Raw)
		}
	}
	return secrets
}

// A reuse after the grace window (1 s here) revokes the family, and leaves nothing of it in
// Redis but pointers that expire.
func TestRefreshReuseRevokesFamilyRedis(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_REFRESH_GRACE": "1s"})
	other, _ := srv.loginRefreshable(t, adminName, adminPass) // another sign-in: must survive
	first, _ := srv.loginRefreshable(t, adminName, adminPass)
	next := srv.refresh(t, first.refresh).pair(t, "refreshSession")
	secrets := []string{adminPass, other.access, other.refresh, first.access, first.refresh, next.access, next.refresh}
	fid := familyOf(t, rs.Client, rs.Prefix, next.refresh)

	// Presenting the rotated token again: inside the window it answers the same pair; poll
	// (bounded) until the window has closed and it is taken for what it then is, a reuse.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := srv.refresh(t, first.refresh)
		if r.code() == "REFRESH_TOKEN_REUSED" {
			if r.Status != http.StatusOK || r.field("refreshSession") != nil {
				t.Fatalf("reuse: %d %s", r.Status, r.Raw)
			}
			break
		}
		if p := r.pair(t, "refreshSession"); p != next {
			t.Fatal("a replay inside the grace window answered another pair")
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotated token still answered a pair 10 s after a 1 s grace window")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The whole family is dead: its successor refresh token and every access token.
	if r := srv.refresh(t, next.refresh); r.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("the successor refresh token after a reuse: %s", r.Raw)
	}
	for _, tok := range []string{first.access, next.access} {
		if r := srv.post(t, tok, `{ version }`, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("an access token of the revoked family: %d %s", r.Status, r.Raw)
		}
	}
	if !strings.Contains(srv.logs.String(), "refresh_token_reuse") {
		t.Error("the reuse is not in the log")
	}
	// The other sign-in of the same user is untouched.
	if r := srv.post(t, other.access, `{ version }`, nil); r.Status != http.StatusOK {
		t.Fatalf("another sign-in's access token: %d %s", r.Status, r.Raw)
	}
	srv.refresh(t, other.refresh).pair(t, "refreshSession")

	assertFamilyGone(t, rs.Client, rs.Prefix, fid, []string{first.access, next.access})
	assertNoSecretInRedis(t, rs.Client, rs.Prefix, secrets)
	assertNoSecretIn(t, "the server log", srv.logs.String(), secrets)
}

// familyOf reads the family id that Redis records for a refresh token.
func familyOf(t *testing.T, rdb redis.UniversalClient, prefix, refreshToken string) string {
	t.Helper()
	d := token.Sum(refreshToken)
	v, err := rdb.Get(context.Background(), prefix+"r:"+string(d[:])).Result()
	if err != nil {
		t.Fatalf("no pointer for the refresh token: %v", err)
	}
	fid, _, _ := strings.Cut(v, ":")
	return fid
}

func assertGraceKeyStored(t *testing.T, rdb redis.UniversalClient, prefix string) {
	t.Helper()
	keys, err := redistest.Keys(context.Background(), rdb, prefix+"{f*}:g:*") // every master of a cluster
	if err != nil || len(keys) == 0 {
		t.Fatalf("no grace key in Redis during the window (%v): the secret scan would prove nothing", err)
	}
}

// assertFamilyGone scans every key: the family's hash and access sessions are gone, and
// every key left without a TTL is one of the records that are meant to last (counters,
// users, usernames, user keys and their index).
func assertFamilyGone(t *testing.T, rdb redis.UniversalClient, prefix, fid string, accessTokens []string) {
	t.Helper()
	ctx := context.Background()
	gone := map[string]bool{"{f" + fid + "}": true}
	for _, a := range accessTokens {
		d := token.Sum(a)
		gone["t:"+string(d[:])] = true
	}
	all, err := redistest.Keys(ctx, rdb, prefix+"*") // every master of a cluster
	if err != nil {
		t.Fatal(err)
	}
	for _, full := range all {
		key := strings.TrimPrefix(full, prefix)
		if gone[key] {
			t.Errorf("key %q of the revoked family is left", key)
		}
		ttl, err := rdb.PTTL(ctx, full).Result()
		if err != nil {
			t.Fatal(err)
		}
		// Users, accounts, keys and their indexes (the users index too) live until deleted;
		// everything a sign-in makes must expire by itself.
		permanent := strings.HasPrefix(key, "seq:") || strings.HasPrefix(key, "u:") || strings.HasPrefix(key, "un:") || key == "users" ||
			strings.HasPrefix(key, "a:") || strings.HasPrefix(key, "as:") ||
			strings.HasPrefix(key, "k:") || (strings.HasPrefix(key, "{u") && strings.HasSuffix(key, "}:k")) ||
			// The mail queue: its stream, retry set and dead letters last until drained
			// or trimmed (its sent markers expire).
			key == "{mail}:q" || key == "{mail}:retry" || key == "{mail}:dead" ||
			// The audit trail's streams are trimmed by age as they are written; the webhook
			// queue and endpoints live until deleted.
			strings.HasSuffix(key, "}:audit") || strings.HasPrefix(key, "{wh}:")
		if ttl < 0 && !permanent {
			t.Errorf("key %q has no TTL", key)
		}
		if strings.HasPrefix(key, "{f"+fid+"}") && ttl > 2*time.Second {
			t.Errorf("key %q of the revoked family outlives the grace window: TTL %v", key, ttl)
		}
	}
}

// Concurrent refreshes with one token reach two servers sharing one Redis, as replicas behind
// a load balancer would: the rotation is atomic in Redis, not in a process, so all 50 still
// get one pair.
func TestConcurrentRefreshAcrossReplicasRedis(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	replica := startServer(t, map[string]string{"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix})
	first, _ := srv.loginRefreshable(t, adminName, adminPass)
	var a, b []pair
	var wg sync.WaitGroup
	wg.Go(func() { a = concurrentRefreshes(t, srv, first.refresh, 25) })
	wg.Go(func() { b = concurrentRefreshes(t, replica, first.refresh, 25) })
	wg.Wait()
	for i, p := range append(a, b...) {
		if p != a[0] {
			t.Fatalf("refresh %d (of 25 per replica) answered no pair or another pair than the first", i)
		}
	}
}
