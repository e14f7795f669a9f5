package main

import (
	"strings"
	"testing"
	"time"
)

// TestCLISignUpAndPasswordReset: against a real server that sends its mail to a real SMTP
// server, a user signs up with the CLI (password on stdin), verifies the address with the
// mailed link and signs in with the address; asks for a password reset (an unknown address
// gets the same answer), turns two-step sign-in on, and completes the reset from the mailed
// link read on stdin: a wrong one-time code leaves the token unspent, the right one sets
// the password and ends every session; the link then works no more.
func TestCLISignUpAndPasswordReset(t *testing.T) {
	srv, box := startMailServer(t, nil)
	c := newCLI(t, srv.URL, nil)
	const (
		pw1 = "the first password of cli-sue"
		pw2 = "the password cli-sue chose after the reset"
	)

	out := c.ok(pw1+"\n", "signup", "--username", "cli-sue", "--email", "Sue@Example.COM")
	if !strings.Contains(out, "Check your mail at sue@example.com") || !strings.Contains(out, "authgraph login --username cli-sue") {
		t.Fatalf("signup: %s", out)
	}
	_, frag := box.link("sue@example.com", "verify")
	verifyToken := frag.Get("token")
	if r := srv.post(t, "", `mutation($t: String!) { verifyEmail(input: {token: $t}) { username emailVerified } }`,
		map[string]any{"t": verifyToken}); r.code() != "" || !strings.Contains(r.Raw, `"emailVerified":true`) {
		t.Fatalf("verifyEmail: %s", r.Raw)
	}
	if out := c.ok(pw1+"\n", "login", "--username", "sue@example.com"); !strings.Contains(out, "as cli-sue") {
		t.Fatalf("login with the address: %s", out)
	}
	if code, _, errs := c.run(pw1+"\n", "signup", "--username", "cli-sue", "--email", "other@example.com"); code != 1 || !strings.Contains(errs, "CONFLICT") {
		t.Fatalf("a taken username: %d %s", code, errs)
	}

	var asked struct{ Email string }
	c.okJSON("", &asked, "password", "reset", "--email", " SUE@example.com")
	if asked.Email != "sue@example.com" {
		t.Fatalf("password reset --email: %+v", asked)
	}
	if out := c.ok("", "password", "reset", "--email", "nobody@example.com"); !strings.Contains(out, "If nobody@example.com belongs to an account") {
		t.Fatalf("an unknown address: %s", out)
	}
	link, frag := box.link("sue@example.com", "reset")
	resetToken := frag.Get("token")

	// Two-step sign-in on: the mailbox alone does not reset the password.
	session := strings.TrimSpace(c.ok("", "token"))
	secret := srv.post(t, session, `mutation($p: String!) { enableTotp(input: {password: $p}) { secret } }`, map[string]any{"p": pw1}).str(t, "enableTotp.secret")
	confirmed := srv.post(t, session, `mutation($c: String!) { confirmTotp(input: {code: $c}) { recoveryCodes } }`,
		map[string]any{"c": totpCode(t, secret, time.Now().Add(-30*time.Second))})
	if confirmed.code() != "" {
		t.Fatalf("confirmTotp: %s", confirmed.Raw)
	}
	recovery := confirmed.Data["confirmTotp"].(map[string]any)["recoveryCodes"].([]any)[0].(string)

	if code, _, errs := c.run(link+"\n"+pw2+"\n000000\n", "password", "reset"); code != 1 || !strings.Contains(errs, "OTP_REQUIRED") {
		t.Fatalf("a wrong one-time code: %d %s", code, errs)
	}
	out = c.ok(pw2+"\n"+totpCode(t, secret, time.Now())+"\n", "password", "reset", "--token", resetToken)
	if !strings.Contains(out, "Password changed for cli-sue") {
		t.Fatalf("password reset: %s", out)
	}
	if code, _, errs := c.run("", "whoami"); code != 1 || !strings.Contains(errs, "UNAUTHENTICATED") {
		t.Fatalf("the session from before the reset: %d %s", code, errs)
	}
	if code, _, errs := c.run(pw1+"\n"+recovery+"\n", "login", "--username", "cli-sue"); code != 1 || !strings.Contains(errs, "INVALID_CREDENTIALS") {
		t.Fatalf("the old password: %d %s", code, errs)
	}
	if out := c.ok(pw2+"\n"+recovery+"\n", "login", "--username", "cli-sue"); !strings.Contains(out, "as cli-sue") {
		t.Fatalf("login with the new password: %s", out)
	}
	code, _, errs := c.run(link+"\n"+"yet another password for cli-sue\n", "password", "reset")
	if code != 1 || !strings.Contains(errs, "TOKEN_INVALID") || !strings.Contains(errs, "password reset --email") {
		t.Fatalf("a spent link: %d %s", code, errs)
	}
	assertNoSecretIn(t, "the server log", srv.logs.String(), []string{verifyToken, resetToken, pw1, pw2, recovery})
}
