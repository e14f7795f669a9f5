package main

// End-to-end tests of the rule that a session can never obtain or control a credential wider
// than itself, over real HTTP against a real redis-server: the escalation chain of a narrow
// key (reroll the user's full key, sign in with its new secret, act as admin) and its
// variants. The authorization matrix of every field is in e2e_authz_matrix_test.go.

import (
	"strings"
	"testing"
)

func TestNarrowKeyCannotEscalateThroughKeyOperations(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "bob", "bob-password")
	bob := srv.login(t, "bob", "bob-password")
	bobsKey := srv.createKey(t, bob, nil)

	// The admin's full key (every scope an admin's key may hold, admin included) and a key
	// that may only manage keys: the one an attacker holds.
	full := srv.createKey(t, admin, nil)
	narrow := srv.createKey(t, admin, []string{"keys:write"})
	attacker := srv.keyLogin(t, narrow.id, narrow.secret)
	const qCreateAdmin = `mutation { createUser(input: {username: "mallory", password: "mallory-password", role: ADMIN}) { id } }`
	wantGQLCode(t, "createUser from the keys:write session", srv.post(t, attacker, qCreateAdmin, nil), "FORBIDDEN")

	// Step one of the chain: reroll the full key to learn a secret of it. Refused, and the
	// refusal says why.
	r := srv.post(t, attacker, qReroll, map[string]any{"id": full.id})
	wantGQLCode(t, "rerollUserKey of the full key", r, "FORBIDDEN")
	if !strings.Contains(r.Raw, "cannot reroll a key wider than itself") || strings.Contains(r.Raw, "agk_") {
		t.Fatalf("the refusal does not explain itself, or carries a secret: %s", r.Raw)
	}
	wantGQLCode(t, "rerollUserKey of the full key with a grace period", srv.post(t, attacker, qReroll, map[string]any{"id": full.id, "g": 3600}), "FORBIDDEN")
	wantGQLCode(t, "deleteUserKey of the full key", srv.post(t, attacker, qDeleteKey, map[string]any{"id": full.id}), "FORBIDDEN")
	for _, scopes := range [][]string{{"read", "keys:write", "sessions:write", "admin"}, {"admin"}, {"keys:write", "read"}} {
		wantGQLCode(t, "createUserKey with scopes "+strings.Join(scopes, ","), srv.post(t, attacker, qCreateKey, map[string]any{"s": scopes}), "FORBIDDEN")
	}

	// Someone else's key, or none, answers NOT_FOUND, whatever its scopes: the narrow session
	// cannot probe other users' key ids.
	for _, id := range []string{bobsKey.id, "987654321"} {
		wantGQLCode(t, "rerollUserKey of another user's key or none", srv.post(t, attacker, qReroll, map[string]any{"id": id}), "NOT_FOUND")
		wantGQLCode(t, "deleteUserKey of another user's key or none", srv.post(t, attacker, qDeleteKey, map[string]any{"id": id}), "NOT_FOUND")
	}

	// What the session may do leads nowhere wider: a key made without scopes inherits
	// keys:write, and rerolling its own key gives back a secret of keys:write alone.
	child := srv.createKey(t, attacker, nil)
	rerolled := ok(t, "rerollUserKey of the session's own key", srv.post(t, attacker, qReroll, map[string]any{"id": narrow.id}))
	for _, cred := range []struct{ what, id, secret string }{
		{"the inherited key", child.id, child.secret},
		{"the rerolled own key", narrow.id, rerolled.str(t, "rerollUserKey.secret")},
	} {
		r := ok(t, "sign in with "+cred.what, srv.post(t, "", qKeyLogin, map[string]any{"id": cred.id, "s": cred.secret}))
		if !strings.Contains(r.Raw, `"scopes":["keys:write"]`) {
			t.Fatalf("a session of %s is wider than keys:write: %s", cred.what, r.Raw)
		}
		tok := r.str(t, "createSessionUsingUserKey.token")
		wantGQLCode(t, "createUser from a session of "+cred.what, srv.post(t, tok, qCreateAdmin, nil), "FORBIDDEN")
		wantGQLCode(t, "rerollUserKey of the full key from a session of "+cred.what, srv.post(t, tok, qReroll, map[string]any{"id": full.id}), "FORBIDDEN")
	}

	// The end of the chain was never reached: no admin named mallory exists, and the full
	// key still signs in with its first secret (nothing rerolled or deleted it).
	r = ok(t, "users", srv.post(t, admin, `{ users { nodes { username } } }`, nil))
	if strings.Contains(r.Raw, "mallory") {
		t.Fatalf("the chain made an admin: %s", r.Raw)
	}
	srv.keyLogin(t, full.id, full.secret)

	// The owner's password session, and a session of the full key itself, may still do both.
	fullSession := srv.keyLogin(t, full.id, full.secret)
	ok(t, "rerollUserKey of the full key from its own session", srv.post(t, fullSession, qReroll, map[string]any{"id": full.id}))
	ok(t, "deleteUserKey of the full key from the password session", srv.post(t, admin, qDeleteKey, map[string]any{"id": full.id}))
}

// A refreshable sign-in with a narrow key stays narrow through every refresh.
func TestNarrowKeyRefreshKeepsItsScopes(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	narrow := srv.createKey(t, admin, []string{"keys:write"})
	r := ok(t, "refreshable key sign-in", srv.post(t, "",
		`mutation($id: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s, refreshable: true}) { refreshToken scopes } }`,
		map[string]any{"id": narrow.id, "s": narrow.secret}))
	refresh := r.str(t, "createSessionUsingUserKey.refreshToken")
	for range 2 {
		r = ok(t, "refreshSession", srv.post(t, "", `mutation($r: String) { refreshSession(input: {refreshToken: $r}) { token refreshToken scopes } }`, map[string]any{"r": refresh}))
		if !strings.Contains(r.Raw, `"scopes":["keys:write"]`) {
			t.Fatalf("a refreshed narrow session is wider: %s", r.Raw)
		}
		refresh = r.str(t, "refreshSession.refreshToken")
		wantGQLCode(t, "createUser from a refreshed narrow session", srv.post(t, r.str(t, "refreshSession.token"),
			`mutation { createUser(input: {username: "mallory", password: "mallory-password", role: ADMIN}) { id } }`, nil), "FORBIDDEN")
	}
}
