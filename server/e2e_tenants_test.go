package main

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestTenantsRedis(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	runTenantsFlow(t, srv)
	// One small hash per username holds its accounts: the two bobs are two fields of it.
	fields := rs.Client.HKeys(t.Context(), rs.Prefix+"un:bob").Val()
	if len(fields) != 3 {
		t.Fatalf("un:bob has fields %q, want one per account (3)", fields)
	}
}

func TestTenantsEmbeddedStore(t *testing.T) {
	runTenantsFlow(t, startServer(t, nil))
}

const loginIn = `mutation($a: String, $u: String!, $p: String!) {
  createSessionUsingUsername(input: {account: $a, username: $u, password: $p}) { token }
}`

// runTenantsFlow: two accounts, the same username in each with its own password; sign-in
// with the account works for each, without it answers INVALID_CREDENTIALS (the documented
// answer: it must not reveal that the username exists in several accounts); admin-only
// createAccount, CONFLICT for a taken slug, BAD_USER_INPUT for a malformed one; me { account }.
func runTenantsFlow(t *testing.T, srv *testServer) {
	t.Helper()
	admin := srv.login(t, adminName, adminPass)

	// The bootstrap admin lives in the default account.
	r := srv.post(t, admin, `{ me { account { slug name } } }`, nil)
	if r.str(t, "me.account.slug") != "default" {
		t.Fatalf("the admin's account: %s", r.Raw)
	}

	const create = `mutation($s: String!, $n: String!) { createAccount(input: {slug: $s, name: $n}) { id rawID slug name createdAt } }`
	r = srv.post(t, admin, create, map[string]any{"s": "acme", "n": "Acme Corp"})
	if r.code() != "" || r.str(t, "createAccount.slug") != "acme" || r.str(t, "createAccount.name") != "Acme Corp" {
		t.Fatalf("createAccount: %s", r.Raw)
	}
	acmeID := r.str(t, "createAccount.id")
	if raw, _ := base64.RawURLEncoding.DecodeString(acmeID); string(raw) != "N007Account"+r.str(t, "createAccount.rawID") {
		t.Fatalf("account id %q decodes to %q", acmeID, raw)
	}
	if r := srv.post(t, admin, create, map[string]any{"s": "globex", "n": "Globex"}); r.code() != "" {
		t.Fatalf("createAccount globex: %s", r.Raw)
	}
	if r := srv.post(t, admin, create, map[string]any{"s": "acme", "n": "Another Acme"}); r.code() != "CONFLICT" {
		t.Fatalf("a duplicate slug: %s", r.Raw)
	}
	for _, bad := range []string{"", "Acme", "ac_me", "ac me", "-acme", "acme-", "äcme", strings.Repeat("a", 64)} {
		if r := srv.post(t, admin, create, map[string]any{"s": bad, "n": "Bad"}); r.code() != "BAD_USER_INPUT" {
			t.Fatalf("slug %q: %s", bad, r.Raw)
		}
	}

	// The same username in both accounts, each with its own password.
	const createIn = `mutation($a: String, $u: String!, $p: String!) { createUser(input: {account: $a, username: $u, password: $p}) { id username account { slug } } }`
	for _, a := range []string{"acme", "globex"} {
		r := srv.post(t, admin, createIn, map[string]any{"a": a, "u": "bob", "p": a + "-bob-password"})
		if r.code() != "" || r.str(t, "createUser.account.slug") != a {
			t.Fatalf("createUser bob in %s: %s", a, r.Raw)
		}
	}
	if r := srv.post(t, admin, createIn, map[string]any{"a": "acme", "u": "bob", "p": "another-password"}); r.code() != "CONFLICT" {
		t.Fatalf("bob again in acme: %s", r.Raw)
	}
	if r := srv.post(t, admin, createIn, map[string]any{"a": "initech", "u": "bob", "p": "bob-password"}); r.code() != "NOT_FOUND" {
		t.Fatalf("a user in an unknown account: %s", r.Raw)
	}

	// Sign-in with the account: each bob with his own password, into his own account.
	bobs := map[string]string{}
	for _, a := range []string{"acme", "globex"} {
		r := srv.post(t, "", loginIn, map[string]any{"a": a, "u": "bob", "p": a + "-bob-password"})
		if r.code() != "" {
			t.Fatalf("bob signs in to %s: %s", a, r.Raw)
		}
		bobs[a] = r.str(t, "createSessionUsingUsername.token")
		me := srv.post(t, bobs[a], `{ me { username account { id slug } } }`, nil)
		if me.str(t, "me.username") != "bob" || me.str(t, "me.account.slug") != a {
			t.Fatalf("me of %s's bob: %s", a, me.Raw)
		}
		if a == "acme" && me.str(t, "me.account.id") != acmeID {
			t.Fatalf("acme's id differs: %s", me.Raw)
		}
	}

	// Failures all look alike: the wrong account's password, an unknown account, and no
	// account for a username in several accounts (the documented answer).
	var messages []string
	for name, v := range map[string]map[string]any{
		"globex's password in acme": {"a": "acme", "u": "bob", "p": "globex-bob-password"},
		"an unknown account":        {"a": "initech", "u": "bob", "p": "acme-bob-password"},
		"no account, two bobs":      {"u": "bob", "p": "acme-bob-password"},
		"a wrong password":          {"a": "acme", "u": "bob", "p": "wrong-password"},
	} {
		r := srv.post(t, "", loginIn, v)
		if r.code() != "INVALID_CREDENTIALS" || strings.Contains(r.Raw, "ags_") {
			t.Fatalf("%s: %s", name, r.Raw)
		}
		messages = append(messages, r.Errors[0].Message)
	}
	for _, m := range messages {
		if m != messages[0] {
			t.Fatalf("failure messages differ: %q", messages)
		}
	}
	if r := srv.post(t, "", loginIn, map[string]any{"a": "ACME", "u": "bob", "p": "acme-bob-password"}); r.code() != "BAD_USER_INPUT" {
		t.Fatalf("a malformed account slug: %s", r.Raw)
	}

	// Members may not make accounts or users; anonymous callers are not even asked.
	if r := srv.post(t, "", create, map[string]any{"s": "mine", "n": "Mine"}); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("createAccount without a session: %s", r.Raw)
	}
	if r := srv.post(t, bobs["acme"], create, map[string]any{"s": "mine", "n": "Mine"}); r.code() != "FORBIDDEN" {
		t.Fatalf("createAccount by a member: %s", r.Raw)
	}
	if r := srv.post(t, bobs["acme"], createIn, map[string]any{"a": "acme", "u": "eve", "p": "eve-password"}); r.code() != "FORBIDDEN" {
		t.Fatalf("createUser by a member: %s", r.Raw)
	}

	// Clients that never mention accounts: a username in one account signs in without one…
	srv.createUser(t, admin, "carol", "carol-password")
	carol := srv.login(t, "carol", "carol-password")
	if r := srv.post(t, carol, `{ me { account { slug } } }`, nil); r.str(t, "me.account.slug") != "default" {
		t.Fatalf("carol's account: %s", r.Raw)
	}
	// …and once the default account has a bob too, "bob" with no account means that one.
	srv.createUser(t, admin, "bob", "default-bob-password")
	r = srv.post(t, "", loginIn, map[string]any{"u": "bob", "p": "default-bob-password"})
	if r.code() != "" {
		t.Fatalf("default bob without an account: %s", r.Raw)
	}
	if me := srv.post(t, r.str(t, "createSessionUsingUsername.token"), `{ me { account { slug } } }`, nil); me.str(t, "me.account.slug") != "default" {
		t.Fatalf("default bob's account: %s", me.Raw)
	}
}
