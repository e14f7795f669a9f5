package main

import (
	"net/http"
	"strings"
	"testing"
)

// What a service key may do to the people of its account, over a real listener on Redis: a
// key holding read and admin reads a member, its account and its audit trail, disables the
// member (whose session then gets 401), and touches nobody else: an ADMIN and another
// account's user are NOT_FOUND to it, an account admin FORBIDDEN; it creates no user and
// gives no role.
func TestServiceKeyRightsOverUsers(t *testing.T) {
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn"})
	admin := srv.login(t, adminName, adminPass)
	adminID := ok(t, "me", srv.post(t, admin, `{ me { id } }`, nil)).str(t, "me.id")
	acme := ok(t, "createAccount", srv.post(t, admin, `mutation { createAccount(input: {slug: "acme", name: "Acme"}) { id } }`, nil)).
		str(t, "createAccount.id")
	ok(t, "createAccount", srv.post(t, admin, `mutation { createAccount(input: {slug: "rival", name: "Rival"}) { id } }`, nil))
	mkUser := func(account, name, role string) string {
		return ok(t, "createUser", srv.post(t, admin, `mutation($a: String!, $u: String!, $r: Role) { createUser(input: {account: $a, username: $u, password: "a-long-test-password", role: $r}) { id } }`,
			map[string]any{"a": account, "u": name, "r": role})).str(t, "createUser.id")
	}
	worker := mkUser("acme", "worker", "MEMBER")
	boss := mkUser("acme", "boss", "ACCOUNT_ADMIN")
	stranger := mkUser("rival", "stranger", "MEMBER")
	signIn := func(name string) string {
		r := ok(t, "sign-in", srv.post(t, "", `mutation($u: String!) { createSessionUsingUsername(input: {account: "acme", username: $u, password: "a-long-test-password"}) { token } }`,
			map[string]any{"u": name}))
		return r.str(t, "createSessionUsingUsername.token")
	}
	workerTok, bossTok := signIn("worker"), signIn("boss")
	ok(t, "the member's session", srv.post(t, workerTok, `{ me { id } }`, nil))

	sa := createSA(t, srv, admin, acme, "ops", nil)
	key := createSK(t, srv, admin, sa, nil) // read and admin, as its service account
	readOnly := createSK(t, srv, admin, sa, map[string]any{"s": []string{"read"}})

	// Reading: a member of its account, with what an account admin reads of them.
	const qUser = `query($id: ObjectID!) { user(id: $id) { id username role disabled email account { id slug } } }`
	r := ok(t, "a member by a service key", srv.apiPost(t, key.secret, qUser, map[string]any{"id": worker}))
	if r.str(t, "user.username") != "worker" || r.str(t, "user.account.slug") != "acme" {
		t.Fatalf("the member: %s", r.Raw)
	}
	ok(t, "a member by a read key", srv.apiPost(t, readOnly.secret, qUser, map[string]any{"id": worker}))
	for what, id := range map[string]string{"an ADMIN": adminID, "another account's user": stranger} {
		r := srv.apiPost(t, key.secret, qUser, map[string]any{"id": id})
		wantGQLCode(t, "reading "+what, r, "NOT_FOUND")
		if r.Data != nil && r.Data["user"] != nil {
			t.Fatalf("reading %s answered data: %s", what, r.Raw)
		}
	}
	// Its credentials stay unreadable, as to an account admin.
	wantGQLCode(t, "a member's sessions", srv.apiPost(t, key.secret, `query($id: ObjectID!) { user(id: $id) { sessions { nodes { id } } } }`,
		map[string]any{"id": worker}), "FORBIDDEN")
	// Accounts: its own alone.
	r = ok(t, "accounts by a service key", srv.apiPost(t, readOnly.secret, `{ accounts { nodes { slug } } }`, nil))
	if !strings.Contains(r.Raw, `"acme"`) || strings.Contains(r.Raw, "rival") || strings.Contains(r.Raw, "default") {
		t.Fatalf("accounts: %s", r.Raw)
	}

	// Acting: disabling the member ends their session at once.
	const qDisable = `mutation($id: ObjectID!) { disableUser(input: {userId: $id}) { id disabled } }`
	wantGQLCode(t, "disabling by a read key", srv.apiPost(t, readOnly.secret, qDisable, map[string]any{"id": worker}), "FORBIDDEN")
	r = ok(t, "disabling a member", srv.apiPost(t, key.secret, qDisable, map[string]any{"id": worker}))
	if !strings.Contains(r.Raw, `"disabled":true`) {
		t.Fatalf("disabling: %s", r.Raw)
	}
	if r := srv.post(t, workerTok, `{ me { id } }`, nil); r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
		t.Fatalf("the disabled member's session: want 401, got %d %s", r.Status, r.Raw)
	}
	wantGQLCode(t, "disabling an ADMIN", srv.apiPost(t, key.secret, qDisable, map[string]any{"id": adminID}), "NOT_FOUND")
	wantGQLCode(t, "disabling another account's user", srv.apiPost(t, key.secret, qDisable, map[string]any{"id": stranger}), "NOT_FOUND")
	wantGQLCode(t, "disabling an account admin", srv.apiPost(t, key.secret, qDisable, map[string]any{"id": boss}), "FORBIDDEN")
	wantGQLCode(t, "ending an account admin's sessions", srv.apiPost(t, key.secret,
		`mutation($id: ObjectID!) { deleteUserSessions(input: {userId: $id}) }`, map[string]any{"id": boss}), "FORBIDDEN")
	ok(t, "the account admin's session", srv.post(t, bossTok, `{ me { id } }`, nil))
	ok(t, "the admin's session", srv.post(t, admin, `{ me { id } }`, nil))

	// Never minting or giving: no user, no role.
	wantGQLCode(t, "createUser by a service key", srv.apiPost(t, key.secret,
		`mutation { createUser(input: {account: "acme", username: "minted", password: "a-long-test-password"}) { id } }`, nil), "FORBIDDEN")
	wantGQLCode(t, "setUserRole by a service key", srv.apiPost(t, key.secret,
		`mutation($id: ObjectID!) { setUserRole(input: {userId: $id, role: ACCOUNT_ADMIN}) { id } }`, map[string]any{"id": worker}), "FORBIDDEN")

	// The trail: its account's, where the disabling names the service and its key.
	const qTrail = `query($f: AuditEventFilter) { auditEvents(filter: $f) { nodes { type outcome actorKind actorUserID actorUserKeyID actorServiceAccountID actorServiceKeyID userID accountID } } }`
	wantGQLCode(t, "the trail by a read key", srv.apiPost(t, readOnly.secret, qTrail, nil), "FORBIDDEN")
	r = ok(t, "the trail by a service key", srv.apiPost(t, key.secret, qTrail, map[string]any{"f": map[string]any{"types": []string{"user.disabled"}}}))
	nodes, _ := r.Data["auditEvents"].(map[string]any)["nodes"].([]any)
	if len(nodes) != 1 {
		t.Fatalf("want the one disabling in the trail: %s", r.Raw)
	}
	e := nodes[0].(map[string]any)
	if e["actorKind"] != "SERVICE" || e["actorServiceAccountID"] != sa || e["actorServiceKeyID"] != key.id ||
		e["actorUserID"] != nil || e["actorUserKeyID"] != nil || e["userID"] != worker || e["accountID"] != acme || e["outcome"] != "SUCCESS" {
		t.Fatalf("the disabling's entry: %v", e)
	}
	r = ok(t, "the whole trail by a service key", srv.apiPost(t, key.secret, qTrail, nil))
	for _, n := range r.Data["auditEvents"].(map[string]any)["nodes"].([]any) {
		if n.(map[string]any)["accountID"] != acme {
			t.Fatalf("an entry of another account: %v", n)
		}
	}
	wantGQLCode(t, "another user's trail", srv.apiPost(t, key.secret, qTrail, map[string]any{"f": map[string]any{"user": stranger}}), "NOT_FOUND")
	wantGQLCode(t, "the default account's trail", srv.apiPost(t, key.secret, qTrail, map[string]any{"f": map[string]any{"account": "1"}}), "NOT_FOUND")

	// Enabling gives back exactly what the member had: they sign in again.
	ok(t, "enabling a member", srv.apiPost(t, key.secret, `mutation($id: ObjectID!) { enableUser(input: {userId: $id}) { id } }`, map[string]any{"id": worker}))
	ok(t, "the enabled member's new session", srv.post(t, signIn("worker"), `{ me { id } }`, nil))
}
