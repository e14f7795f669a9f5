package main

// The authorization matrix: every root field of the schema, and every field that carries a
// credential, run over real HTTP by every kind of caller against the caller's own objects and
// another user's, with the expected answer COMPUTED, not written down per cell:
//
//  1. A field with @auth, @hasRole or @hasScope answers UNAUTHENTICATED to an anonymous caller;
//     a field without any of them is public (a sign-in proves its own credential: the
//     caller's session plays no part, so no scope applies).
//  2. @hasRole(role): FORBIDDEN to a user of another role.
//  3. @hasScope(scope), and a scope the field's description adds (extraScope): FORBIDDEN to a
//     session without it. A password session holds every scope; a key session its key's.
//  4. Another user's object: NOT_FOUND (or null) unless the field lets an admin session
//     holding the admin scope reach it — never FORBIDDEN, so ids tell nothing. Checked after
//     the scopes, which do not depend on the object.
//  5. The rule of credentials: a session can never obtain or control a credential whose
//     scopes exceed its own: FORBIDDEN (own objects only; others' are NOT_FOUND already).
//  6. Otherwise the field's own answer: OK, or what its description says for the case (such as
//     BAD_USER_INPUT for disabling yourself).
//
// Service keys (x-api-key) are callers too, one per scope set of a service account of the
// callers' account: every field that needs a caller is FORBIDDEN to them (a machine is no
// person, has no role, mints no credential), NOT_FOUND for a null-refusing one, except the
// fields opened to them — by the schema (@hasRole(serviceKeys: true)) or, for a field without
// a role, by its entry (mxOp.serviceOpen) — which need the scope of the field's @hasScope
// (or mxOp.serviceScope) and reach their own account only: the users an account admin
// manages (managerSees: both matrix users are members of the key's account), nobody else's
// objects; public fields answer them as anyone (mxServiceRules).
//
// Ending a session (deleteSession, deleteSessions) is allowed against sessions wider than the
// caller on purpose: ending gives no power. A credential (a key secret, a session or refresh
// token, a TOTP secret, recovery codes) appears only in the answer of the field that issues
// it, and never in a refusal or a listing.
//
// A schema field without an entry, or an entry naming a field the schema no longer has, fails
// the test: a new field must say who may call it.

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/authgraph/authgraph/graph"
	"github.com/authgraph/authgraph/internal/gid"
)

// mxCaller is a kind of caller. A key caller signs in with a key of its user made with
// scopes (nil: a key made without scopes, which holds every scope a key of the user may).
// A key with no scope at all cannot be made (an empty list is BAD_USER_INPUT, checked
// below), so the narrowest callers are the single-scope ones.
type mxCaller struct {
	name     string
	anon     bool
	service  bool   // a service key of the callers' account, holding scopes
	role     string // MEMBER or ADMIN
	password bool
	scopes   []string
}

// keyScopesOf is what a key made without scopes holds, as the schema documents on
// UserKey.scopes: every scope but account:write, and admin only for admins.
func keyScopesOf(role string) []string {
	s := []string{"read", "keys:write", "sessions:write"}
	if role == "ADMIN" || role == "ACCOUNT_ADMIN" {
		s = append(s, "admin")
	}
	return s
}

// effective answers the scopes the caller's session holds; nil for a password session,
// which holds them all.
func (c mxCaller) effective() []string {
	switch {
	case c.password:
		return nil
	case c.scopes == nil:
		return keyScopesOf(c.role)
	}
	return c.scopes
}

func (c mxCaller) holds(sc string) bool {
	return !c.anon && (c.password || slices.Contains(c.effective(), sc))
}

// covers reports whether the caller's session may obtain or control a credential holding
// scopes (rule 5).
func (c mxCaller) covers(scopes []string) bool {
	if c.anon {
		return false
	}
	for _, sc := range scopes {
		if !c.holds(sc) {
			return false
		}
	}
	return true
}

func mxCallers() []mxCaller {
	out := []mxCaller{{name: "anonymous", anon: true, role: "MEMBER"}}
	for _, role := range []string{"MEMBER", "ACCOUNT_ADMIN", "ADMIN"} {
		r := strings.ToLower(role)
		out = append(out, mxCaller{name: r + "/password", role: role, password: true},
			mxCaller{name: r + "/key:full", role: role})
		for _, sc := range keyScopesOf(role) {
			out = append(out, mxCaller{name: r + "/key:" + sc, role: role, scopes: []string{sc}})
		}
	}
	for _, sc := range [][]string{{"read"}, {"admin"}, {"read", "admin"}} {
		out = append(out, mxCaller{name: "service/key:" + strings.Join(sc, "+"), service: true, role: "MEMBER", scopes: sc})
	}
	return out
}

type mxObject string

const (
	own   mxObject = "own"
	other mxObject = "other"
)

// mxReach says whose objects a targeted field reaches.
type mxReach int

const (
	ownOnly   mxReach = iota + 1 // the caller's own only; anyone else's is NOT_FOUND
	adminSees                    // also anyone's, for an admin session holding the admin scope
	// managerSees: also a user of the caller's account, for an admin or account admin
	// session holding the admin scope (the matrix's other user is a member of the caller's
	// account).
	managerSees
)

// mxWorld is what one case runs against, made fresh for it: the caller's user (u) and another
// user (o), each with a password session, a second session and a key made without scopes.
type mxWorld struct {
	uName, uPass, uID, uPw, uExtra, uExtraID string
	uFull                                    userKey
	oID, oExtraID                            string
	oFull                                    userKey
	caller                                   string // the caller's token ("" for anonymous)
	apiKey                                   string // a service key caller's secret
	admin                                    string // the bootstrap admin's token
	role                                     string
	n                                        int64 // unique per case
	srv                                      *testServer
	t                                        *testing.T
}

// mxOp is one runnable operation of an entry.
type mxOp struct {
	label string
	query string
	// field is the root field whose answer the op reads (data[field]).
	field string
	vars  func(w *mxWorld, obj mxObject) map[string]any
	// targeted ops run against own and other objects; the others once.
	targeted bool
	reach    mxReach
	// extraScope is a scope the field's description requires beyond its directives.
	extraScope string
	// grants answers the scopes of the credential the op would give or control on the
	// caller's own object (rule 5); nil: none, or one that inherits the session's.
	grants func(role string) []string
	// needsRole: the op asks for something (a role to give) that only this role or a higher
	// one may; FORBIDDEN below it.
	needsRole string
	// passed is the answer once authorized, per object; OK if absent.
	passed map[mxObject]string
	// session: the field carries no guard directive (a federation router must reach it) and
	// guards itself as @auth would (rule 1); with extraScope, as @hasScope would (rule 3).
	session bool
	// nullRefusal: the field refuses with a null answer, never an error code, whatever the
	// reason (rules 1-4), so that a refusal tells nothing: every refusal is observed as
	// NOT_FOUND.
	nullRefusal bool
	// elem: the field answers a list of one item for the op's one input; the op reads the item.
	elem bool
	// serviceOpen: a service key may call the field (own account only) if it holds
	// serviceScope (default: the scope of the field's @hasScope). A field with @hasRole is
	// opened by the schema (serviceKeys: true), never here.
	serviceOpen  bool
	serviceScope string
	// servicePassed is the answer to a service key once authorized, per object; OK if
	// absent (passed is a person's: "not on yourself" means nothing to a machine).
	servicePassed map[mxObject]string
	// issues: dotted paths (from data) of credentials the answer carries when OK.
	issues []string
	// never: dotted paths of credential fields that must be null in every answer.
	never []string
}

// mxEntry is the matrix entry of one schema field: a root field (Query.x, Mutation.x) or a
// credential field of a type (UserKey.secret).
type mxEntry struct {
	field string
	// via: for a type's credential field, the root field its ops go through (its directives
	// apply).
	via string
	// issuedBy: for a credential field, the root fields whose answer may carry it. Every
	// field that returns the credential's type must be one of them or be listed in readBy.
	issuedBy []string
	// readBy: the fields through which the credential's type is read without issuing it; the
	// entry's ops read the credential through them and find it null.
	readBy []string
	ops    []mxOp
}

// credentialField matches the names of fields that carry a credential.
var credentialField = regexp.MustCompile(`(?i)(token|secret|password|recoveryCodes|uri)$`)

var mxSeq atomic.Int64

func mxEntries() []mxEntry {
	noVars := func(*mxWorld, mxObject) map[string]any { return nil }
	userID := func(w *mxWorld, obj mxObject) map[string]any {
		if obj == other {
			return map[string]any{"id": w.oID}
		}
		return map[string]any{"id": w.uID}
	}
	fullKey := func(w *mxWorld, obj mxObject) map[string]any {
		if obj == other {
			return map[string]any{"id": w.oFull.id}
		}
		return map[string]any{"id": w.uFull.id}
	}
	fullKeyScopes := func(role string) []string { return keyScopesOf(role) }
	webhookID := func(*mxWorld, mxObject) map[string]any {
		return map[string]any{"id": gid.ID{Type: "Webhook", N: 999_999}.String()}
	}
	adminOp := func(label, q, field string, passed map[mxObject]string) mxOp {
		return mxOp{label: label, query: q, field: field, targeted: true, reach: managerSees, vars: userID, passed: passed}
	}
	readCredentials := `query($id: ObjectID!) { user(id: $id) {
		userKeys { nodes { id secret } edges { node { secret } } }
		sessions { nodes { id token refreshToken userKey { secret } } edges { node { token refreshToken } } } } }`
	credentialPaths := []string{"user.userKeys.nodes.secret", "user.userKeys.edges.node.secret",
		"user.sessions.nodes.token", "user.sessions.nodes.refreshToken", "user.sessions.nodes.userKey.secret",
		"user.sessions.edges.node.token", "user.sessions.edges.node.refreshToken"}
	reader := mxOp{label: "read through user(id)", query: readCredentials, field: "user", targeted: true, reach: adminSees,
		vars: userID, never: credentialPaths}
	signIns := []string{"Mutation.createSessionUsingUsername", "Mutation.createSessionUsingUserKey",
		"Mutation.createSessionUsingExternalToken", "Mutation.refreshSession", "Mutation.createSessionUsingEmailCode",
		"Mutation.createSessionUsingPasskey", "Mutation.createSessionUsingAuthorizationCode"}
	// A public request for a mail: the same answer for every caller, whoever owns the address.
	mailRequest := func(field string) mxEntry {
		return mxEntry{field: "Mutation." + field, ops: []mxOp{{field: field,
			query: fmt.Sprintf(`mutation($e: String!) { %s(input: {email: $e}) { email } }`, field),
			vars: func(w *mxWorld, _ mxObject) map[string]any {
				return map[string]any{"e": fmt.Sprintf("nobody%d@example.com", w.n)}
			}}}}
	}
	// A public use of an emailed token: an unknown one is TOKEN_INVALID for every caller.
	badToken := "age_" + strings.Repeat("A", 43) + "AAAAAA"
	tokenUse := func(field, q string) mxEntry {
		return mxEntry{field: "Mutation." + field, ops: []mxOp{{field: field, query: q, passed: map[mxObject]string{own: "TOKEN_INVALID"},
			vars: func(*mxWorld, mxObject) map[string]any { return map[string]any{"t": badToken} }}}}
	}

	// Service accounts of the matrix: own is one of the callers' account (1) holding read and
	// admin; other one of another account holding admin only, so that only ADMINs reach it
	// and every ADMIN caller that does covers it.
	serviceAccount := func(w *mxWorld, obj mxObject) string {
		if obj == other {
			acct := ok(w.t, "createAccount", w.srv.post(w.t, w.admin, `mutation($s: String!) { createAccount(input: {slug: $s, name: "Other"}) { id } }`,
				map[string]any{"s": fmt.Sprintf("svc-%d", w.n)})).str(w.t, "createAccount.id")
			return createSA(w.t, w.srv, w.admin, acct, "other", []string{"admin"})
		}
		return createSA(w.t, w.srv, w.admin, "1", "own", nil)
	}
	saVars := func(w *mxWorld, obj mxObject) map[string]any { return map[string]any{"id": serviceAccount(w, obj)} }
	skVars := func(w *mxWorld, obj mxObject) map[string]any {
		return map[string]any{"id": createSK(w.t, w.srv, w.admin, serviceAccount(w, obj), nil).id}
	}
	saGrants := func(string) []string { return []string{"read", "admin"} }

	return []mxEntry{
		{field: "Query.version", ops: []mxOp{{query: `{ version }`, field: "version", vars: noVars}}},
		{field: "Query.me", ops: []mxOp{{query: `{ me { id userKeys { nodes { secret } } sessions { nodes { token refreshToken } } } }`,
			field: "me", vars: noVars, never: []string{"me.userKeys.nodes.secret", "me.sessions.nodes.token", "me.sessions.nodes.refreshToken"}}}},
		{field: "Query.user", ops: []mxOp{{query: `query($id: ObjectID!) { user(id: $id) { id username role disabled account { id } } }`,
			field: "user", targeted: true, reach: managerSees, vars: userID, serviceOpen: true}}},
		{field: "Query.users", ops: []mxOp{{query: `{ users { nodes { id } } }`, field: "users", vars: noVars}}},
		// A person needs the ADMIN role and admin; a service key read (its own account alone).
		{field: "Query.accounts", ops: []mxOp{{query: `{ accounts { nodes { id slug } } }`, field: "accounts", vars: noVars,
			extraScope: "admin"}}},
		// Federation. _service is the schema, as introspection answers it. _entities is public
		// in the schema, since a router calls it, and guards itself: user(id:)'s rules (a
		// session with the read scope; yourself, or anyone for an admin holding the admin
		// scope; accounts likewise), answering null for every refusal, and without a session.
		{field: "Query._service", ops: []mxOp{{query: `{ _service { sdl } }`, field: "_service", vars: noVars}}},
		{field: "Query._entities", ops: []mxOp{
			{label: "a user", field: "_entities", elem: true, targeted: true, reach: adminSees, session: true, extraScope: "read", nullRefusal: true,
				query: `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id username } } }`,
				vars: func(w *mxWorld, obj mxObject) map[string]any {
					return map[string]any{"r": []map[string]any{{"__typename": "User", "id": userID(w, obj)["id"]}}}
				}},
			{label: "an account", field: "_entities", elem: true, targeted: true, reach: adminSees, session: true, extraScope: "read", nullRefusal: true,
				query: `query($r: [_Any!]!) { _entities(representations: $r) { ... on Account { id slug } } }`,
				vars: func(w *mxWorld, obj mxObject) map[string]any {
					id := "1" // the default account, the matrix users'
					if obj == other {
						id = ok(w.t, "createAccount", w.srv.post(w.t, w.admin, `mutation($s: String!) { createAccount(input: {slug: $s, name: "Other"}) { id } }`,
							map[string]any{"s": fmt.Sprintf("other-%d", w.n)})).str(w.t, "createAccount.id")
					}
					return map[string]any{"r": []map[string]any{{"__typename": "Account", "id": id}}}
				}},
		}},
		// Webhooks: the embedded store has none, and the matrix's URL (a loopback address,
		// without AUTHGRAPH_WEBHOOK_ALLOW_PRIVATE) is refused on Redis: BAD_USER_INPUT on both,
		// once authorized. The ids name no endpoint: NOT_FOUND.
		{field: "Query.webhooks", ops: []mxOp{{query: `{ webhooks { id url } }`, field: "webhooks", vars: noVars}}},
		{field: "Mutation.createWebhook", ops: []mxOp{{query: `mutation { createWebhook(input: {url: "http://127.0.0.1:9/hook"}) { id secret } }`,
			field: "createWebhook", vars: noVars, passed: map[mxObject]string{own: "BAD_USER_INPUT"}}}},
		{field: "Mutation.deleteWebhook", ops: []mxOp{{query: `mutation($id: ObjectID!) { deleteWebhook(input: {webhookId: $id}) { webhookId } }`,
			field: "deleteWebhook", vars: webhookID, passed: map[mxObject]string{own: "NOT_FOUND"}}}},
		{field: "Mutation.redeliverWebhookEvent", ops: []mxOp{{query: `mutation($id: ObjectID!) { redeliverWebhookEvent(input: {webhookId: $id, eventId: "msg_x"}) }`,
			field: "redeliverWebhookEvent", vars: webhookID, passed: map[mxObject]string{own: "NOT_FOUND"}}}},
		{field: "Query.auditEvents", ops: []mxOp{{query: `{ auditEvents { nodes { id type outcome } } }`, field: "auditEvents", vars: noVars},
			{label: "one user's trail", query: `query($id: ObjectID!) { auditEvents(filter: {user: $id}) { nodes { id type } } }`,
				field: "auditEvents", targeted: true, reach: managerSees, vars: userID}}},

		{field: "Mutation.createSessionUsingUsername", ops: []mxOp{{
			query: `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`,
			field: "createSessionUsingUsername", issues: []string{"createSessionUsingUsername.token"},
			vars: func(w *mxWorld, _ mxObject) map[string]any { return map[string]any{"u": w.uName, "p": w.uPass} }}}},
		{field: "Mutation.createSessionUsingUserKey", ops: []mxOp{{
			query: qKeyLogin, field: "createSessionUsingUserKey", issues: []string{"createSessionUsingUserKey.token"},
			vars: func(w *mxWorld, _ mxObject) map[string]any {
				return map[string]any{"id": w.uFull.id, "s": w.uFull.secret}
			}}}},
		{field: "Mutation.createSessionUsingExternalToken", ops: []mxOp{{
			// No issuer configured: every caller gets the same BAD_USER_INPUT.
			query: `mutation { createSessionUsingExternalToken(input: {token: "x.y.z"}) { token } }`,
			field: "createSessionUsingExternalToken", vars: noVars, passed: map[mxObject]string{own: "BAD_USER_INPUT"}}}},
		{field: "Mutation.refreshSession", ops: []mxOp{{
			query: `mutation($r: String) { refreshSession(input: {refreshToken: $r}) { token refreshToken } }`,
			field: "refreshSession", issues: []string{"refreshSession.token", "refreshSession.refreshToken"},
			vars: func(w *mxWorld, _ mxObject) map[string]any {
				p, _ := w.srv.loginRefreshable(w.t, w.uName, w.uPass)
				return map[string]any{"r": p.refresh}
			}}}},

		{field: "Mutation.createUserKey", ops: []mxOp{
			{label: "without scopes (inherits the session's)", query: qCreateKey, field: "createUserKey", vars: noVars,
				issues: []string{"createUserKey.secret"}},
			{label: "with every scope of the user's keys", query: qCreateKey, field: "createUserKey",
				vars:   func(w *mxWorld, _ mxObject) map[string]any { return map[string]any{"s": keyScopesOf(w.role)} },
				grants: fullKeyScopes, issues: []string{"createUserKey.secret"}},
		}},
		{field: "Mutation.rerollUserKey", ops: []mxOp{{label: "a key made without scopes", query: qReroll, field: "rerollUserKey",
			targeted: true, reach: ownOnly, vars: fullKey, grants: fullKeyScopes, issues: []string{"rerollUserKey.secret"}}}},
		{field: "Mutation.deleteUserKey", ops: []mxOp{{label: "a key made without scopes",
			query: `mutation($id: ObjectID!) { deleteUserKey(input: {userKeyId: $id}) { userKey { id secret } } }`, field: "deleteUserKey",
			targeted: true, reach: ownOnly, vars: fullKey, grants: fullKeyScopes, never: []string{"deleteUserKey.userKey.secret"}}}},
		{field: "Mutation.deleteSession", ops: []mxOp{
			{label: "log out", query: `mutation { deleteSession { id } }`, field: "deleteSession", vars: noVars},
			{label: "a password session of the user", query: `mutation($id: ObjectID!) { deleteSession(input: {sessionId: $id}) { id token refreshToken } }`,
				field: "deleteSession", targeted: true, reach: ownOnly, extraScope: "sessions:write",
				never: []string{"deleteSession.token", "deleteSession.refreshToken"},
				vars: func(w *mxWorld, obj mxObject) map[string]any {
					if obj == other {
						return map[string]any{"id": w.oExtraID}
					}
					return map[string]any{"id": w.uExtraID}
				}},
		}},
		{field: "Mutation.deleteSessions", ops: []mxOp{{query: qEndSessions, field: "deleteSessions",
			vars: func(*mxWorld, mxObject) map[string]any { return map[string]any{"s": "OTHERS"} }}}},
		{field: "Mutation.changePassword", ops: []mxOp{{query: qChangePass, field: "changePassword",
			vars: func(w *mxWorld, _ mxObject) map[string]any {
				return map[string]any{"c": w.uPass, "n": "a-brand-new-password"}
			}}}},
		{field: "Mutation.createUser", ops: []mxOp{{label: "an admin", field: "createUser", needsRole: "ADMIN",
			query: `mutation($u: String!) { createUser(input: {username: $u, password: "matrix-password", role: ADMIN}) { id } }`,
			vars:  func(w *mxWorld, _ mxObject) map[string]any { return map[string]any{"u": fmt.Sprintf("made%d", w.n)} }},
			{label: "a member", field: "createUser",
				query: `mutation($u: String!) { createUser(input: {username: $u, password: "matrix-password"}) { id } }`,
				vars:  func(w *mxWorld, _ mxObject) map[string]any { return map[string]any{"u": fmt.Sprintf("member%d", w.n)} }}}},
		{field: "Mutation.createAccount", ops: []mxOp{{field: "createAccount",
			query: `mutation($s: String!) { createAccount(input: {slug: $s, name: "Matrix"}) { id } }`,
			vars:  func(w *mxWorld, _ mxObject) map[string]any { return map[string]any{"s": fmt.Sprintf("acct-%d", w.n)} }}}},
		{field: "Mutation.enableTotp", ops: []mxOp{{query: `mutation($p: String!) { enableTotp(input: {password: $p}) { secret uri } }`, field: "enableTotp",
			vars:   func(w *mxWorld, _ mxObject) map[string]any { return map[string]any{"p": w.uPass} },
			issues: []string{"enableTotp.secret", "enableTotp.uri"}}}},
		{field: "Mutation.confirmTotp", ops: []mxOp{{
			// No enrolment under way: CONFLICT once authorized.
			query: `mutation { confirmTotp(input: {code: "000000"}) { recoveryCodes } }`, field: "confirmTotp", vars: noVars,
			passed: map[mxObject]string{own: "CONFLICT"}}}},
		{field: "Mutation.disableTotp", ops: []mxOp{{
			// TOTP is off: CONFLICT once authorized.
			query: `mutation($p: String) { disableTotp(input: {password: $p}) { user { id } } }`, field: "disableTotp",
			vars:   func(w *mxWorld, _ mxObject) map[string]any { return map[string]any{"p": w.uPass} },
			passed: map[mxObject]string{own: "CONFLICT"}}}},
		// Passkeys (on: the matrix's public URL is on localhost). No op completes a ceremony
		// (e2e_passkey_test.go does, with a software authenticator): what is checked here is
		// who reaches each field, and what a bogus response gets once authorized.
		{field: "Mutation.beginPasskeyRegistration", ops: []mxOp{{query: `mutation { beginPasskeyRegistration }`,
			field: "beginPasskeyRegistration", vars: noVars}}},
		{field: "Mutation.finishPasskeyRegistration", ops: []mxOp{{
			query: `mutation { finishPasskeyRegistration(input: {name: "x", response: "{}"}) { id } }`,
			field: "finishPasskeyRegistration", vars: noVars, passed: map[mxObject]string{own: "BAD_USER_INPUT"}}}},
		{field: "Mutation.renamePasskey", ops: []mxOp{{label: "no such passkey",
			query: `mutation { renamePasskey(input: {passkeyId: "999999999", name: "x"}) { id } }`,
			field: "renamePasskey", vars: noVars, passed: map[mxObject]string{own: "NOT_FOUND"}}}},
		{field: "Mutation.deletePasskey", ops: []mxOp{{label: "no such passkey",
			query: `mutation { deletePasskey(input: {passkeyId: "999999999"}) { id } }`,
			field: "deletePasskey", vars: noVars, passed: map[mxObject]string{own: "NOT_FOUND"}}}},
		{field: "Mutation.beginPasskeySignIn", ops: []mxOp{{query: `mutation { beginPasskeySignIn }`,
			field: "beginPasskeySignIn", vars: noVars}}},
		{field: "Mutation.createSessionUsingPasskey", ops: []mxOp{{
			query: `mutation { createSessionUsingPasskey(input: {response: "{}"}) { token } }`,
			field: "createSessionUsingPasskey", vars: noVars, passed: map[mxObject]string{own: "BAD_USER_INPUT"}}}},
		{field: "Mutation.disableUser", ops: []mxOp{adminOp("", `mutation($id: ObjectID!) { disableUser(input: {userId: $id}) { id } }`,
			"disableUser", map[mxObject]string{own: "BAD_USER_INPUT"})}},
		{field: "Mutation.enableUser", ops: []mxOp{adminOp("", `mutation($id: ObjectID!) { enableUser(input: {userId: $id}) { id } }`,
			"enableUser", nil)}},
		{field: "Mutation.deleteUserSessions", ops: []mxOp{adminOp("", `mutation($id: ObjectID!) { deleteUserSessions(input: {userId: $id}) }`,
			"deleteUserSessions", nil)}},
		{field: "Mutation.deleteUser", ops: []mxOp{adminOp("", `mutation($id: ObjectID!) { deleteUser(input: {userId: $id}) { user { id } } }`,
			"deleteUser", map[mxObject]string{own: "BAD_USER_INPUT"})}},
		{field: "Mutation.setUserRole", ops: []mxOp{adminOp("", `mutation($id: ObjectID!) { setUserRole(input: {userId: $id, role: MEMBER}) { id role } }`,
			"setUserRole", map[mxObject]string{own: "BAD_USER_INPUT"})}},
		{field: "Mutation.renameUser", ops: []mxOp{{field: "renameUser", targeted: true, reach: managerSees,
			query: `mutation($id: ObjectID!, $u: String!) { renameUser(input: {userId: $id, username: $u}) { id username } }`,
			vars: func(w *mxWorld, obj mxObject) map[string]any {
				v := userID(w, obj)
				v["u"] = fmt.Sprintf("renamed%d", w.n)
				return v
			}}}},
		{field: "Mutation.renameAccount", ops: []mxOp{{field: "renameAccount",
			// The default account, made first on the server's fresh store.
			query: `mutation($n: String!) { renameAccount(input: {accountId: "1", name: $n}) { id name } }`,
			vars: func(w *mxWorld, _ mxObject) map[string]any {
				return map[string]any{"n": fmt.Sprintf("Renamed %d", w.n)}
			}}}},
		{field: "Mutation.deleteAccount", ops: []mxOp{{field: "deleteAccount",
			// The default account cannot be deleted: BAD_USER_INPUT once authorized.
			query:  `mutation { deleteAccount(input: {accountId: "1", withUsers: true}) { account { id } } }`,
			vars:   noVars,
			passed: map[mxObject]string{own: "BAD_USER_INPUT"}}}},
		{field: "Mutation.setUserEmail", ops: []mxOp{{field: "setUserEmail", targeted: true, reach: managerSees,
			query: `mutation($id: ObjectID!, $e: String) { setUserEmail(input: {userId: $id, email: $e}) { id email } }`,
			vars: func(w *mxWorld, obj mxObject) map[string]any {
				v := userID(w, obj)
				v["e"] = fmt.Sprintf("matrix%d@example.com", w.n)
				return v
			}}}},

		{field: "Mutation.signUp", ops: []mxOp{{field: "signUp",
			// The deployment's policy is CLOSED: FORBIDDEN for everyone, signed in or not.
			query:  `mutation($u: String!, $e: String!) { signUp(input: {username: $u, email: $e, password: "a-long-sign-up-password"}) { email } }`,
			passed: map[mxObject]string{own: "FORBIDDEN"},
			vars: func(w *mxWorld, _ mxObject) map[string]any {
				return map[string]any{"u": fmt.Sprintf("signup%d", w.n), "e": fmt.Sprintf("signup%d@example.com", w.n)}
			}}}},
		mailRequest("requestPasswordReset"),
		mailRequest("requestSignInCode"),
		mailRequest("requestEmailVerification"),
		tokenUse("verifyEmail", `mutation($t: String!) { verifyEmail(input: {token: $t}) { id } }`),
		tokenUse("resetPassword", `mutation($t: String!) { resetPassword(input: {token: $t, newPassword: "a-long-new-password"}) { id } }`),
		tokenUse("acceptInvitation", `mutation($t: String!) { acceptInvitation(input: {token: $t, password: "a-long-new-password"}) { id } }`),
		{field: "Mutation.createSessionUsingEmailCode", ops: []mxOp{{field: "createSessionUsingEmailCode",
			query:  `mutation($e: String!) { createSessionUsingEmailCode(input: {email: $e, code: "000000"}) { token refreshToken } }`,
			passed: map[mxObject]string{own: "TOKEN_INVALID"},
			vars: func(w *mxWorld, _ mxObject) map[string]any {
				return map[string]any{"e": fmt.Sprintf("nobody%d@example.com", w.n)}
			}}}},
		{field: "Mutation.changeEmail", ops: []mxOp{{field: "changeEmail",
			query: `mutation($e: String!, $p: String!) { changeEmail(input: {email: $e, password: $p}) { email } }`,
			vars: func(w *mxWorld, _ mxObject) map[string]any {
				return map[string]any{"e": fmt.Sprintf("changed%d@example.com", w.n), "p": w.uPass}
			}}}},
		{field: "Mutation.sendPasswordReset", ops: []mxOp{adminOp("", `mutation($id: ObjectID!) { sendPasswordReset(input: {userId: $id}) { id } }`,
			// The matrix's users have no address: BAD_USER_INPUT once authorized.
			"sendPasswordReset", map[mxObject]string{own: "BAD_USER_INPUT", other: "BAD_USER_INPUT"})}},
		{field: "Mutation.createInvitation", ops: []mxOp{{field: "createInvitation", label: "an admin", needsRole: "ADMIN",
			query: `mutation($u: String!, $e: String!) { createInvitation(input: {username: $u, email: $e, role: ADMIN}) { id } }`,
			vars: func(w *mxWorld, _ mxObject) map[string]any {
				return map[string]any{"u": fmt.Sprintf("invadmin%d", w.n), "e": fmt.Sprintf("invadmin%d@example.com", w.n)}
			}}, {field: "createInvitation", label: "a member",
			query: `mutation($u: String!, $e: String!) { createInvitation(input: {username: $u, email: $e}) { id } }`,
			vars: func(w *mxWorld, _ mxObject) map[string]any {
				return map[string]any{"u": fmt.Sprintf("invited%d", w.n), "e": fmt.Sprintf("invited%d@example.com", w.n)}
			}}}},
		// Sign-in through a provider. None is configured here: the list is empty for
		// everyone, and a code is BAD_USER_INPUT (unknown provider) for every caller.
		{field: "Query.signInProviders", ops: []mxOp{{field: "signInProviders",
			query: `query { signInProviders { name displayName } }`, vars: noVars}}},
		{field: "Mutation.createSessionUsingAuthorizationCode", ops: []mxOp{{field: "createSessionUsingAuthorizationCode",
			query: `mutation { createSessionUsingAuthorizationCode(input: {provider: "acme", code: "c", ` +
				`codeVerifier: "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv", redirectUri: "https://app.example/cb"}) { token refreshToken } }`,
			vars: noVars, passed: map[mxObject]string{own: "BAD_USER_INPUT"}}}},
		// The matrix's users have no linked identity: NOT_FOUND once authorized.
		{field: "Mutation.unlinkIdentity", ops: []mxOp{{field: "unlinkIdentity",
			query: `mutation { unlinkIdentity(input: {provider: "acme", subject: "nobody"}) { id } }`,
			vars:  noVars, passed: map[mxObject]string{own: "NOT_FOUND"}}}},
		{field: "Mutation.setAccountSignUpPolicy", ops: []mxOp{{field: "setAccountSignUpPolicy",
			// The default account: CLOSED is what it follows anyway.
			query: `mutation { setAccountSignUpPolicy(input: {accountId: "1", policy: CLOSED}) { id signUpPolicy } }`,
			vars:  noVars}}},

		// Service accounts and keys. Reading is open to service keys holding read (their own
		// account's); managing is not (no minting).
		{field: "Query.serviceAccounts", ops: []mxOp{{query: `{ serviceAccounts(account: "1") { id name } }`, field: "serviceAccounts",
			vars: noVars, extraScope: "admin", needsRole: "ACCOUNT_ADMIN", serviceOpen: true}}},
		{field: "Mutation.createServiceAccount", ops: []mxOp{{field: "createServiceAccount", grants: saGrants,
			query: `mutation($n: String!) { createServiceAccount(input: {account: "1", name: $n}) { id } }`,
			vars:  func(w *mxWorld, _ mxObject) map[string]any { return map[string]any{"n": fmt.Sprintf("sa%d", w.n)} }}}},
		{field: "Mutation.renameServiceAccount", ops: []mxOp{{field: "renameServiceAccount", targeted: true, reach: adminSees, grants: saGrants,
			query: `mutation($id: ObjectID!) { renameServiceAccount(input: {serviceAccountId: $id, name: "renamed"}) { id } }`, vars: saVars}}},
		{field: "Mutation.setServiceAccountDisabled", ops: []mxOp{{field: "setServiceAccountDisabled", targeted: true, reach: adminSees, grants: saGrants,
			query: `mutation($id: ObjectID!) { setServiceAccountDisabled(input: {serviceAccountId: $id, disabled: true}) { id } }`, vars: saVars}}},
		{field: "Mutation.deleteServiceAccount", ops: []mxOp{{field: "deleteServiceAccount", targeted: true, reach: adminSees, grants: saGrants,
			query: qDeleteSA, vars: saVars}}},
		{field: "Mutation.createServiceKey", ops: []mxOp{{field: "createServiceKey", targeted: true, reach: adminSees, grants: saGrants,
			query: `mutation($id: ObjectID!) { createServiceKey(input: {serviceAccountId: $id, name: "k"}) { id secret } }`, vars: saVars,
			issues: []string{"createServiceKey.secret"}}}},
		{field: "Mutation.rerollServiceKey", ops: []mxOp{{field: "rerollServiceKey", targeted: true, reach: adminSees, grants: saGrants,
			query: qRerollSK, vars: skVars, issues: []string{"rerollServiceKey.secret"}}}},
		{field: "Mutation.deleteServiceKey", ops: []mxOp{{field: "deleteServiceKey", targeted: true, reach: adminSees, grants: saGrants,
			query: qDeleteSK, vars: skVars}}},

		// Credentials carried by types. Each appears only in the answer of the fields that
		// issue it; wherever its type is listed, it is null.
		{field: "UserKey.secret", via: "Query.user",
			issuedBy: []string{"Mutation.createUserKey", "Mutation.rerollUserKey"},
			readBy:   []string{"UserKeyConnection.nodes", "UserKeyEdge.node", "Session.userKey", "DeleteUserKeyPayload.userKey"},
			ops:      []mxOp{reader}},
		{field: "Session.token", via: "Query.user",
			issuedBy: append(slices.Clone(signIns), "Mutation.deleteSession"),
			readBy:   []string{"SessionConnection.nodes", "SessionEdge.node"},
			ops:      []mxOp{reader}},
		{field: "Session.refreshToken", via: "Query.user",
			issuedBy: slices.Clone(signIns),
			readBy:   []string{"SessionConnection.nodes", "SessionEdge.node", "Mutation.deleteSession"},
			ops:      []mxOp{reader}},
		// Only the mutation that makes them answers these types at all: no ops of their own
		// (enableTotp and confirmTotp above run every caller).
		{field: "TotpEnrollment.secret", issuedBy: []string{"Mutation.enableTotp"}},
		// A webhook's signing secret: only createWebhook answers it (TestWebhooksEndToEnd
		// checks the list shows it null once endpoints exist).
		{field: "Webhook.secret", via: "Query.webhooks", issuedBy: []string{"Mutation.createWebhook"}, readBy: []string{"Query.webhooks"},
			ops: []mxOp{{query: `{ webhooks { id secret } }`, field: "webhooks", vars: noVars}}},
		{field: "TotpEnrollment.uri", issuedBy: []string{"Mutation.enableTotp"}},
		// A service key's secret: only the mutations that make or reroll it answer it.
		{field: "ServiceKey.secret", via: "Query.serviceAccounts",
			issuedBy: []string{"Mutation.createServiceKey", "Mutation.rerollServiceKey"},
			readBy:   []string{"ServiceAccount.keys"},
			ops: []mxOp{{query: `{ serviceAccounts(account: "1") { keys { id secret } } }`, field: "serviceAccounts",
				extraScope: "admin", needsRole: "ACCOUNT_ADMIN", serviceOpen: true, serviceScope: "read", never: []string{"serviceAccounts.keys.secret"},
				vars: func(w *mxWorld, obj mxObject) map[string]any { skVars(w, own); return nil }}}},
		{field: "ConfirmTotpPayload.recoveryCodes", issuedBy: []string{"Mutation.confirmTotp"}},
	}
}

// mxSchemaFields answers the fields the matrix must cover: every root field,
// and every field of an object type whose name says it carries a credential.
func mxSchemaFields(schema *ast.Schema) []string {
	var out []string
	for _, root := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		if root == nil {
			continue
		}
		for _, f := range root.Fields {
			if !strings.HasPrefix(f.Name, "__") {
				out = append(out, root.Name+"."+f.Name)
			}
		}
	}
	for _, def := range schema.Types {
		if def.Kind != ast.Object || def == schema.Query || def == schema.Mutation || def == schema.Subscription || strings.HasPrefix(def.Name, "__") {
			continue
		}
		for _, f := range def.Fields {
			if credentialField.MatchString(f.Name) {
				out = append(out, def.Name+"."+f.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

func mxField(schema *ast.Schema, name string) *ast.FieldDefinition {
	typ, field, ok := strings.Cut(name, ".")
	def := schema.Types[typ]
	if !ok || def == nil {
		return nil
	}
	return def.Fields.ForName(field)
}

// mxReturning answers every field of an object type whose type is typ (lists and non-null
// unwrapped).
func mxReturning(schema *ast.Schema, typ string) []string {
	var out []string
	for _, def := range schema.Types {
		if def.Kind != ast.Object || strings.HasPrefix(def.Name, "__") {
			continue
		}
		for _, f := range def.Fields {
			if f.Type.Name() == typ {
				out = append(out, def.Name+"."+f.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// mxIncomplete answers what the entries miss of the schema, and what they name that the
// schema does not have: a new field must say who may call it.
func mxIncomplete(schema *ast.Schema, entries []mxEntry) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	listed := map[string]bool{}
	for _, e := range entries {
		if listed[e.field] {
			bad("two entries for %s", e.field)
		}
		listed[e.field] = true
		if mxField(schema, e.field) == nil {
			bad("the matrix has an entry for %s, which the schema no longer has", e.field)
		}
		for _, name := range append(slices.Clone(e.issuedBy), e.readBy...) {
			if mxField(schema, name) == nil {
				bad("%s: %s is not a field of the schema", e.field, name)
			}
		}
		if e.via != "" && mxField(schema, e.via) == nil {
			bad("%s: via %s is not a field of the schema", e.field, e.via)
		}
		if typ, _, _ := strings.Cut(e.field, "."); typ != "Query" && typ != "Mutation" && typ != "Subscription" {
			// Every way to the credential's type either issues it or is read through by
			// the entry's ops.
			for _, path := range mxReturning(schema, typ) {
				if !slices.Contains(e.issuedBy, path) && !slices.Contains(e.readBy, path) {
					bad("%s: %s answers a %s but neither issues the credential nor is read by the matrix", e.field, path, typ)
				}
			}
		} else if len(e.ops) == 0 {
			bad("%s has no operation to run", e.field)
		}
	}
	for _, name := range mxSchemaFields(schema) {
		if !listed[name] {
			bad("the schema field %s has no entry in the authorization matrix: say who may call it", name)
		}
	}
	return problems
}

// mxExpect computes a case's answer from the field's directives and the entry (rules 1-6).
func mxExpect(f *ast.FieldDefinition, op mxOp, c mxCaller, obj mxObject) string {
	want := mxRules(f, op, c, obj)
	if c.service {
		want = mxServiceRules(f, op, c, obj)
	}
	if op.nullRefusal && (want == "UNAUTHENTICATED" || want == "FORBIDDEN") {
		return "NOT_FOUND"
	}
	return want
}

func mxRules(f *ast.FieldDefinition, op mxOp, c mxCaller, obj mxObject) string {
	authd := f.Directives.ForName("auth")
	role := f.Directives.ForName("hasRole")
	scope := f.Directives.ForName("hasScope")
	if (authd != nil || role != nil || scope != nil || op.session) && c.anon {
		return "UNAUTHENTICATED"
	}
	if role != nil && !mxAtLeast(c.role, role.Arguments.ForName("role").Value.Raw) {
		return "FORBIDDEN"
	}
	if scope != nil && !c.holds(scope.Arguments.ForName("scope").Value.Raw) {
		return "FORBIDDEN"
	}
	if op.extraScope != "" && !c.holds(op.extraScope) {
		return "FORBIDDEN"
	}
	if obj == other {
		manager := c.role == "ADMIN" || op.reach == managerSees && c.role == "ACCOUNT_ADMIN"
		if op.reach == ownOnly || !(manager && c.holds("admin")) {
			return "NOT_FOUND"
		}
	}
	if op.needsRole != "" && !mxAtLeast(c.role, op.needsRole) {
		return "FORBIDDEN"
	}
	if op.grants != nil && obj == own && !c.covers(op.grants(c.role)) {
		return "FORBIDDEN"
	}
	if p, ok := op.passed[obj]; ok {
		return p
	}
	return "OK"
}

// mxServiceRules is the answer to a service key: a public field's own answer; a guarded one
// FORBIDDEN unless the op is open to service keys.
func mxServiceRules(f *ast.FieldDefinition, op mxOp, c mxCaller, obj mxObject) string {
	role, scope := f.Directives.ForName("hasRole"), f.Directives.ForName("hasScope")
	guarded := f.Directives.ForName("auth") != nil || role != nil || scope != nil || op.session
	open, need := op.serviceOpen, op.serviceScope
	if role != nil {
		arg := role.Arguments.ForName("serviceKeys")
		open = arg != nil && arg.Value.Raw == "true"
	}
	if need == "" && scope != nil {
		need = scope.Arguments.ForName("scope").Value.Raw
	}
	switch {
	case !guarded:
		return mxRules(f, op, c, obj)
	case !open || need == "" || !slices.Contains(c.scopes, need):
		return "FORBIDDEN"
	case obj == other && op.reach != managerSees:
		return "NOT_FOUND"
	}
	if p, ok := op.servicePassed[obj]; ok {
		return p
	}
	return "OK"
}

// mxAtLeast: ADMIN over ACCOUNT_ADMIN over MEMBER.
func mxAtLeast(role, min string) bool {
	rank := map[string]int{"MEMBER": 1, "ACCOUNT_ADMIN": 2, "ADMIN": 3}
	return rank[role] >= rank[min]
}

// mxObserved classifies an answer: its error code, NOT_FOUND for a null answer without one,
// else OK.
func mxObserved(r *gqlResponse, op mxOp) string {
	if c := r.code(); c != "" {
		return c
	}
	if mxAnswer(r, op) == nil {
		return "NOT_FOUND"
	}
	return "OK"
}

// mxAnswer answers what the op reads of r: data[field], or its one item for an elem op.
func mxAnswer(r *gqlResponse, op mxOp) any {
	if r.Data == nil {
		return nil
	}
	v := r.Data[op.field]
	if list, isList := v.([]any); op.elem && isList {
		if len(list) != 1 {
			return nil
		}
		return list[0]
	}
	return v
}

// mxValues collects every value at a dotted path of data, through lists.
func mxValues(v any, path []string) []any {
	if len(path) == 0 {
		return []any{v}
	}
	switch x := v.(type) {
	case map[string]any:
		return mxValues(x[path[0]], path[1:])
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, mxValues(e, path)...)
		}
		return out
	}
	return nil // null or missing on the way: nothing there
}

// newMxWorld makes the users, sessions and keys of one case, and the caller's session.
func newMxWorld(t *testing.T, srv *testServer, admin string, c mxCaller) *mxWorld {
	t.Helper()
	n := mxSeq.Add(1)
	w := &mxWorld{srv: srv, t: t, n: n, role: c.role, admin: admin, uName: fmt.Sprintf("u%d", n), uPass: fmt.Sprintf("u%d-matrix-password", n)}
	r := ok(t, "createUser", srv.post(t, admin, `mutation($u: String!, $p: String!, $r: Role) { createUser(input: {username: $u, password: $p, role: $r}) { id } }`,
		map[string]any{"u": w.uName, "p": w.uPass, "r": c.role}))
	w.uID = r.str(t, "createUser.id")
	w.uPw = srv.login(t, w.uName, w.uPass)
	w.uExtra = srv.login(t, w.uName, w.uPass)
	w.uExtraID = srv.currentSessionID(t, w.uExtra)
	w.uFull = srv.createKey(t, w.uPw, nil)

	oName, oPass := fmt.Sprintf("o%d", n), fmt.Sprintf("o%d-matrix-password", n)
	w.oID = srv.createUser(t, admin, oName, oPass)
	oPw := srv.login(t, oName, oPass)
	w.oExtraID = srv.currentSessionID(t, srv.login(t, oName, oPass))
	w.oFull = srv.createKey(t, oPw, nil)

	switch {
	case c.anon:
	case c.service:
		sa := ok(t, "createServiceAccount", srv.post(t, admin, qCreateSA, map[string]any{"a": "1", "n": fmt.Sprintf("mx%d", n)})).
			str(t, "createServiceAccount.id")
		w.apiKey = createSK(t, srv, admin, sa, map[string]any{"s": c.scopes}).secret
	case c.password:
		w.caller = w.uPw
	default:
		k := srv.createKey(t, w.uPw, c.scopes)
		w.caller = srv.keyLogin(t, k.id, k.secret)
	}
	return w
}

func TestAuthorizationMatrix(t *testing.T) {
	for _, store := range []string{"redis", "embedded"} {
		t.Run(store, func(t *testing.T) {
			env := map[string]string{
				// Cheap hashing and no attempt limits: the matrix makes thousands of users,
				// keys and sign-ins; what it checks is who may do what.
				"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_RATE_LIMITS": "off",
				"AUTHGRAPH_LOG_LEVEL": "warn", "AUTHGRAPH_PUBLIC_URL": "http://localhost:8080",
			}
			var srv *testServer
			if store == "redis" {
				srv, _ = startRedisServer(t, env)
			} else {
				srv = startServer(t, env)
			}
			runAuthorizationMatrix(t, srv)
		})
	}
}

func runAuthorizationMatrix(t *testing.T, srv *testServer) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	entries := mxEntries()

	for _, problem := range mxIncomplete(schema, entries) {
		t.Error(problem)
	}
	if t.Failed() {
		t.FailNow()
	}

	admin := srv.login(t, adminName, adminPass)
	// A key with no scope at all cannot be made, so single-scope keys are the narrowest.
	wantGQLCode(t, "a key with an empty scope list", srv.post(t, admin, qCreateKey, map[string]any{"s": []string{}}), "BAD_USER_INPUT")

	callers := mxCallers()
	cases, fields, ops, targeted := 0, 0, 0, 0
	for _, e := range entries {
		if len(e.ops) == 0 {
			continue
		}
		fields++
		ops += len(e.ops)
		rootName := e.field
		if e.via != "" {
			rootName = e.via
		}
		def := mxField(schema, rootName)
		for _, op := range e.ops {
			objects := []mxObject{own}
			if op.targeted {
				objects = append(objects, other)
				targeted++
			}
			for _, c := range callers {
				for _, obj := range objects {
					cases++
					w := newMxWorld(t, srv, admin, c)
					what := fmt.Sprintf("%s %s as %s on %s objects", e.field, op.label, c.name, obj)
					want := mxExpect(def, op, c, obj)
					var r *gqlResponse
					if c.service {
						r = srv.apiPost(t, w.apiKey, op.query, op.vars(w, obj))
					} else {
						r = srv.post(t, w.caller, op.query, op.vars(w, obj))
					}
					got := mxObserved(r, op)
					if got != want {
						t.Errorf("%s: want %s, got %s: %.300s", what, want, got, r.Raw)
						continue
					}
					if got != "OK" {
						// A refusal carries no credential of any kind.
						if mxAnswer(r, op) != nil {
							t.Errorf("%s: refused with data: %.300s", what, r.Raw)
						}
						for _, prefix := range []string{"agk_", "ags_", "agr_", "agm_", "otpauth:"} {
							if strings.Contains(r.Raw, prefix) {
								t.Errorf("%s: a refusal carries a credential (%s…)", what, prefix)
							}
						}
						continue
					}
					for _, path := range op.issues {
						if vs := mxValues(r.Data, strings.Split(path, ".")); len(vs) != 1 || vs[0] == nil {
							t.Errorf("%s: %s missing from the answer that issues it: %.300s", what, path, r.Raw)
						}
					}
					seen := 0
					for _, path := range op.never {
						for _, v := range mxValues(r.Data, strings.Split(path, ".")) {
							seen++
							if v != nil {
								t.Errorf("%s: %s is readable: %.300s", what, path, r.Raw)
							}
						}
					}
					if len(op.never) > 0 && seen == 0 {
						t.Errorf("%s: none of %v was in the answer, so nothing was checked: %.300s", what, op.never, r.Raw)
					}
				}
			}
		}
	}
	t.Logf("authorization matrix: %d schema fields covered (%d run here, the rest through the fields that issue them), "+
		"%d operations (%d of them on own and another user's objects) × %d callers = %d cases",
		len(entries), fields, ops, targeted, len(callers), cases)
}

// The matrix notices a field it has no entry for, and an entry whose field is gone; this runs
// the check alone on the real schema, then on copies with a field added and one removed.
func TestAuthorizationMatrixNoticesSchemaChanges(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	entries := mxEntries()
	if p := mxIncomplete(schema, entries); len(p) > 0 {
		t.Fatalf("the matrix does not match the schema: %v", p)
	}
	// with answers a copy of schema in which def's fields are edited.
	with := func(def string, edit func(ast.FieldList) ast.FieldList) *ast.Schema {
		cp := *schema
		cp.Types = map[string]*ast.Definition{}
		for k, v := range schema.Types {
			cp.Types[k] = v
		}
		d := *schema.Types[def]
		d.Fields = edit(slices.Clone(d.Fields))
		cp.Types[def] = &d
		if def == "Mutation" {
			cp.Mutation = &d
		}
		return &cp
	}
	add := func(name, typ string) func(ast.FieldList) ast.FieldList {
		return func(fs ast.FieldList) ast.FieldList {
			return append(fs, &ast.FieldDefinition{Name: name, Type: ast.NamedType(typ, nil)})
		}
	}
	for _, tt := range []struct {
		what   string
		schema *ast.Schema
		want   string
	}{
		{"a new mutation", with("Mutation", add("grantEverything", "Boolean")), "Mutation.grantEverything has no entry"},
		{"a new credential field", with("Session", add("signingSecret", "String")), "Session.signingSecret has no entry"},
		{"a new way to a credential's type", with("Account", add("firstKey", "UserKey")), "Account.firstKey answers a UserKey"},
		{"a removed field", with("Mutation", func(fs ast.FieldList) ast.FieldList {
			return slices.DeleteFunc(fs, func(f *ast.FieldDefinition) bool { return f.Name == "rerollUserKey" })
		}), "entry for Mutation.rerollUserKey, which the schema no longer has"},
	} {
		problems := strings.Join(mxIncomplete(tt.schema, entries), "\n")
		if !strings.Contains(problems, tt.want) {
			t.Errorf("%s: the matrix does not notice (%q not in %q)", tt.what, tt.want, problems)
		}
	}
}
