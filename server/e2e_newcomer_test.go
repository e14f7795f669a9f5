package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const devAdminMsg = `created a development admin: sign in as "admin" with the password below`

// devAdminPasswords answers the passwords of the development admin lines in a server's log.
func devAdminPasswords(t *testing.T, logs string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		var e struct {
			Level, Message, Username, Password string
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Message == devAdminMsg {
			if e.Username != "admin" || e.Level != "warn" {
				t.Fatalf("the development admin line: %s", line)
			}
			out = append(out, e.Password)
		}
	}
	return out
}

// With no admin configured, a development server on the embedded store makes one and prints
// its password once; one can sign in with it, as an admin.
func TestDevelopmentAdmin(t *testing.T) {
	noAdmin := map[string]string{"AUTHGRAPH_ADMIN_USERNAME": "", "AUTHGRAPH_ADMIN_PASSWORD": ""}
	s := startServer(t, noAdmin)
	pw := devAdminPasswords(t, s.logs.String())
	if len(pw) != 1 || len(pw[0]) < 20 {
		t.Fatalf("want one development admin line with a long password, got %q in\n%s", pw, s.logs)
	}
	if n := strings.Count(s.logs.String(), pw[0]); n != 1 {
		t.Fatalf("the password is in the log %d times, want once", n)
	}
	tok := s.login(t, "admin", pw[0])
	if r := s.post(t, tok, `{ me { username role } }`, nil); r.str(t, "me.role") != "ADMIN" {
		t.Fatalf("the development admin: %s", r.Raw)
	}

	// Each start makes its own password.
	if again := devAdminPasswords(t, startServer(t, noAdmin).logs.String()); len(again) != 1 || again[0] == pw[0] {
		t.Fatalf("a second start: %q", again)
	}

	// Never with an admin configured, nor in production.
	for name, env := range map[string]map[string]string{
		"an admin configured": nil,
		"production":          {"AUTHGRAPH_ADMIN_USERNAME": "", "AUTHGRAPH_ADMIN_PASSWORD": "", "AUTHGRAPH_ENV": "production"},
	} {
		s := startServer(t, env)
		if strings.Contains(s.logs.String(), "development admin") {
			t.Fatalf("%s: %s", name, s.logs)
		}
		if env != nil {
			r := s.post(t, "", `mutation { createSessionUsingUsername(input: {username: "admin", password: "x"}) { token } }`, nil)
			if r.code() != "INVALID_CREDENTIALS" {
				t.Fatalf("%s: an admin exists: %s", name, r.Raw)
			}
		}
	}
}

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
