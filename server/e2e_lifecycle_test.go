package main

// End-to-end tests of the lifecycle of sessions, keys and users (scopes, rerolls,
// changePassword, disabled and deleted users), over real HTTP against a real redis-server.

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

// ok fails t unless r is a 200 answer without errors.
func ok(t *testing.T, what string, r *gqlResponse) *gqlResponse {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) != 0 {
		t.Fatalf("%s: %d %s", what, r.Status, r.Raw)
	}
	return r
}

// wantGQLCode fails t unless r answers HTTP 200 with the error code.
func wantGQLCode(t *testing.T, what string, r *gqlResponse, code string) {
	t.Helper()
	if r.Status != http.StatusOK || r.code() != code {
		t.Fatalf("%s: want %s, got %d %s", what, code, r.Status, r.Raw)
	}
}

// want401 fails t unless tok is refused with HTTP 401.
func want401(t *testing.T, srv *testServer, what, tok string) {
	t.Helper()
	if r := srv.post(t, tok, `{ version }`, nil); r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
		t.Fatalf("%s: want 401, got %d %s", what, r.Status, r.Raw)
	}
}

func wantWorks(t *testing.T, srv *testServer, what, tok string) {
	t.Helper()
	ok(t, what, srv.post(t, tok, `{ version }`, nil))
}

const (
	qCreateKey    = `mutation($s: [String!]) { createUserKey(input: {scopes: $s}) { id rawID secret scopes } }`
	qKeyLogin     = `mutation($id: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s}) { token method scopes } }`
	qReroll       = `mutation($id: ObjectID!, $g: Int) { rerollUserKey(input: {userKeyId: $id, graceSeconds: $g}) { id secret previousSecretExpiresAt } }`
	qDeleteKey    = `mutation($id: ObjectID!) { deleteUserKey(input: {userKeyId: $id}) { userKey { id } } }`
	qChangePass   = `mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) { username } }`
	qEndSession   = `mutation($id: ObjectID!) { deleteSession(input: {sessionId: $id}) { id } }`
	qEndSessions  = `mutation($s: DeleteSessionsScope!) { deleteSessions(input: {scope: $s}) }`
	qMySessionIDs = `{ me { rawID sessions { nodes { id current method scopes lastUsedAt authenticatedAt } } } }`
)

type userKey struct{ id, rawID, secret string }

func (s *testServer) createKey(t *testing.T, tok string, scopes []string) userKey {
	t.Helper()
	var vars map[string]any
	if scopes != nil {
		vars = map[string]any{"s": scopes}
	}
	r := ok(t, "createUserKey", s.post(t, tok, qCreateKey, vars))
	return userKey{r.str(t, "createUserKey.id"), r.str(t, "createUserKey.rawID"), r.str(t, "createUserKey.secret")}
}

func (s *testServer) keyLogin(t *testing.T, id, secret string) string {
	t.Helper()
	r := ok(t, "createSessionUsingUserKey", s.post(t, "", qKeyLogin, map[string]any{"id": id, "s": secret}))
	return r.str(t, "createSessionUsingUserKey.token")
}

// currentSessionID answers the id of the session tok belongs to.
func (s *testServer) currentSessionID(t *testing.T, tok string) string {
	t.Helper()
	r := ok(t, "me.sessions", s.post(t, tok, qMySessionIDs, nil))
	for _, n := range r.Data["me"].(map[string]any)["sessions"].(map[string]any)["nodes"].([]any) {
		if node := n.(map[string]any); node["current"] == true {
			return node["id"].(string)
		}
	}
	t.Fatalf("no current session in %s", r.Raw)
	return ""
}

func (s *testServer) rawUserID(t *testing.T, tok string) string {
	t.Helper()
	return ok(t, "me.rawID", s.post(t, tok, `{ me { rawID } }`, nil)).str(t, "me.rawID")
}

// A session made from a key holds the key's scopes and nothing more; the schema's
// directives refuse what they lack with FORBIDDEN.
func TestKeyScopedSessionCannotCallWhatItsScopesLack(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "alice", "alice-password")
	alice := srv.login(t, "alice", "alice-password")

	readKey := srv.createKey(t, alice, []string{"read"})
	reader := srv.keyLogin(t, readKey.id, readKey.secret)
	r := ok(t, "me with read", srv.post(t, reader, `{ me { username sessions { nodes { current method scopes } } } }`, nil))
	if !strings.Contains(r.Raw, `{"current":true,"method":"USER_KEY","scopes":["read"]}`) {
		t.Fatalf("the key session does not show its scopes: %s", r.Raw)
	}
	aliceSession := srv.currentSessionID(t, alice)
	for _, tt := range []struct {
		name, query string
		vars        map[string]any
	}{
		{"createUserKey", `mutation { createUserKey { id } }`, nil},
		{"deleteUserKey", qDeleteKey, map[string]any{"id": readKey.id}},
		{"rerollUserKey", qReroll, map[string]any{"id": readKey.id}},
		{"deleteSessions", qEndSessions, map[string]any{"s": "OTHERS"}},
		{"deleteSession of another", qEndSession, map[string]any{"id": aliceSession}},
		{"changePassword", qChangePass, map[string]any{"c": "alice-password", "n": "a-brand-new-password"}},
		{"createUser", `mutation { createUser(input: {username: "x", password: "a-long-password"}) { id } }`, nil},
		{"enableTotp", `mutation { enableTotp(input: {password: "alice-password"}) { secret } }`, nil},
	} {
		wantGQLCode(t, tt.name+" from a read-only key session", srv.post(t, reader, tt.query, tt.vars), "FORBIDDEN")
	}
	wantWorks(t, srv, "alice's password session", alice)

	// A key with keys:write only: may make keys (no wider than itself), may not read.
	writeKey := srv.createKey(t, alice, []string{"keys:write"})
	writer := srv.keyLogin(t, writeKey.id, writeKey.secret)
	wantGQLCode(t, "me without read", srv.post(t, writer, `{ me { id } }`, nil), "FORBIDDEN")
	wantGQLCode(t, "a key wider than the session", srv.post(t, writer, qCreateKey, map[string]any{"s": []string{"read"}}), "FORBIDDEN")
	r = ok(t, "a key inheriting the session's scopes", srv.post(t, writer, qCreateKey, nil))
	if !strings.Contains(r.Raw, `"scopes":["keys:write"]`) {
		t.Fatalf("a key made by a keys:write session: %s", r.Raw)
	}

	// Logging out needs no scope.
	ok(t, "logout from a read-only key session", srv.post(t, reader, `mutation { deleteSession { id } }`, nil))
	want401(t, srv, "after logout", reader)

	// Scopes that cannot be given.
	for _, scopes := range [][]string{{}, {"write"}, {"account:write"}, {"admin"}} {
		wantGQLCode(t, fmt.Sprintf("createUserKey with scopes %q", scopes), srv.post(t, alice, qCreateKey, map[string]any{"s": scopes}), "BAD_USER_INPUT")
	}
	// A key made without scopes has the user's full rights as a key.
	r = ok(t, "a full key", srv.post(t, alice, qCreateKey, nil))
	if !strings.Contains(r.Raw, `"scopes":["read","keys:write","sessions:write"]`) {
		t.Fatalf("a member's full key: %s", r.Raw)
	}
}

func TestDeleteUserKeyEndsItsSessions(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	k := srv.createKey(t, admin, nil)
	s1, s2 := srv.keyLogin(t, k.id, k.secret), srv.keyLogin(t, k.id, k.secret)
	other := srv.createKey(t, admin, nil)
	kept := srv.keyLogin(t, other.id, other.secret)
	wantWorks(t, srv, "a key session", s1)
	ok(t, "deleteUserKey", srv.post(t, admin, qDeleteKey, map[string]any{"id": k.id}))
	want401(t, srv, "a session of the deleted key", s1)
	want401(t, srv, "another session of the deleted key", s2)
	wantWorks(t, srv, "a session of another key", kept)
	wantWorks(t, srv, "the password session", admin)
	r := srv.post(t, "", qKeyLogin, map[string]any{"id": k.id, "s": k.secret})
	wantGQLCode(t, "a deleted key's secret", r, "INVALID_CREDENTIALS")
}

func TestChangePasswordEndsOtherSessions(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "alice", "alice-password")
	current := srv.login(t, "alice", "alice-password")
	other := srv.login(t, "alice", "alice-password")
	otherRefreshable, _ := srv.loginRefreshable(t, "alice", "alice-password")
	k := srv.createKey(t, current, nil)
	keySession := srv.keyLogin(t, k.id, k.secret)

	for _, tt := range []struct{ cur, next, code string }{
		{"wrong-password", "a-brand-new-password", "INVALID_CREDENTIALS"},
		{"alice-password", "too-short", "BAD_USER_INPUT"},
		{"alice-password", "password1234", "BAD_USER_INPUT"},
		{"alice-password", "alice", "BAD_USER_INPUT"},
	} {
		wantGQLCode(t, "changePassword to "+tt.next, srv.post(t, current, qChangePass, map[string]any{"c": tt.cur, "n": tt.next}), tt.code)
	}
	wantWorks(t, srv, "another session after failed changes", other)

	ok(t, "changePassword", srv.post(t, current, qChangePass, map[string]any{"c": "alice-password", "n": "a-brand-new-password"}))
	want401(t, srv, "another password session", other)
	want401(t, srv, "a key session", keySession)
	want401(t, srv, "another sign-in's access token", otherRefreshable.access)
	wantGQLCode(t, "another sign-in's refresh token", srv.refresh(t, otherRefreshable.refresh), "INVALID_CREDENTIALS")
	r := ok(t, "the current session", srv.post(t, current, `{ me { username } }`, nil))
	if r.str(t, "me.username") != "alice" {
		t.Fatal(r.Raw)
	}
	wantWorks(t, srv, "the admin's session", admin)
	wantGQLCode(t, "the old password", srv.post(t, "", `mutation { createSessionUsingUsername(input: {username: "alice", password: "alice-password"}) { token } }`, nil), "INVALID_CREDENTIALS")
	srv.login(t, "alice", "a-brand-new-password")
	// The key is a separate credential: it still makes sessions.
	wantWorks(t, srv, "a new session of the key", srv.keyLogin(t, k.id, k.secret))
}

func TestChangePasswordNeedsARecentSignIn(t *testing.T) {
	// The window is wide enough for a fresh sign-in and a change to fit in it on two busy
	// cores under -race; the domain's own tests drive the window with a fake clock.
	const window = 4 * time.Second
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_REAUTH_WINDOW": window.String()})
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "alice", "alice-password")
	alice := srv.login(t, "alice", "alice-password")
	time.Sleep(window + 100*time.Millisecond)
	r := srv.post(t, alice, qChangePass, map[string]any{"c": "alice-password", "n": "a-brand-new-password"})
	wantGQLCode(t, "changePassword with a session signed in before the window", r, "REAUTHENTICATION_REQUIRED")
	fresh := srv.login(t, "alice", "alice-password")
	ok(t, "changePassword after signing in again", srv.post(t, fresh, qChangePass, map[string]any{"c": "alice-password", "n": "a-brand-new-password"}))
	want401(t, srv, "the stale session, ended by the change", alice)
}

func TestDisabledUsersTokenGets401(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	aliceID := srv.createUser(t, admin, "alice", "alice-password")
	alice := srv.login(t, "alice", "alice-password")
	k := srv.createKey(t, alice, nil)
	keySession := srv.keyLogin(t, k.id, k.secret)

	wantGQLCode(t, "a member disabling", srv.post(t, alice, `mutation($id: ObjectID!) { disableUser(input: {userId: $id}) { id } }`, map[string]any{"id": aliceID}), "FORBIDDEN")
	r := ok(t, "disableUser", srv.post(t, admin, `mutation($id: ObjectID!) { disableUser(input: {userId: $id}) { username disabled } }`, map[string]any{"id": aliceID}))
	if !strings.Contains(r.Raw, `"disabled":true`) {
		t.Fatal(r.Raw)
	}
	want401(t, srv, "a disabled user's password session", alice)
	want401(t, srv, "a disabled user's key session", keySession)
	wantGQLCode(t, "a disabled user's password", srv.post(t, "", `mutation { createSessionUsingUsername(input: {username: "alice", password: "alice-password"}) { token } }`, nil), "INVALID_CREDENTIALS")
	wantGQLCode(t, "a disabled user's key", srv.post(t, "", qKeyLogin, map[string]any{"id": k.id, "s": k.secret}), "INVALID_CREDENTIALS")
	r = ok(t, "users lists the disabled", srv.post(t, admin, `{ users { nodes { username disabled } } }`, nil))
	if !strings.Contains(r.Raw, `{"username":"alice","disabled":true}`) {
		t.Fatal(r.Raw)
	}
	adminID := srv.rawUserID(t, admin)
	wantGQLCode(t, "an admin disabling themselves", srv.post(t, admin, `mutation($id: ObjectID!) { disableUser(input: {userId: $id}) { id } }`, map[string]any{"id": adminID}), "BAD_USER_INPUT")

	ok(t, "enableUser", srv.post(t, admin, `mutation($id: ObjectID!) { enableUser(input: {userId: $id}) { id } }`, map[string]any{"id": aliceID}))
	wantWorks(t, srv, "a new session once enabled", srv.login(t, "alice", "alice-password"))
	want401(t, srv, "a session ended by disabling, after enabling", alice)
}

// User B can neither list, end nor reroll user A's sessions or keys: each answer is
// NOT_FOUND, never FORBIDDEN, and A's things are untouched.
func TestOtherUsersSessionsAndKeysAreNotFound(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	aID := srv.createUser(t, admin, "alice", "alice-password")
	srv.createUser(t, admin, "bob", "bob-password-123")
	alice, bob := srv.login(t, "alice", "alice-password"), srv.login(t, "bob", "bob-password-123")
	aKey := srv.createKey(t, alice, nil)
	aKeySession := srv.keyLogin(t, aKey.id, aKey.secret)
	aSession := srv.currentSessionID(t, alice)

	for _, tt := range []struct {
		name, query string
		vars        map[string]any
	}{
		{"list alice's sessions", `query($id: ObjectID!) { user(id: $id) { sessions { nodes { id } } } }`, map[string]any{"id": aID}},
		{"list alice's keys", `query($id: ObjectID!) { user(id: $id) { userKeys { nodes { id } } } }`, map[string]any{"id": aID}},
		{"end alice's session", qEndSession, map[string]any{"id": aSession}},
		{"reroll alice's key", qReroll, map[string]any{"id": aKey.id, "g": 0}},
		{"delete alice's key", qDeleteKey, map[string]any{"id": aKey.id}},
		{"read an unknown user", `query { user(id: 4242) { id } }`, nil},
	} {
		wantGQLCode(t, "bob tries to "+tt.name, srv.post(t, bob, tt.query, tt.vars), "NOT_FOUND")
	}
	r := ok(t, "bob's own lists", srv.post(t, bob, `{ me { userKeys { totalCount } sessions { totalCount } } }`, nil))
	if !strings.Contains(r.Raw, `"userKeys":{"totalCount":0},"sessions":{"totalCount":1}`) {
		t.Fatalf("bob sees more than his own: %s", r.Raw)
	}
	wantWorks(t, srv, "alice's session", alice)
	wantWorks(t, srv, "alice's key session", aKeySession)
	wantWorks(t, srv, "alice's key", srv.keyLogin(t, aKey.id, aKey.secret))
	// An admin can read alice's sessions (never her tokens).
	r = ok(t, "an admin reads alice", srv.post(t, admin, `query($id: ObjectID!) { user(id: $id) { username sessions { totalCount nodes { token } } } }`, map[string]any{"id": aID}))
	if !strings.Contains(r.Raw, `"username":"alice"`) || strings.Contains(r.Raw, "ags_") {
		t.Fatalf("admin's view of alice: %s", r.Raw)
	}
}

// Deleting a user leaves nothing of theirs in Redis: a SCAN of the whole keyspace finds
// neither their records nor their index entries, username, keys, session digests, refresh
// token families and pointers, or second factor. Two
// admins racing to delete them: one succeeds, the other gets NOT_FOUND.
func TestDeleteUserLeavesNoKeyOfTheirsInRedis(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	admin2 := srv.login(t, adminName, adminPass)
	aliceID := srv.createUser(t, admin, "alice", "alice-password")
	srv.createUser(t, admin, "bob", "bob-password-123")
	alice := srv.login(t, "alice", "alice-password")
	aliceRaw := srv.rawUserID(t, alice)
	bob := srv.login(t, "bob", "bob-password-123")
	bobKey := srv.createKey(t, bob, nil)

	tokens := []string{alice, srv.login(t, "alice", "alice-password")}
	// A refreshable sign-in, refreshed once: its family and every refresh token pointer must go.
	first, _ := srv.loginRefreshable(t, "alice", "alice-password")
	fid := familyOf(t, rs.Client, rs.Prefix, first.refresh)
	second := srv.refresh(t, first.refresh).pair(t, "refreshSession")
	tokens = append(tokens, first.access, second.access)
	refreshTokens := []string{first.refresh, second.refresh}
	// TOTP on: its secret and recovery codes must go.
	secret := ok(t, "enableTotp", srv.post(t, alice, `mutation { enableTotp(input: {password: "alice-password"}) { secret } }`, nil)).str(t, "enableTotp.secret")
	ok(t, "confirmTotp", srv.post(t, alice, `mutation($c: String!) { confirmTotp(input: {code: $c}) { recoveryCodes } }`,
		map[string]any{"c": totpCode(t, secret, time.Now())}))
	if n := rs.Client.Exists(context.Background(), rs.Prefix+"{u"+aliceRaw+"}:totp").Val(); n != 1 {
		t.Fatal("TOTP is not where the scan will look for it")
	}
	var keyIDs []string
	for i := range 3 {
		k := srv.createKey(t, alice, nil)
		keyIDs = append(keyIDs, k.rawID)
		tokens = append(tokens, srv.keyLogin(t, k.id, k.secret))
		if i == 0 {
			ok(t, "reroll", srv.post(t, alice, qReroll, map[string]any{"id": k.id, "g": 3600}))
		}
	}

	var wg sync.WaitGroup
	results := make([]*gqlResponse, 2)
	for i, tok := range []string{admin, admin2} {
		wg.Go(func() {
			results[i] = srv.post(t, tok, `mutation($id: ObjectID!) { deleteUser(input: {userId: $id}) { user { username } } }`, map[string]any{"id": aliceID})
		})
	}
	wg.Wait()
	codes := []string{results[0].code(), results[1].code()}
	slices.Sort(codes)
	if !slices.Equal(codes, []string{"", "NOT_FOUND"}) {
		t.Fatalf("two admins deleting alice: %s / %s", results[0].Raw, results[1].Raw)
	}
	for _, tok := range tokens {
		want401(t, srv, "a deleted user's session", tok)
	}
	wantGQLCode(t, "a deleted user's refresh token", srv.refresh(t, second.refresh), "INVALID_CREDENTIALS")

	ctx := context.Background()
	forbidden := []string{
		rs.Prefix + "u:" + aliceRaw, rs.Prefix + "{u" + aliceRaw + "}", rs.Prefix + "un:alice",
		rs.Prefix + "{f" + fid + "}",
	}
	for _, r := range refreshTokens {
		d := token.Sum(r)
		forbidden = append(forbidden, rs.Prefix+"r:"+string(d[:]))
	}
	for _, id := range keyIDs {
		forbidden = append(forbidden, rs.Prefix+"k:"+id)
	}
	for _, tok := range tokens {
		d := token.Sum(tok)
		forbidden = append(forbidden, rs.Prefix+"t:"+string(d[:]))
	}
	seen, keys := map[string]bool{}, 0
	all, err := redistest.Keys(ctx, rs.Client, rs.Prefix+"*") // every master of a cluster
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range all {
		keys++
		seen[k] = true
		for _, f := range forbidden {
			// The user's audit trail is the one record kept: the account's history of what
			// was done, trimmed by age like every trail (docs/operations.md: Audit trail).
			if strings.HasSuffix(k, "}:audit") {
				continue
			}
			if k == f || (strings.HasSuffix(f, "}") && strings.HasPrefix(k, f)) {
				t.Errorf("the deleted user's key %q is still in Redis", k)
			}
		}
		if typ := rs.Client.Type(ctx, k).Val(); typ == "string" && strings.Contains(rs.Client.Get(ctx, k).Val(), `"n":"alice"`) {
			t.Errorf("%q still holds alice's record", k)
		}
	}
	if members := rs.Client.ZRange(ctx, rs.Prefix+"users", 0, -1).Val(); slices.Contains(members, aliceRaw) {
		t.Errorf("the users index still lists alice: %v", members)
	}
	// The scan proves something only if it sees what is left: bob's records.
	if !seen[rs.Prefix+"k:"+bobKey.rawID] || !seen[rs.Prefix+"un:bob"] || keys < 8 {
		t.Fatalf("the scan saw %d keys and not bob's: it proves nothing", keys)
	}
	wantWorks(t, srv, "bob's session", bob)
	wantGQLCode(t, "alice's password", srv.post(t, "", `mutation { createSessionUsingUsername(input: {username: "alice", password: "alice-password"}) { token } }`, nil), "INVALID_CREDENTIALS")
}

func TestRerollUserKeyGracePeriod(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	k := srv.createKey(t, admin, []string{"read"})
	before := srv.keyLogin(t, k.id, k.secret)

	r := ok(t, "reroll with grace", srv.post(t, admin, qReroll, map[string]any{"id": k.id, "g": 3600}))
	second := r.str(t, "rerollUserKey.secret")
	if second == k.secret || !strings.HasPrefix(second, "agk_") || r.str(t, "rerollUserKey.previousSecretExpiresAt") == "" {
		t.Fatalf("reroll: %s", r.Raw)
	}
	srv.keyLogin(t, k.id, second)
	srv.keyLogin(t, k.id, k.secret) // the old secret, within its grace period
	wantWorks(t, srv, "a session made before the reroll", before)

	r = ok(t, "reroll without grace", srv.post(t, admin, qReroll, map[string]any{"id": k.id}))
	third := r.str(t, "rerollUserKey.secret")
	for _, old := range []string{k.secret, second} {
		wantGQLCode(t, "a replaced secret", srv.post(t, "", qKeyLogin, map[string]any{"id": k.id, "s": old}), "INVALID_CREDENTIALS")
	}
	srv.keyLogin(t, k.id, third)
	wantGQLCode(t, "a grace over a week", srv.post(t, admin, qReroll, map[string]any{"id": k.id, "g": 604801}), "BAD_USER_INPUT")
	r = ok(t, "the key's listing", srv.post(t, admin, `{ me { userKeys { nodes { lastUsedAt scopes secret } } } }`, nil))
	if !strings.Contains(r.Raw, `"scopes":["read"],"secret":null`) || strings.Contains(r.Raw, `"lastUsedAt":null`) {
		t.Fatalf("the rerolled key's listing: %s", r.Raw)
	}
}

func TestDeleteSessionsAndAdminOperations(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		srv.createUser(t, admin, name, name+"-password-x")
	}
	alice := srv.login(t, "alice", "alice-password-x")
	others := []string{srv.login(t, "alice", "alice-password-x"), srv.login(t, "alice", "alice-password-x")}

	r := ok(t, "deleteSessions(OTHERS)", srv.post(t, alice, qEndSessions, map[string]any{"s": "OTHERS"}))
	if n, _ := r.Data["deleteSessions"].(float64); n != 2 {
		t.Fatalf("deleteSessions(OTHERS) answered %s, want 2", r.Raw)
	}
	for _, tok := range others {
		want401(t, srv, "another session after deleteSessions(OTHERS)", tok)
	}
	r = ok(t, "the current session's view", srv.post(t, alice, qMySessionIDs, nil))
	if !strings.Contains(r.Raw, `"current":true,"method":"PASSWORD","scopes":null,"lastUsedAt":"`) {
		t.Fatalf("me.sessions: %s", r.Raw)
	}
	r = ok(t, "deleteSessions(ALL)", srv.post(t, alice, qEndSessions, map[string]any{"s": "ALL"}))
	if n, _ := r.Data["deleteSessions"].(float64); n != 1 {
		t.Fatalf("deleteSessions(ALL) answered %s, want 1", r.Raw)
	}
	want401(t, srv, "the current session after deleteSessions(ALL)", alice)

	// An admin ends all of a user's sessions.
	bob1, bob2 := srv.login(t, "bob", "bob-password-x"), srv.login(t, "bob", "bob-password-x")
	bobID := srv.rawUserID(t, bob1)
	r = ok(t, "deleteUserSessions", srv.post(t, admin, `mutation($id: ObjectID!) { deleteUserSessions(input: {userId: $id}) }`, map[string]any{"id": bobID}))
	if n, _ := r.Data["deleteUserSessions"].(float64); n != 2 {
		t.Fatalf("deleteUserSessions answered %s, want 2", r.Raw)
	}
	want401(t, srv, "bob after deleteUserSessions", bob1)
	want401(t, srv, "bob after deleteUserSessions", bob2)
	wantWorks(t, srv, "the admin", admin)

	// Users, page by page.
	var names []string
	var after any
	for page := 0; ; page++ {
		r = ok(t, "users", srv.post(t, admin, `query($a: String) { users(first: 2, after: $a) { totalCount nodes { username } pageInfo { hasNextPage endCursor } } }`, map[string]any{"a": after}))
		users := r.Data["users"].(map[string]any)
		if users["totalCount"].(float64) != 5 {
			t.Fatalf("totalCount: %s", r.Raw)
		}
		for _, n := range users["nodes"].([]any) {
			names = append(names, n.(map[string]any)["username"].(string))
		}
		info := users["pageInfo"].(map[string]any)
		if info["hasNextPage"] != true {
			break
		}
		if page > 5 {
			t.Fatalf("users does not end: %v", names)
		}
		after = info["endCursor"]
	}
	if strings.Join(names, ",") != "admin,alice,bob,carol,dave" {
		t.Fatalf("users, page by page: %v", names)
	}
	r = ok(t, "users from the end", srv.post(t, admin, `{ users(last: 2) { nodes { username } pageInfo { hasPreviousPage hasNextPage } } }`, nil))
	if !strings.Contains(r.Raw, `"nodes":[{"username":"carol"},{"username":"dave"}],"pageInfo":{"hasPreviousPage":true,"hasNextPage":false}`) {
		t.Fatalf("users(last: 2): %s", r.Raw)
	}
	carol := srv.login(t, "carol", "carol-password-x")
	for _, q := range []string{`{ users { totalCount } }`, `mutation { deleteUserSessions(input: {userId: 1}) }`, `mutation { deleteUser(input: {userId: 1}) { user { id } } }`, `mutation { enableUser(input: {userId: 1}) { id } }`} {
		wantGQLCode(t, "a member: "+q, srv.post(t, carol, q, nil), "FORBIDDEN")
	}
	// An admin's key without the admin scope is no admin.
	k := srv.createKey(t, admin, []string{"read"})
	wantGQLCode(t, "an admin's read-only key", srv.post(t, srv.keyLogin(t, k.id, k.secret), `{ users { totalCount } }`, nil), "FORBIDDEN")
	wantGQLCode(t, "users(first: 0)", srv.post(t, admin, `{ users(first: 0) { totalCount } }`, nil), "BAD_USER_INPUT")
	wantGQLCode(t, "users(after: junk)", srv.post(t, admin, `{ users(after: "zz") { totalCount } }`, nil), "BAD_USER_INPUT")
}

// commandStats answers redis-server's call count per command (INFO commandstats).
func commandStats(t *testing.T, rs *redistest.Server) map[string]int {
	t.Helper()
	info, err := rs.Client.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		name, rest, found := strings.Cut(strings.TrimPrefix(sc.Text(), "cmdstat_"), ":calls=")
		if !found {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, err := strconv.Atoi(calls)
		if err != nil {
			t.Fatalf("commandstats line %q", sc.Text())
		}
		out[name] = n
	}
	return out
}

// The cost of an authenticated request in Redis commands, measured from INFO commandstats
// around N requests: none once the session cache holds the session, and without the cache
// two GETs (the session, the user). Neither writes, since lastUsedAt is written at most once
// a minute per session. The README quotes these figures.
func TestAuthenticatedRequestCost(t *testing.T) {
	for _, tt := range []struct {
		name   string
		env    map[string]string
		perReq int // GETs per request
	}{
		{"session cache on (the default)", nil, 0},
		{"session cache off", map[string]string{"AUTHGRAPH_SESSION_CACHE_TTL": "0"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, rs := startRedisServer(t, tt.env)
			if rs.External {
				t.Skip("counting commands needs a private redis-server, not " + redistest.EnvURL)
			}
			if tt.perReq == 0 {
				waitCacheLive(t, srv)
			}
			tok := srv.login(t, adminName, adminPass)
			ok(t, "warm-up", srv.post(t, tok, `{ me { id } }`, nil))
			// Connection set-up and the measurement itself are not the request's cost.
			ignore := map[string]bool{"info": true, "hello": true, "client|setinfo": true, "client": true, "ping": true, "select": true}
			for _, query := range []string{`{ version }`, `{ me { id username role } }`} {
				before := commandStats(t, rs)
				const n = 200
				for range n {
					ok(t, query, srv.post(t, tok, query, nil))
				}
				after := commandStats(t, rs)
				total, per := 0, map[string]int{}
				for name, calls := range after {
					if d := calls - before[name]; d > 0 && !ignore[name] {
						per[name] = d
					}
				}
				// The mail worker polls its queue about once a second whatever the requests:
				// one XREADGROUP, XAUTOCLAIM, ZRANGEBYSCORE and retry-promoting EVALSHA each
				// time. That background is not the requests' cost; a request-path EVALSHA
				// would show as many more than one per poll.
				polls := per["xreadgroup"]
				for _, name := range []string{"xreadgroup", "xautoclaim", "zrangebyscore"} {
					delete(per, name)
				}
				if per["evalsha"] <= polls+1 {
					delete(per, "evalsha")
				}
				for _, d := range per {
					total += d
				}
				t.Logf("%s: %d Redis commands for %d authenticated requests (%.2f each): %v", query, total, n, float64(total)/n, per)
				if total != tt.perReq*n || per["get"] != tt.perReq*n {
					t.Errorf("%s: %d commands for %d requests (%v), want exactly %d GETs each", query, total, n, per, tt.perReq)
				}
			}
		})
	}
}
