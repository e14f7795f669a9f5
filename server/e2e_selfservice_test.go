package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/mail/mailtest"
	"github.com/authgraph/authgraph/internal/redistest"
)

// The self-service flows end to end: the server on a real Redis (and on the embedded store),
// its mail through a real SMTP server, each link read from the delivered message and
// followed over HTTP as a browser would (the page, then the operation the page calls with
// the fragment's token).

const (
	qSignUp = `mutation($a: String, $u: String!, $e: String!, $p: String!) {
		signUp(input: {account: $a, username: $u, email: $e, password: $p}) { email } }`
	qVerifyEmail   = `mutation($t: String!) { verifyEmail(input: {token: $t}) { id username email emailVerified } }`
	qRequestReset  = `mutation($e: String!) { requestPasswordReset(input: {email: $e}) { email } }`
	qResetPassword = `mutation($t: String!, $p: String!, $o: String) {
		resetPassword(input: {token: $t, newPassword: $p, otp: $o}) { id } }`
	qRequestCode = `mutation($e: String!) { requestSignInCode(input: {email: $e}) { email } }`
	qCodeLogin   = `mutation($e: String!, $c: String!) {
		createSessionUsingEmailCode(input: {email: $e, code: $c}) { token method user { emailVerified } } }`
	qChangeEmail = `mutation($e: String!, $p: String!) { changeEmail(input: {email: $e, password: $p}) { email } }`
	qMeEmail     = `{ me { id username email emailVerified } }`
)

// selfService is a server with open sign-up whose mail goes to an in-process SMTP server.
type selfService struct {
	*testServer
	smtp *mailtest.Server
}

func startSelfService(t *testing.T, store string, env map[string]string) selfService {
	t.Helper()
	s, _ := startSelfServiceOn(t, store, env)
	return s
}

// startSelfServiceOn is startSelfService that also answers its Redis (nil for the embedded
// store), for tests that read what was stored.
func startSelfServiceOn(t *testing.T, store string, env map[string]string) (selfService, *redistest.Server) {
	t.Helper()
	smtp := mailtest.Start(t, mailtest.Options{})
	vars := map[string]string{
		"AUTHGRAPH_SMTP_URL": smtp.URL(), "AUTHGRAPH_SIGNUP": "OPEN",
		"AUTHGRAPH_PUBLIC_URL":    "https://auth.example.test",
		"AUTHGRAPH_ARGON2_MEMORY": "64", "AUTHGRAPH_ARGON2_TIME": "1",
	}
	for k, v := range env {
		vars[k] = v
	}
	if store == "redis" {
		srv, rs := startRedisServer(t, vars)
		return selfService{srv, smtp}, rs
	}
	return selfService{startServer(t, vars), smtp}, nil
}

// mailTo waits for the next message to addr whose subject holds subject, and answers it.
func (s selfService) mailTo(t *testing.T, addr, subject string) mailtest.Parsed {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range s.smtp.Messages() {
			if len(m.To) != 1 || m.To[0] != addr {
				continue
			}
			p, err := m.Parse()
			if err != nil {
				t.Fatalf("a mail to %s does not parse: %v", addr, err)
			}
			if strings.Contains(strings.ToLower(p.Subject), strings.ToLower(subject)) {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail %q to %s; received: %d messages\n%s", subject, addr, len(s.smtp.Messages()), s.logs)
	return mailtest.Parsed{}
}

// mailsTo counts the messages delivered to addr so far.
func (s selfService) mailsTo(addr string) int {
	n := 0
	for _, m := range s.smtp.Messages() {
		if len(m.To) == 1 && m.To[0] == addr {
			n++
		}
	}
	return n
}

var accountLinkInMail = regexp.MustCompile(`https://auth\.example\.test/account/#[^\s"<>]+`)

// follow finds the mail's link, checks that it leads to the configured public URL's account
// page and that the page answers (fetched from this server, as the public URL would reach
// it), and answers the fragment's parameters, which the page would read.
func (s selfService) follow(t *testing.T, p mailtest.Parsed) url.Values {
	t.Helper()
	link := accountLinkInMail.FindString(p.Text)
	if link == "" {
		t.Fatalf("no link to the account page in the mail:\n%s", p.Text)
	}
	if !strings.Contains(p.HTML, link) && !strings.Contains(p.HTML, strings.ReplaceAll(link, "&", "&amp;")) {
		t.Errorf("the HTML part does not carry the text part's link %s", link)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.URL + u.Path) // the fragment stays in the browser
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<html") {
		t.Fatalf("GET %s: %d", u.Path, resp.StatusCode)
	}
	v, err := url.ParseQuery(u.Fragment)
	if err != nil {
		t.Fatalf("the link's fragment %q: %v", u.Fragment, err)
	}
	return v
}

func forEachStore(t *testing.T, f func(t *testing.T, store string)) {
	for _, store := range []string{"redis", "embedded"} {
		t.Run(store, func(t *testing.T) { f(t, store) })
	}
}

func TestSignUpVerifyAndSignInByEmail(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		s := startSelfService(t, store, nil)
		pass := "a-long-sign-up-password"
		r := ok(t, "signUp", s.post(t, "", qSignUp, map[string]any{"u": "carol", "e": " Carol@Example.COM ", "p": pass}))
		if got := r.str(t, "signUp.email"); got != "carol@example.com" {
			t.Fatalf("signUp answered %q, want the normalized address", got)
		}
		// Nothing exists until the address is proven: no sign-in, and the username is free.
		login := `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`
		if c := s.post(t, "", login, map[string]any{"u": "carol", "p": pass}).code(); c != "INVALID_CREDENTIALS" {
			t.Fatalf("sign-in before the address is proven: %q", c)
		}
		v := s.follow(t, s.mailTo(t, "carol@example.com", "confirm"))
		if v.Get("view") != "verify" || !strings.HasPrefix(v.Get("token"), "age_") {
			t.Fatalf("verification link parameters %v", v)
		}
		r = ok(t, "verifyEmail", s.post(t, "", qVerifyEmail, map[string]any{"t": v.Get("token")}))
		if r.Data["verifyEmail"].(map[string]any)["emailVerified"] != true || r.str(t, "verifyEmail.username") != "carol" {
			t.Fatalf("verifyEmail: %s", r.Raw)
		}
		// Now by username or by address, in any spelling.
		tok := s.login(t, "carol", pass)
		if me := ok(t, "me", s.post(t, tok, qMeEmail, nil)); me.str(t, "me.email") != "carol@example.com" {
			t.Fatalf("after verification: %s", me.Raw)
		}
		s.login(t, "CAROL@example.com", pass)
		// Single use: the same link again is TOKEN_INVALID.
		if c := s.post(t, "", qVerifyEmail, map[string]any{"t": v.Get("token")}).code(); c != "TOKEN_INVALID" {
			t.Fatalf("a used verification token: %q", c)
		}
	})
}

// A sign-up with an address that has a user answers exactly as a new one, and mails the
// owner instead of making anyone.
func TestSignUpWithATakenAddressTellsNothing(t *testing.T) {
	s := startSelfService(t, "redis", nil)
	pass := "a-long-sign-up-password"
	first := ok(t, "signUp", s.post(t, "", qSignUp, map[string]any{"u": "dave", "e": "dave@example.com", "p": pass}))
	v := s.follow(t, s.mailTo(t, "dave@example.com", "confirm"))
	ok(t, "verifyEmail", s.post(t, "", qVerifyEmail, map[string]any{"t": v.Get("token")}))
	again := ok(t, "signUp", s.post(t, "", qSignUp, map[string]any{"u": "dave2", "e": "dave@example.com", "p": pass}))
	if first.Raw != again.Raw {
		t.Fatalf("a taken address answers %s, a new one %s", again.Raw, first.Raw)
	}
	// Nor does the username tell: a second sign-up with the same (free) username succeeds
	// whether or not the first one's address was known.
	ok(t, "signUp", s.post(t, "", qSignUp, map[string]any{"u": "dave2", "e": "fresh@example.com", "p": pass}))
	p := s.mailTo(t, "dave@example.com", "already")
	if v := s.follow(t, p); v.Get("view") != "forgot" || v.Get("email") != "dave@example.com" {
		t.Fatalf("account-exists link %v", v)
	}
	if c := s.post(t, "", `mutation { createSessionUsingUsername(input: {username: "dave2", password: "a-long-sign-up-password"}) { token } }`, nil).code(); c != "INVALID_CREDENTIALS" {
		t.Fatalf("the second sign-up made a user: %q", c)
	}
	// A taken username is CONFLICT, whatever the address.
	if c := s.post(t, "", qSignUp, map[string]any{"u": "dave", "e": "other@example.com", "p": pass}).code(); c != "CONFLICT" {
		t.Fatalf("a taken username: %q", c)
	}
}

func TestSignUpPolicies(t *testing.T) {
	s := startSelfService(t, "redis", map[string]string{"AUTHGRAPH_SIGNUP": "CLOSED", "AUTHGRAPH_SIGNUP_DOMAINS": "example.com"})
	admin := s.login(t, adminName, adminPass)
	pass := "a-long-sign-up-password"
	vars := map[string]any{"u": "erin", "e": "erin@example.com", "p": pass}
	if c := s.post(t, "", qSignUp, vars).code(); c != "FORBIDDEN" {
		t.Fatalf("closed deployment: %q", c)
	}
	// Unknown account: the same answer as a closed one.
	if c := s.post(t, "", qSignUp, map[string]any{"a": "nowhere", "u": "erin", "e": "erin@example.com", "p": pass}).code(); c != "FORBIDDEN" {
		t.Fatalf("unknown account: %q", c)
	}
	r := ok(t, "setAccountSignUpPolicy", s.post(t, admin, `mutation { setAccountSignUpPolicy(input: {accountId: "1", policy: OPEN}) { signUpPolicy } }`, nil))
	if r.str(t, "setAccountSignUpPolicy.signUpPolicy") != "OPEN" {
		t.Fatal(r.Raw)
	}
	ok(t, "signUp", s.post(t, "", qSignUp, vars))
	if c := s.post(t, "", qSignUp, map[string]any{"u": "frank", "e": "frank@elsewhere.org", "p": pass}).code(); c != "BAD_USER_INPUT" {
		t.Fatalf("a domain off the allow-list: %q", c)
	}
	// Bad input, each a clear error and nothing written.
	for _, bad := range []map[string]any{
		{"u": "g1", "e": "g1@example.com\r\nBcc: x@example.com", "p": pass},
		{"u": "g2", "e": "g2@exаmple.com", "p": pass}, // a Cyrillic а
		{"u": "g3", "e": strings.Repeat("g", 250) + "@example.com", "p": pass},
		{"u": "g4", "e": "g4@example.com", "p": "short"},
		{"u": " g5", "e": "g5@example.com", "p": pass},
	} {
		if c := s.post(t, "", qSignUp, bad).code(); c != "BAD_USER_INPUT" {
			t.Errorf("%v: %q, want BAD_USER_INPUT", bad, c)
		}
	}
	ok(t, "setAccountSignUpPolicy", s.post(t, admin, `mutation { setAccountSignUpPolicy(input: {accountId: "1", policy: INVITE}) { id } }`, nil))
	if c := s.post(t, "", qSignUp, map[string]any{"u": "hank", "e": "hank@example.com", "p": pass}).code(); c != "FORBIDDEN" {
		t.Fatalf("invite-only account: %q", c)
	}
}

func TestPasswordResetByMail(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		s := startSelfService(t, store, nil)
		admin := s.login(t, adminName, adminPass)
		id := s.createUser(t, admin, "ivy", "ivy-old-password-1")
		ok(t, "setUserEmail", s.post(t, admin, `mutation($id: ObjectID!) { setUserEmail(input: {userId: $id, email: "ivy@example.com"}) { id } }`, map[string]any{"id": id}))
		old := s.login(t, "ivy", "ivy-old-password-1")

		known := ok(t, "requestPasswordReset", s.post(t, "", qRequestReset, map[string]any{"e": "ivy@example.com"}))
		unknown := ok(t, "requestPasswordReset", s.post(t, "", qRequestReset, map[string]any{"e": "nobody@example.com"}))
		if strings.Replace(known.Raw, "ivy@", "xx@", 1) != strings.Replace(unknown.Raw, "nobody@", "xx@", 1) {
			t.Fatalf("known %s, unknown %s", known.Raw, unknown.Raw)
		}
		v := s.follow(t, s.mailTo(t, "ivy@example.com", "reset"))
		if c := s.post(t, "", qResetPassword, map[string]any{"t": v.Get("token"), "p": "short"}).code(); c != "BAD_USER_INPUT" {
			t.Fatalf("a weak new password: %q", c)
		}
		ok(t, "resetPassword", s.post(t, "", qResetPassword, map[string]any{"t": v.Get("token"), "p": "ivy-new-password-2"}))
		if c := s.post(t, old, qMeEmail, nil).code(); c != "UNAUTHENTICATED" {
			t.Fatalf("a session from before the reset: %q", c)
		}
		s.login(t, "ivy", "ivy-new-password-2")
		if c := s.post(t, "", qResetPassword, map[string]any{"t": v.Get("token"), "p": "ivy-third-password-3"}).code(); c != "TOKEN_INVALID" {
			t.Fatalf("a used reset token: %q", c)
		}
		s.mailTo(t, "ivy@example.com", "password was changed")
		// The admin's way: a mail, never a password.
		ok(t, "sendPasswordReset", s.post(t, admin, `mutation($id: ObjectID!) { sendPasswordReset(input: {userId: $id}) { id } }`, map[string]any{"id": id}))
		waitFor(t, func() bool { return s.mailsTo("ivy@example.com") >= 3 })
		time.Sleep(300 * time.Millisecond) // a worker poll: a mail to nobody would have gone by now
		if n := s.mailsTo("nobody@example.com"); n != 0 {
			t.Fatalf("%d mails to an address no user has", n)
		}
	})
}

func TestSignInWithAnEmailedCode(t *testing.T) {
	// The wrong guesses below come from addresses of their own (X-Forwarded-For, believed
	// from the test's loopback): the per-address limits are not what this test is about.
	s := startSelfService(t, "redis", map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1"})
	admin := s.login(t, adminName, adminPass)
	id := s.createUser(t, admin, "jane", "jane-password-long-1")
	ok(t, "setUserEmail", s.post(t, admin, `mutation($id: ObjectID!) { setUserEmail(input: {userId: $id, email: "jane@example.com"}) { id } }`, map[string]any{"id": id}))

	ok(t, "requestSignInCode", s.post(t, "", qRequestCode, map[string]any{"e": "jane@example.com"}))
	p := s.mailTo(t, "jane@example.com", "code")
	v := s.follow(t, p)
	code := v.Get("code")
	if len(code) != 6 || !strings.Contains(p.Text, code) || v.Get("email") != "jane@example.com" {
		t.Fatalf("the mail's code %q and link %v", code, v)
	}
	wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000)
	if c := s.post(t, "", qCodeLogin, map[string]any{"e": "jane@example.com", "c": wrong}).code(); c != "TOKEN_INVALID" {
		t.Fatalf("a wrong code: %q", c)
	}
	r := ok(t, "createSessionUsingEmailCode", s.post(t, "", qCodeLogin, map[string]any{"e": "jane@example.com", "c": code}))
	if r.str(t, "createSessionUsingEmailCode.method") != "EMAIL_CODE" ||
		r.Data["createSessionUsingEmailCode"].(map[string]any)["user"].(map[string]any)["emailVerified"] != true {
		t.Fatalf("code sign-in: %s", r.Raw)
	}
	if c := s.post(t, "", qCodeLogin, map[string]any{"e": "jane@example.com", "c": code}).code(); c != "TOKEN_INVALID" {
		t.Fatalf("a used code: %q", c)
	}
	// Five wrong tries end a code: the right one is refused after them.
	ok(t, "requestSignInCode", s.post(t, "", qRequestCode, map[string]any{"e": "jane@example.com"}))
	waitFor(t, func() bool { return s.mailsTo("jane@example.com") >= 2 })
	msgs := s.smtp.Messages()
	last, _ := msgs[len(msgs)-1].Parse()
	code = s.follow(t, last).Get("code")
	for i := range 5 {
		w := fmt.Sprintf("%06d", (atoi(code)+1+i)%1_000_000)
		s.post(t, "", qCodeLogin, map[string]any{"e": "jane@example.com", "c": w}, "X-Forwarded-For", fmt.Sprint("192.0.2.", i))
	}
	if c := s.post(t, "", qCodeLogin, map[string]any{"e": "jane@example.com", "c": code}).code(); c != "TOKEN_INVALID" && c != "RATE_LIMITED" {
		t.Fatalf("the right code after five wrong ones: %q", c)
	}
	// An address nobody has: the same answer as a wrong code.
	if c := s.post(t, "", qCodeLogin, map[string]any{"e": "ghost@example.com", "c": "123456"}, "X-Forwarded-For", "192.0.2.99").code(); c != "TOKEN_INVALID" {
		t.Fatalf("an unknown address: %q", c)
	}
}

func TestChangeEmailNeedsTheNewAddressToConfirm(t *testing.T) {
	s := startSelfService(t, "redis", nil)
	pass := "a-long-sign-up-password"
	ok(t, "signUp", s.post(t, "", qSignUp, map[string]any{"u": "kate", "e": "kate@example.com", "p": pass}))
	first := s.follow(t, s.mailTo(t, "kate@example.com", "confirm"))
	ok(t, "verifyEmail", s.post(t, "", qVerifyEmail, map[string]any{"t": first.Get("token")}))
	tok := s.login(t, "kate", pass)
	if c := s.post(t, tok, qChangeEmail, map[string]any{"e": "kate@new.example.com", "p": "wrong-password-here"}).code(); c != "INVALID_CREDENTIALS" {
		t.Fatalf("changeEmail with a wrong password: %q", c)
	}
	ok(t, "changeEmail", s.post(t, tok, qChangeEmail, map[string]any{"e": "Kate@New.Example.com", "p": pass}))
	notice := s.mailTo(t, "kate@example.com", "changed")
	if strings.Contains(notice.Text, "age_") {
		t.Fatal("the notice to the old address carries a token")
	}
	if me := ok(t, "me", s.post(t, tok, qMeEmail, nil)); me.str(t, "me.email") != "kate@example.com" {
		t.Fatalf("the address changed before it was confirmed: %s", me.Raw)
	}
	v := s.follow(t, s.mailTo(t, "kate@new.example.com", "confirm"))
	if v.Get("token") == first.Get("token") {
		t.Fatal("the same token twice")
	}
	r := ok(t, "verifyEmail", s.post(t, "", qVerifyEmail, map[string]any{"t": v.Get("token")}))
	if r.str(t, "verifyEmail.email") != "kate@new.example.com" || r.Data["verifyEmail"].(map[string]any)["emailVerified"] != true {
		t.Fatalf("after confirming: %s", r.Raw)
	}
}

func TestInvitationSetsThePassword(t *testing.T) {
	s := startSelfService(t, "redis", map[string]string{"AUTHGRAPH_SIGNUP": "INVITE"})
	admin := s.login(t, adminName, adminPass)
	ok(t, "createInvitation", s.post(t, admin, `mutation { createInvitation(input: {username: "liam", email: "liam@example.com"}) { id email emailVerified } }`, nil))
	if c := s.post(t, admin, `mutation { createInvitation(input: {username: "liam2", email: "liam@example.com"}) { id } }`, nil).code(); c != "CONFLICT" {
		t.Fatalf("inviting a taken address: %q", c)
	}
	v := s.follow(t, s.mailTo(t, "liam@example.com", "invit"))
	if v.Get("view") != "invite" {
		t.Fatalf("invitation link %v", v)
	}
	r := ok(t, "acceptInvitation", s.post(t, "", `mutation($t: String!) { acceptInvitation(input: {token: $t, password: "liam-chosen-password"}) { username emailVerified } }`,
		map[string]any{"t": v.Get("token")}))
	if r.Data["acceptInvitation"].(map[string]any)["emailVerified"] != true {
		t.Fatal(r.Raw)
	}
	s.login(t, "liam", "liam-chosen-password")
	s.login(t, "liam@example.com", "liam-chosen-password")
}

func TestRequireVerifiedEmail(t *testing.T) {
	s := startSelfService(t, "embedded", map[string]string{"AUTHGRAPH_REQUIRE_VERIFIED_EMAIL": "true"})
	// A sign-up proves its address before the user exists; an address an admin set is
	// what waits for verification.
	pass := "a-long-member-password"
	admin := s.login(t, adminName, adminPass)
	id := s.createUser(t, admin, "mia", pass)
	ok(t, "setUserEmail", s.post(t, admin, `mutation($id: ObjectID!) { setUserEmail(input: {userId: $id, email: "mia@example.com"}) { id } }`, map[string]any{"id": id}))
	ok(t, "requestEmailVerification", s.post(t, "", `mutation { requestEmailVerification(input: {email: "mia@example.com"}) { email } }`, nil))
	login := `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`
	if c := s.post(t, "", login, map[string]any{"u": "mia", "p": "wrong-password-x"}).code(); c != "INVALID_CREDENTIALS" {
		t.Fatalf("a wrong password before verification: %q", c)
	}
	if c := s.post(t, "", login, map[string]any{"u": "mia", "p": pass}).code(); c != "EMAIL_NOT_VERIFIED" {
		t.Fatalf("the right password before verification: %q", c)
	}
	v := s.follow(t, s.mailTo(t, "mia@example.com", "confirm"))
	ok(t, "verifyEmail", s.post(t, "", qVerifyEmail, map[string]any{"t": v.Get("token")}))
	s.login(t, "mia", pass)
}

// The SMTP server goes away with mails queued: none is lost, each arrives once it is back.
func TestMailSurvivesAnSMTPOutage(t *testing.T) {
	s := startSelfService(t, "redis", nil)
	pass := "a-long-sign-up-password"
	s.smtp.Stop()
	const n = 5
	for i := range n {
		ok(t, "signUp", s.post(t, "", qSignUp, map[string]any{"u": fmt.Sprint("outage", i), "e": fmt.Sprintf("outage%d@example.com", i), "p": pass},
			"X-Forwarded-For", fmt.Sprint("192.0.2.", 50+i)))
	}
	time.Sleep(1500 * time.Millisecond) // the worker tries, fails, and schedules retries
	s.smtp.Restart()
	for i := range n {
		s.mailTo(t, fmt.Sprintf("outage%d@example.com", i), "confirm")
	}
}

// waitFor polls cond until it holds, failing the test after 20 s (a guard against a hang).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 20 s")
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// BenchmarkPasswordResetTiming: requestPasswordReset for an address a user has and for one
// nobody has, interleaved, over HTTP on a real Redis; it reports each one's median latency
// and their ratio (the two should be indistinguishable: within 5 %).
//
//	go test ./server -run '^$' -bench PasswordResetTiming -benchtime 100x
func BenchmarkPasswordResetTiming(b *testing.B) {
	srv, _ := startRedisServer(b, map[string]string{"AUTHGRAPH_RATE_LIMITS": "off", "AUTHGRAPH_LOG_LEVEL": "error"})
	call := func(query string, token string, vars map[string]any) map[string]any {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("x-auth-token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Data   map[string]any
			Errors []any
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) > 0 {
			b.Fatalf("%s: %v %v", query, err, out.Errors)
		}
		return out.Data
	}
	login := call(`mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`,
		"", map[string]any{"u": adminName, "p": adminPass})
	admin := login["createSessionUsingUsername"].(map[string]any)["token"].(string)
	user := call(`mutation { createUser(input: {username: "timing", password: "timing-password-long"}) { id } }`, admin, nil)
	call(`mutation($id: ObjectID!) { setUserEmail(input: {userId: $id, email: "timing@example.com"}) { id } }`, admin,
		map[string]any{"id": user["createUser"].(map[string]any)["id"]})
	for range 20 { // warm up the connection, the parser cache and the queue's scripts
		call(qRequestReset, "", map[string]any{"e": "warm@example.com"})
	}
	known, unknown := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		// Alternate which goes first, so that neither always follows the other's work.
		order := []string{"timing@example.com", "nobody@example.com"}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, e := range order {
			start := time.Now()
			call(qRequestReset, "", map[string]any{"e": e})
			if e == "nobody@example.com" {
				unknown = append(unknown, time.Since(start))
			} else {
				known = append(known, time.Since(start))
			}
		}
	}
	b.StopTimer()
	mk, mu := median(known), median(unknown)
	b.ReportMetric(float64(mk.Microseconds()), "known-median-µs")
	b.ReportMetric(float64(mu.Microseconds()), "unknown-median-µs")
	b.ReportMetric(float64(mk)/float64(mu), "known/unknown")
}
