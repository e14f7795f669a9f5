package main

import (
	"testing"
)

// Over HTTP on Redis, with the default limits: an address that has failed five sign-ins from
// one client (login:ip+id) is refused to that client in any other spelling too. Each
// spelling (case, full-width letters) reaches the same user, and used to be counted apart,
// a fresh budget of guesses each.
func TestSignInByAddressIsLimitedWhateverItsSpelling(t *testing.T) {
	s := startSelfService(t, "redis", nil)
	admin := s.login(t, adminName, adminPass)
	id := s.createUser(t, admin, "jane", "jane-password-long-1")
	ok(t, "setUserEmail", s.post(t, admin, `mutation($id: ObjectID!) { setUserEmail(input: {userId: $id, email: "jane@example.com"}) { id } }`, map[string]any{"id": id}))
	const q = `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`
	for range 5 {
		if c := s.post(t, "", q, map[string]any{"u": "jane@example.com", "p": "a-wrong-guess-123"}, "X-Forwarded-For", "198.51.100.7").code(); c != "INVALID_CREDENTIALS" {
			t.Fatalf("a wrong password: %q", c)
		}
	}
	for _, spelling := range []string{"Jane@Example.com", "JANE@EXAMPLE.COM", "ｊａｎｅ@example.com"} {
		if c := s.post(t, "", q, map[string]any{"u": spelling, "p": "jane-password-long-1"}, "X-Forwarded-For", "198.51.100.7").code(); c != "RATE_LIMITED" {
			t.Errorf("the guess after five failures, as %q: %q, want RATE_LIMITED", spelling, c)
		}
	}
}
