package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/cli"
)

const qAuditEvents = `query($f: AuditEventFilter, $after: String) { auditEvents(filter: $f, first: 1000, after: $after) {
	nodes { id time type outcome reason actorKind actorUserID actorUserKeyID userID accountID ip userAgent clientName sessionID detail }
	pageInfo { hasNextPage endCursor } } }`

// auditDump reads every event an ADMIN can read: the unattributed stream, every account's
// and every user's, page after page; it answers the raw answers, and the events' types with
// their outcome and reason ("session.sign_in FAILURE wrong_secret").
func auditDump(t *testing.T, s *testServer, admin string, accounts, users []string) (string, []string) {
	t.Helper()
	var raw strings.Builder
	var types []string
	filters := []map[string]any{nil}
	for _, a := range accounts {
		filters = append(filters, map[string]any{"account": a})
	}
	for _, u := range users {
		filters = append(filters, map[string]any{"user": u})
	}
	for _, f := range filters {
		var after any
		for {
			r := ok(t, "auditEvents", s.post(t, admin, qAuditEvents, map[string]any{"f": f, "after": after}))
			raw.WriteString(r.Raw)
			conn := r.Data["auditEvents"].(map[string]any)
			for _, n := range conn["nodes"].([]any) {
				e := n.(map[string]any)
				types = append(types, fmt.Sprint(e["type"], " ", e["outcome"], " ", e["reason"]))
			}
			pi := conn["pageInfo"].(map[string]any)
			if pi["hasNextPage"] != true {
				break
			}
			after = pi["endCursor"]
		}
	}
	return raw.String(), types
}

// Many operations, then every stored event is scanned for every secret the test used:
// passwords (right and wrong, and one typed as a username), session, refresh and key tokens,
// the TOTP secret and codes, recovery codes, and the emailed tokens and codes. On Redis the
// streams' bytes are scanned too, not only what the API shows of them.
func TestAuditTrailHoldsNoSecret(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		s, rs := startSelfServiceOn(t, store, map[string]string{"AUTHGRAPH_RATE_LIMITS": "off"})
		f := runTOTPFlow(t, s.testServer)
		secrets := f.secrets()
		admin := s.login(t, adminName, adminPass)
		secrets = append(secrets, admin, adminPass)

		// Wrong passwords, an unknown user whose name is a password, a wrong key secret.
		for _, p := range []string{"wrong-password-one", "wrong-password-two"} {
			s.post(t, "", `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`,
				map[string]any{"u": "tina", "p": p})
			secrets = append(secrets, p)
		}
		s.post(t, "", `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`,
			map[string]any{"u": "Sup3r-Secret-Typed-As-Username", "p": "whatever-password-x"})
		secrets = append(secrets, "Sup3r-Secret-Typed-As-Username", "whatever-password-x")

		// A user with an address: reset by mail, a code sign-in, a password change, a
		// refreshable sign-in refreshed then reused, a key made, rerolled and deleted.
		id := s.createUser(t, admin, "ivy", "ivy-old-password-1")
		secrets = append(secrets, "ivy-old-password-1")
		ok(t, "setUserEmail", s.post(t, admin, `mutation($id: ObjectID!) { setUserEmail(input: {userId: $id, email: "ivy@example.com"}) { id } }`, map[string]any{"id": id}))
		ok(t, "requestPasswordReset", s.post(t, "", qRequestReset, map[string]any{"e": "ivy@example.com"}))
		v := s.follow(t, s.mailTo(t, "ivy@example.com", "reset"))
		secrets = append(secrets, v.Get("token"))
		ok(t, "resetPassword", s.post(t, "", qResetPassword, map[string]any{"t": v.Get("token"), "p": "ivy-new-password-2"}))
		secrets = append(secrets, "ivy-new-password-2")
		ok(t, "requestSignInCode", s.post(t, "", qRequestCode, map[string]any{"e": "ivy@example.com"}))
		code := s.follow(t, s.mailTo(t, "ivy@example.com", "code")).Get("code")
		r := ok(t, "code sign-in", s.post(t, "", qCodeLogin, map[string]any{"e": "ivy@example.com", "c": code}))
		ivy := r.str(t, "createSessionUsingEmailCode.token")
		secrets = append(secrets, code, ivy)
		ok(t, "changePassword", s.post(t, ivy, `mutation { changePassword(input: {currentPassword: "ivy-new-password-2", newPassword: "ivy-third-password-3"}) { id } }`, nil))
		secrets = append(secrets, "ivy-third-password-3")
		r = ok(t, "refreshable", s.post(t, "", loginRefreshable, map[string]any{"u": "ivy", "p": "ivy-third-password-3"}))
		first := r.str(t, "createSessionUsingUsername.refreshToken")
		secrets = append(secrets, first, r.str(t, "createSessionUsingUsername.token"))
		r = ok(t, "refresh", s.refresh(t, first))
		secrets = append(secrets, r.str(t, "refreshSession.token"), r.str(t, "refreshSession.refreshToken"))
		time.Sleep(50 * time.Millisecond)
		s.refresh(t, first) // within the grace window or reused: either way no secret recorded
		ivy = s.login(t, "ivy", "ivy-third-password-3")
		secrets = append(secrets, ivy)
		r = ok(t, "createUserKey", s.post(t, ivy, `mutation { createUserKey(input: {name: "k"}) { id secret } }`, nil))
		keyID := r.str(t, "createUserKey.id")
		secrets = append(secrets, r.str(t, "createUserKey.secret"))
		r = ok(t, "rerollUserKey", s.post(t, ivy, `mutation($id: ObjectID!) { rerollUserKey(input: {userKeyId: $id}) { secret } }`, map[string]any{"id": keyID}))
		secrets = append(secrets, r.str(t, "rerollUserKey.secret"))
		s.post(t, "", qKeyLogin, map[string]any{"id": keyID, "s": "agk_wrong-secret-for-the-key"})
		secrets = append(secrets, "agk_wrong-secret-for-the-key")
		ok(t, "deleteUserKey", s.post(t, ivy, `mutation($id: ObjectID!) { deleteUserKey(input: {userKeyId: $id}) { userKey { id } } }`, map[string]any{"id": keyID}))
		ok(t, "setUserRole", s.post(t, admin, `mutation($id: ObjectID!) { setUserRole(input: {userId: $id, role: ACCOUNT_ADMIN}) { id } }`, map[string]any{"id": id}))
		ok(t, "disableUser", s.post(t, admin, `mutation($id: ObjectID!) { disableUser(input: {userId: $id}) { id } }`, map[string]any{"id": id}))

		me := ok(t, "me", s.post(t, admin, `{ me { id account { id } } }`, nil))
		acct := me.Data["me"].(map[string]any)["account"].(map[string]any)["id"].(string)
		tina := ok(t, "tina", s.post(t, admin, `{ users { nodes { id username } } }`, nil))
		var users []string
		for _, n := range tina.Data["users"].(map[string]any)["nodes"].([]any) {
			users = append(users, n.(map[string]any)["id"].(string))
		}
		var raw string
		var types []string
		waitFor(t, func() bool {
			raw, types = auditDump(t, s.testServer, admin, []string{acct}, users)
			return strings.Contains(strings.Join(types, "\n"), "user.disabled")
		})
		t.Logf("%d events read, %d secrets sought", len(types), len(secrets))
		for _, sec := range secrets {
			if sec != "" && strings.Contains(raw, sec) {
				t.Errorf("the trail holds a secret of the test: %q", sec)
			}
		}
		all := strings.Join(types, "\n")
		for _, want := range []string{
			"session.sign_in SUCCESS", "session.sign_in FAILURE wrong_secret", "session.sign_in FAILURE unknown_user",
			"session.otp_required FAILURE", "session.otp_failed FAILURE", "totp.enabled SUCCESS", "totp.disabled SUCCESS",
			"key.created SUCCESS", "key.rerolled SUCCESS", "key.deleted SUCCESS", "password.reset SUCCESS",
			"password.changed SUCCESS", "session.refresh SUCCESS", "user.role_set SUCCESS", "user.disabled SUCCESS",
			"user.created SUCCESS", "email.changed SUCCESS",
		} {
			if !strings.Contains(all, want) {
				t.Errorf("no %q event in the trail:\n%s", want, all)
			}
		}
		if rs != nil {
			assertNoSecretInRedis(t, rs.Client, rs.Prefix, secrets)
		}
	})
}

// A failed sign-in answers HTTP 200 like a successful one; the request's log line says which
// it was, by the operation's outcome code (never by the username or password).
func TestRequestLogShowsTheOutcomeCode(t *testing.T) {
	s := startServer(t, map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "64", "AUTHGRAPH_ARGON2_TIME": "1"})
	q := `mutation SignIn($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`
	s.post(t, "", q, map[string]any{"u": adminName, "p": "not-the-password-9"})
	s.post(t, "", q, map[string]any{"u": adminName, "p": adminPass})
	var lines []string
	waitFor(t, func() bool {
		lines = nil
		for _, l := range strings.Split(s.logs.String(), "\n") {
			if strings.Contains(l, `"message":"request"`) && strings.Contains(l, `"operation":"SignIn"`) {
				lines = append(lines, l)
			}
		}
		return len(lines) == 2
	})
	if !strings.Contains(lines[0], `"code":"INVALID_CREDENTIALS"`) || !strings.Contains(lines[0], `"status":200`) {
		t.Errorf("the failed sign-in's line: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"code":"OK"`) {
		t.Errorf("the sign-in's line: %s", lines[1])
	}
	for _, l := range lines {
		if strings.Contains(l, "not-the-password-9") || strings.Contains(l, adminPass) {
			t.Errorf("a password in the log: %s", l)
		}
	}
}

// authgraph audit lists your own events; --admin (or --account, --user) the trail an admin
// reads; --follow prints the new ones as they come, one JSON object a line with --json.
func TestCLIAudit(t *testing.T) {
	s := startServer(t, map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "64", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_RATE_LIMITS": "off"})
	c := newCLI(t, s.URL, nil)
	c.ok(adminPass+"\n", "login", "--username", adminName)
	var mine []map[string]any
	waitFor(t, func() bool {
		c.okJSON("", &mine, "audit")
		return len(mine) > 0
	})
	if last := mine[len(mine)-1]; last["type"] != "session.sign_in" || last["outcome"] != "SUCCESS" {
		t.Fatalf("your newest event: %v", last)
	}
	if out := c.ok("", "audit", "--admin", "--outcome", "FAILURE"); !strings.HasPrefix(out, "TIME") {
		t.Fatalf("audit --admin: %q", out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- runCLI(ctx, []string{"authgraph", "--api-url", s.URL, "--json", "audit", "--admin", "--follow", "--interval", "100ms"},
			cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }, ConfigDir: c.dir})
	}()
	time.Sleep(300 * time.Millisecond)
	s.post(t, "", `mutation { createSessionUsingUsername(input: {username: "nobody-here", password: "wrong-password-1"}) { token } }`, nil)
	waitFor(t, func() bool { return strings.Contains(out.String(), `"reason":"unknown_user"`) })
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("audit --follow exited %d: %s", code, out.String())
	}
	if strings.Contains(out.String(), "wrong-password-1") || strings.Contains(out.String(), "nobody-here") {
		t.Fatalf("the trail shows what was typed: %s", out.String())
	}
}
