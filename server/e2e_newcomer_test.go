package main

import (
	"testing"
)

// A sign-in answer names its user, so that a client needs one request to know who signed in;
// a listed session names its owner too.
func TestSessionUserInSignInAnswer(t *testing.T) {
	s := startServer(t, nil)
	admin := s.login(t, adminName, adminPass)
	memberID := s.createUser(t, admin, "mia", "a long member password")

	r := s.post(t, "", `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) {
  token user { id rawID username role } } }`, map[string]any{"u": "mia", "p": "a long member password"})
	if r.code() != "" {
		t.Fatal(r.Raw)
	}
	if got := r.str(t, "createSessionUsingUsername.user.id"); got != memberID {
		t.Fatalf("user.id %q, want %q", got, memberID)
	}
	if r.str(t, "createSessionUsingUsername.user.username") != "mia" || r.str(t, "createSessionUsingUsername.user.role") != "MEMBER" {
		t.Fatal(r.Raw)
	}
	tok := r.str(t, "createSessionUsingUsername.token")

	// A user key sign-in answers its user as well.
	k := s.post(t, tok, `mutation { createUserKey { id secret } }`, nil)
	if k.code() != "" {
		t.Fatal(k.Raw)
	}
	r = s.post(t, "", `mutation($id: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s}) { user { username } } }`,
		map[string]any{"id": k.str(t, "createUserKey.id"), "s": k.str(t, "createUserKey.secret")})
	if r.code() != "" || r.str(t, "createSessionUsingUserKey.user.username") != "mia" {
		t.Fatal(r.Raw)
	}

	// An admin listing someone else's sessions sees their owner, not the admin.
	r = s.post(t, admin, `query($id: ObjectID!) { user(id: $id) { sessions(first: 10) { nodes { user { username } } } } }`, map[string]any{"id": memberID})
	if r.code() != "" {
		t.Fatal(r.Raw)
	}
	nodes := r.Data["user"].(map[string]any)["sessions"].(map[string]any)["nodes"].([]any)
	if len(nodes) != 2 {
		t.Fatalf("want 2 sessions: %s", r.Raw)
	}
	for _, n := range nodes {
		if u := n.(map[string]any)["user"].(map[string]any)["username"]; u != "mia" {
			t.Fatalf("owner %v: %s", u, r.Raw)
		}
	}
}
