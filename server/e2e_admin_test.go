package main

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

const (
	qSetRole      = `mutation($id: ObjectID!, $r: Role!) { setUserRole(input: {userId: $id, role: $r}) { id role } }`
	qRenameUser   = `mutation($id: ObjectID!, $u: String!) { renameUser(input: {userId: $id, username: $u}) { id username } }`
	qSetEmail     = `mutation($id: ObjectID!, $e: String) { setUserEmail(input: {userId: $id, email: $e}) { id email emailVerified } }`
	qAccounts     = `query($f: Int, $a: String, $l: Int, $b: String) { accounts(first: $f, after: $a, last: $l, before: $b) { nodes { slug name } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`
	qRenameAcct   = `mutation($id: ObjectID!, $n: String!) { renameAccount(input: {accountId: $id, name: $n}) { id slug name } }`
	qCreateAcct   = `mutation($s: String!) { createAccount(input: {slug: $s, name: "Tenant"}) { id } }`
	qCreateAdmin  = `mutation($u: String!, $p: String!) { createUser(input: {username: $u, password: $p, role: ADMIN}) { id } }`
	adminTestPass = "a-long-enough-password"
)

// On real Redis: a demoted admin loses the admin operations at once through a key session
// holding the admin scope; two renames to one name, one wins, and the username claims follow
// the winner; an admin sets an email; accounts page over ids a refused slug used up.
func TestAdminCompletenessRedis(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_RATE_LIMITS": "off"})
	admin := srv.login(t, adminName, adminPass)

	// Demotion: carol's key session holds `admin`, and loses the admin operations on the
	// next request; her sessions are not ended.
	r := srv.post(t, admin, qCreateAdmin, map[string]any{"u": "carol", "p": adminTestPass})
	if r.code() != "" {
		t.Fatalf("create carol: %s", r.Raw)
	}
	carolID := r.str(t, "createUser.id")
	carol := srv.login(t, "carol", adminTestPass)
	r = srv.post(t, carol, qCreateKey, map[string]any{"s": []string{"read", "admin"}})
	if r.code() != "" {
		t.Fatalf("carol's admin key: %s", r.Raw)
	}
	r = srv.post(t, "", qKeyLogin, map[string]any{"id": r.str(t, "createUserKey.id"), "s": r.str(t, "createUserKey.secret")})
	if r.code() != "" {
		t.Fatalf("carol's key sign-in: %s", r.Raw)
	}
	carolKey := r.str(t, "createSessionUsingUserKey.token")
	for _, tok := range []string{carol, carolKey} {
		if r := srv.post(t, tok, `{ users { nodes { id } } }`, nil); r.code() != "" {
			t.Fatalf("carol as admin: %s", r.Raw)
		}
	}
	if r := srv.post(t, carol, qSetRole, map[string]any{"id": carolID, "r": "MEMBER"}); r.code() != "BAD_USER_INPUT" {
		t.Fatalf("carol demoting herself: %s", r.Raw)
	}
	if r := srv.post(t, admin, qSetRole, map[string]any{"id": carolID, "r": "MEMBER"}); r.code() != "" || r.str(t, "setUserRole.role") != "MEMBER" {
		t.Fatalf("demote carol: %s", r.Raw)
	}
	for name, tok := range map[string]string{"password": carol, "key": carolKey} {
		if r := srv.post(t, tok, `{ me { role } }`, nil); r.code() != "" || r.str(t, "me.role") != "MEMBER" {
			t.Errorf("carol's %s session after the demotion: %s", name, r.Raw)
		}
		if r := srv.post(t, tok, `{ users { nodes { id } } }`, nil); r.code() != "FORBIDDEN" {
			t.Errorf("demoted carol's %s session listing users: %s", name, r.Raw)
		}
	}

	// Two renames to one name: one wins, the other is CONFLICT.
	ids := []string{srv.createUser(t, admin, "dora", adminTestPass), srv.createUser(t, admin, "egon", adminTestPass)}
	answers := make([]*gqlResponse, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { answers[i] = srv.post(t, admin, qRenameUser, map[string]any{"id": id, "u": "prize"}) })
	}
	wg.Wait()
	winner, loser := 0, 1
	if answers[0].code() != "" {
		winner, loser = 1, 0
	}
	if answers[winner].code() != "" || answers[loser].code() != "CONFLICT" {
		t.Fatalf("racing renames: %s / %s", answers[0].Raw, answers[1].Raw)
	}
	oldNames := []string{"dora", "egon"}
	srv.login(t, "prize", adminTestPass)
	srv.login(t, oldNames[loser], adminTestPass)
	if r := srv.post(t, "", loginIn, map[string]any{"u": oldNames[winner], "p": adminTestPass}); r.code() != "INVALID_CREDENTIALS" {
		t.Errorf("sign-in with the winner's old name: %s", r.Raw)
	}
	if n := rs.Client.Exists(t.Context(), rs.Prefix+"un:"+oldNames[winner]).Val(); n != 0 {
		t.Errorf("the winner's old username is still claimed")
	}
	if n := rs.Client.HLen(t.Context(), rs.Prefix+"un:prize").Val(); n != 1 {
		t.Errorf("un:prize has %d claims, want 1", n)
	}

	// Email: normalized, unverified, unique in the account, removable.
	r = srv.post(t, admin, qSetEmail, map[string]any{"id": ids[0], "e": " Dora@Example.COM"})
	if r.code() != "" || r.str(t, "setUserEmail.email") != "dora@example.com" || r.Data["setUserEmail"].(map[string]any)["emailVerified"] != false {
		t.Fatalf("set email: %s", r.Raw)
	}
	if r := srv.post(t, admin, qSetEmail, map[string]any{"id": ids[1], "e": "dora@example.com"}); r.code() != "CONFLICT" {
		t.Errorf("another user's address: %s", r.Raw)
	}
	if r := srv.post(t, admin, qSetEmail, map[string]any{"id": ids[1], "e": "x@y.com\r\nBcc: z@y.com"}); r.code() != "BAD_USER_INPUT" {
		t.Errorf("header injection: %s", r.Raw)
	}
	if r := srv.post(t, admin, qSetEmail, map[string]any{"id": ids[0], "e": nil}); r.code() != "" || r.Data["setUserEmail"].(map[string]any)["email"] != nil {
		t.Errorf("remove email: %s", r.Raw)
	}

	// Accounts: a refused slug uses an id up on Redis; pages skip it.
	for i := range 3 {
		s := fmt.Sprintf("tenant-%d", i)
		if r := srv.post(t, admin, qCreateAcct, map[string]any{"s": s}); r.code() != "" {
			t.Fatalf("create %s: %s", s, r.Raw)
		}
		if r := srv.post(t, admin, qCreateAcct, map[string]any{"s": s}); r.code() != "CONFLICT" {
			t.Fatalf("create %s again: %s", s, r.Raw)
		}
	}
	var got []string
	var after any
	for range 10 {
		r := srv.post(t, admin, qAccounts, map[string]any{"f": 2, "a": after})
		if r.code() != "" {
			t.Fatalf("accounts: %s", r.Raw)
		}
		conn := r.Data["accounts"].(map[string]any)
		for _, n := range conn["nodes"].([]any) {
			got = append(got, n.(map[string]any)["slug"].(string))
		}
		if conn["pageInfo"].(map[string]any)["hasNextPage"] != true {
			break
		}
		after = conn["pageInfo"].(map[string]any)["endCursor"]
	}
	if fmt.Sprint(got) != "[default tenant-0 tenant-1 tenant-2]" {
		t.Fatalf("accounts paged forward: %v", got)
	}
	r = srv.post(t, admin, qAccounts, map[string]any{"l": 1})
	if r.code() != "" || r.Raw == "" || r.Data["accounts"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["slug"] != "tenant-2" {
		t.Fatalf("the last account: %s", r.Raw)
	}
	if r := srv.post(t, carol, qAccounts, nil); r.code() != "FORBIDDEN" {
		t.Errorf("a member listing accounts: %s", r.Raw)
	}
	if r := srv.post(t, admin, qRenameAcct, map[string]any{"id": "1", "n": "Head Office"}); r.code() != "" ||
		r.str(t, "renameAccount.name") != "Head Office" || r.str(t, "renameAccount.slug") != "default" {
		t.Fatalf("rename the default account: %s", r.Raw)
	}
	if r := srv.post(t, admin, `{ me { account { slug name } } }`, nil); r.str(t, "me.account.name") != "Head Office" {
		t.Errorf("the admin's account after the rename: %s", r.Raw)
	}
}

// On real Redis: an account with users is refused without withUsers; with it, the users'
// sessions end, and nothing of the account or its users stays in Redis.
func TestDeleteAccountRedis(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_RATE_LIMITS": "off"})
	admin := srv.login(t, adminName, adminPass)
	r := srv.post(t, admin, qCreateAcct, map[string]any{"s": "gone"})
	if r.code() != "" {
		t.Fatalf("create account: %s", r.Raw)
	}
	acct := r.str(t, "createAccount.id")
	r = srv.post(t, admin, `mutation($p: String!) { createUser(input: {username: "pia", password: $p, account: "gone"}) { id rawID } }`,
		map[string]any{"p": adminTestPass})
	if r.code() != "" {
		t.Fatalf("create user: %s", r.Raw)
	}
	piaRaw := r.str(t, "createUser.rawID")
	r = srv.post(t, "", loginIn, map[string]any{"a": "gone", "u": "pia", "p": adminTestPass})
	if r.code() != "" {
		t.Fatalf("pia signs in: %s", r.Raw)
	}
	pia := r.str(t, "createSessionUsingUsername.token")
	if r := srv.post(t, admin, qSetEmail, map[string]any{"id": piaRaw, "e": "pia@example.com"}); r.code() != "" {
		t.Fatalf("pia's email: %s", r.Raw)
	}

	const del = `mutation($id: ObjectID!, $w: Boolean) { deleteAccount(input: {accountId: $id, withUsers: $w}) { account { slug } } }`
	if r := srv.post(t, admin, del, map[string]any{"id": acct}); r.code() != "CONFLICT" {
		t.Fatalf("deleting an account with users: %s", r.Raw)
	}
	if r := srv.post(t, pia, `{ me { username } }`, nil); r.code() != "" {
		t.Fatalf("a refused delete ended pia's session: %s", r.Raw)
	}
	if r := srv.post(t, admin, del, map[string]any{"id": acct, "w": true}); r.code() != "" || r.str(t, "deleteAccount.account.slug") != "gone" {
		t.Fatalf("deleting with users: %s", r.Raw)
	}
	if r := srv.post(t, pia, `{ me { username } }`, nil); r.code() != "UNAUTHENTICATED" {
		t.Errorf("pia's session after her account was deleted: %s", r.Raw)
	}
	if r := srv.post(t, "", loginIn, map[string]any{"a": "gone", "u": "pia", "p": adminTestPass}); r.code() != "INVALID_CREDENTIALS" {
		t.Errorf("signing in to the deleted account: %s", r.Raw)
	}
	if r := srv.post(t, admin, del, map[string]any{"id": acct, "w": true}); r.code() != "NOT_FOUND" {
		t.Errorf("deleting it again: %s", r.Raw)
	}
	// Nothing left: the record, the slug, pia's record, username claim and email claim.
	for _, k := range []string{"a:" + rawOf(t, acct), "as:gone", "u:" + piaRaw, "un:pia"} {
		if rs.Client.Exists(t.Context(), rs.Prefix+k).Val() != 0 {
			t.Errorf("%s is still in Redis", k)
		}
	}
	if keys := rs.Client.Keys(t.Context(), rs.Prefix+"*email*").Val(); len(keys) != 0 {
		t.Errorf("email claims left: %v", keys)
	}
	if r := srv.post(t, admin, qCreateAcct, map[string]any{"s": "gone"}); r.code() != "" {
		t.Errorf("the slug is not free again: %s", r.Raw)
	}
}

// rawOf answers the integer behind an ObjectID.
func rawOf(t *testing.T, id string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) < 4 {
		t.Fatalf("bad ObjectID %q", id)
	}
	n, _ := strconv.Atoi(string(b[1:4]))
	return string(b[4+n:])
}
