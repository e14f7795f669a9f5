package main

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
)

const loginMutation = `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`

// loginFrom tries a password login as if from ip (the test server trusts 127.0.0.1 as a
// proxy, so X-Forwarded-For names the client).
func (s *testServer) loginFrom(t *testing.T, ip, username, password string) *gqlResponse {
	t.Helper()
	return s.post(t, "", loginMutation, map[string]any{"u": username, "p": password}, "X-Forwarded-For", ip)
}

// assertLimited checks a refusal: 429, RATE_LIMITED, the contract's message, a Retry-After
// header of whole seconds and the same wait in extensions.retryAfter.
func assertLimited(t *testing.T, r *gqlResponse) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests || r.code() != "RATE_LIMITED" || r.Errors[0].Message != auth.MsgRateLimited {
		t.Fatalf("want a 429 RATE_LIMITED: %d %s", r.Status, r.Raw)
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if ext, _ := r.Errors[0].Extensions["retryAfter"].(float64); int(ext) != ra {
		t.Fatalf("extensions.retryAfter %v, Retry-After %d", r.Errors[0].Extensions["retryAfter"], ra)
	}
	assertContractShape(t, r)
}

// The attacker's address is throttled on the account long before the account is, and a
// correct password from a clean address gets in throughout: nobody can lock a user out.
func TestRateLimitsThrottleTheAttackerNotTheUser(t *testing.T) {
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1"})
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "victim", "victim-password")

	const attacker = "203.0.113.66"
	for i := range 5 {
		if r := srv.loginFrom(t, attacker, "victim", fmt.Sprint("guess-", i)); r.code() != "INVALID_CREDENTIALS" {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Raw)
		}
	}
	assertLimited(t, srv.loginFrom(t, attacker, "victim", "guess-5"))
	// Refused before any check: even the right password is refused from that address now.
	assertLimited(t, srv.loginFrom(t, attacker, "victim", "victim-password"))

	// The user, from their own address, gets in.
	if r := srv.loginFrom(t, "198.51.100.10", "victim", "victim-password"); r.code() != "" {
		t.Fatalf("the user was locked out: %d %s", r.Status, r.Raw)
	}

	// A botnet: many addresses, a few guesses each, until the account itself is out of
	// failures (login:id, 20). Each address is refused on the account after its own five.
	for i := range 8 {
		ip := fmt.Sprintf("192.0.2.%d", i+1)
		for j := range 3 {
			r := srv.loginFrom(t, ip, "victim", fmt.Sprint("bot-", i, "-", j))
			if r.code() != "INVALID_CREDENTIALS" && r.code() != "RATE_LIMITED" {
				t.Fatalf("bot %s: %d %s", ip, r.Status, r.Raw)
			}
		}
	}
	// The account is under attack now: an address that has failed on it is refused...
	assertLimited(t, srv.loginFrom(t, "192.0.2.1", "victim", "bot-again"))
	// ...and a clean one with the right password still gets in.
	if r := srv.loginFrom(t, "198.51.100.77", "victim", "victim-password"); r.code() != "" {
		t.Fatalf("the user was locked out under attack: %d %s", r.Status, r.Raw)
	}
	// Other accounts are not affected by the attack on this one.
	if r := srv.loginFrom(t, attacker, adminName, adminPass); r.code() != "" {
		t.Fatalf("another account from the attacker's address: %d %s", r.Status, r.Raw)
	}
}

// One address spraying many accounts is bounded by its own limit (login:ip, a burst of 20),
// counted before any hashing. The burst refills over a day here rather than a minute, so that
// 25 sign-ins on two busy cores cannot earn a refill while the test counts.
func TestRateLimitsBoundOneAddressAcrossAccounts(t *testing.T) {
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1", "AUTHGRAPH_RATE_LIMITS": "login:ip=20/24h/20"})
	const sprayer = "203.0.113.99"
	limited := 0
	for i := range 25 {
		r := srv.loginFrom(t, sprayer, fmt.Sprint("user-", i), "Winter2026!")
		switch r.code() {
		case "INVALID_CREDENTIALS":
		case "RATE_LIMITED":
			assertLimited(t, r)
			limited++
		default:
			t.Fatalf("attempt %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if limited != 5 {
		t.Fatalf("%d of 25 attempts refused, want 5 (the limit is 20)", limited)
	}
	if r := srv.loginFrom(t, "203.0.113.100", adminName, adminPass); r.code() != "" {
		t.Fatalf("a neighbouring address: %d %s", r.Status, r.Raw)
	}
}

// Limits live in Redis: two replicas on one Redis count against the same buckets.
func TestRateLimitsHoldAcrossReplicas(t *testing.T) {
	a, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1"})
	b := startServer(t, map[string]string{
		"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix, "AUTHGRAPH_REDIS_TIMEOUT": "2s",
		"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1",
	})
	const ip = "203.0.113.5"
	for i, srv := range []*testServer{a, b, a, b, a} {
		if r := srv.loginFrom(t, ip, adminName, fmt.Sprint("wrong-", i)); r.code() != "INVALID_CREDENTIALS" {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Raw)
		}
	}
	assertLimited(t, b.loginFrom(t, ip, adminName, "wrong-5"))
	assertLimited(t, a.loginFrom(t, ip, adminName, "wrong-6"))
}

// User keys are limited per key id, like usernames.
func TestRateLimitsOnUserKeys(t *testing.T) {
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1"})
	admin := srv.login(t, adminName, adminPass)
	key := srv.post(t, admin, `mutation { createUserKey { id secret } }`, nil)
	id, secret := key.str(t, "createUserKey.id"), key.str(t, "createUserKey.secret")
	q := `mutation($id: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s}) { token } }`
	for i := range 5 {
		r := srv.post(t, "", q, map[string]any{"id": id, "s": secret + "x"}, "X-Forwarded-For", "203.0.113.7")
		if r.code() != "INVALID_CREDENTIALS" {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Raw)
		}
	}
	assertLimited(t, srv.post(t, "", q, map[string]any{"id": id, "s": secret}, "X-Forwarded-For", "203.0.113.7"))
	if r := srv.post(t, "", q, map[string]any{"id": id, "s": secret}, "X-Forwarded-For", "198.51.100.3"); r.code() != "" {
		t.Fatalf("the key's owner from a clean address: %d %s", r.Status, r.Raw)
	}
}

// Without a trusted proxy, X-Forwarded-For is ignored: a client cannot pick a fresh bucket
// per attempt by forging it.
func TestForgedForwardedForDoesNotEscapeLimits(t *testing.T) {
	srv := startServer(t, nil)
	for i := range 5 {
		r := srv.loginFrom(t, fmt.Sprintf("10.9.9.%d", i), adminName, "wrong")
		if r.code() != "INVALID_CREDENTIALS" {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Raw)
		}
	}
	assertLimited(t, srv.loginFrom(t, "10.9.9.200", adminName, "wrong"))
}

// AUTHGRAPH_RATE_LIMITS changes a limit; "off" removes them.
func TestRateLimitsAreConfigurable(t *testing.T) {
	srv := startServer(t, map[string]string{"AUTHGRAPH_RATE_LIMITS": "login:ip+id=2/1m"})
	for range 2 {
		if r := srv.loginFrom(t, "x", adminName, "wrong"); r.code() != "INVALID_CREDENTIALS" {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	}
	assertLimited(t, srv.loginFrom(t, "x", adminName, "wrong"))

	off := startServer(t, map[string]string{"AUTHGRAPH_RATE_LIMITS": "off"})
	for i := range 30 {
		if r := off.loginFrom(t, "x", adminName, "wrong"); r.code() != "INVALID_CREDENTIALS" {
			t.Fatalf("attempt %d with limits off: %d %s", i, r.Status, r.Raw)
		}
	}
}

// A stolen session cannot guess the password through changePassword faster than through
// sign-in: its guesses count against the same limits (login:ip+id, 5 failures).
func TestChangePasswordGuessesAreLimited(t *testing.T) {
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1"})
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "carol", "carol-password-1")
	stolen := srv.login(t, "carol", "carol-password-1")
	const q = `mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) { username } }`
	const thief = "203.0.113.77"
	for i := range 5 {
		r := srv.post(t, stolen, q, map[string]any{"c": fmt.Sprint("guess-", i), "n": "thief-chosen-password"}, "X-Forwarded-For", thief)
		if r.code() != "INVALID_CREDENTIALS" {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Raw)
		}
	}
	// Refused before any check, even with the right password, and sign-in from that
	// address on the account is throttled too: the two share the bucket.
	assertLimited(t, srv.post(t, stolen, q, map[string]any{"c": "carol-password-1", "n": "thief-chosen-password"}, "X-Forwarded-For", thief))
	assertLimited(t, srv.loginFrom(t, thief, "carol", "carol-password-1"))
	// Carol, from her address, still signs in with her unchanged password.
	if r := srv.loginFrom(t, "198.51.100.20", "carol", "carol-password-1"); r.code() != "" {
		t.Fatalf("carol after the thief's guesses: %d %s", r.Status, r.Raw)
	}
}

// External sign-ins are counted per address (external:ip, 20 a minute) before the
// identity provider is asked, whatever the token holds.
func TestExternalLoginIsLimited(t *testing.T) {
	e := newExternalSetup(t, nil)
	for i := range 20 {
		if r := e.login(t, fmt.Sprint("not-a-jwt-", i), nil); r.code() != "INVALID_CREDENTIALS" {
			t.Fatalf("attempt %d: %d %s", i, r.Status, r.Raw)
		}
	}
	assertLimited(t, e.login(t, "not-a-jwt-20", nil))
}
