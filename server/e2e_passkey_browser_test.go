package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// TestPasskeysInChromium registers a passkey on the account page in a real headless
// Chromium with a virtual authenticator (DevTools WebAuthn domain: a CTAP2 platform
// authenticator with resident keys and user verification), signs out, signs in with the
// passkey alone, refuses the credential once its counter is set back (a clone), deletes the
// passkey on the page and sees its sign-in refused; each step is checked through the API too.
func TestPasskeysInChromium(t *testing.T) {
	ctx := newBrowser(t)
	port := freePort(t)
	origin := "http://localhost:" + port // localhost: an RP ID, and a secure context
	env := passkeyEnv()
	env["AUTHGRAPH_ADDR"] = "127.0.0.1:" + port
	env["AUTHGRAPH_PUBLIC_URL"] = origin
	srv, _ := startRedisServer(t, env)
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "dora", "dora-password-12")
	api := srv.login(t, "dora", "dora-password-12")

	var authID webauthn.AuthenticatorID
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		if err := webauthn.Enable().Do(ctx); err != nil {
			return err
		}
		var err error
		authID, err = webauthn.AddVirtualAuthenticator(&webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		}).Do(ctx)
		return err
	})); err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}

	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		t.Logf("page: %s", what)
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Run(sctx, actions...); err != nil {
			var state string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`"status: " + document.getElementById("status").textContent +
				" | error: " + document.getElementById("error").textContent`, &state))
			t.Log(state)
			screenshot(t, ctx, "passkeys-failure.png")
			t.Fatalf("%s: %v", what, err)
		}
	}
	var text string
	errorShown := func(what, want string) {
		t.Helper()
		run(what, chromedp.Poll(`document.getElementById("error").textContent !== ""`, nil, chromedp.WithPollingTimeout(10*time.Second)),
			chromedp.Text("#error", &text, chromedp.ByID))
		if !strings.Contains(text, want) {
			t.Fatalf("%s: error %q, want %s", what, text, want)
		}
	}
	// The page offers passkeys to the browser's autofill as soon as it is signed out; the
	// authenticator must not answer that by itself (it would race the page's own buttons
	// and forms, which are what the test drives): it answers only while presence is on.
	presence := func(on bool) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			return webauthn.SetAutomaticPresenceSimulation(authID, on).Do(ctx)
		})
	}
	methods := func() []string {
		r := ok(t, "sessions", srv.post(t, api, `{ me { sessions { nodes { method } } } }`, nil))
		var out []string
		for _, n := range r.Data["me"].(map[string]any)["sessions"].(map[string]any)["nodes"].([]any) {
			out = append(out, n.(map[string]any)["method"].(string))
		}
		return out
	}

	run("sign in with the password",
		chromedp.Navigate(origin+"/account"),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SendKeys("#username", "dora", chromedp.ByID),
		chromedp.SendKeys("#password", "dora-password-12", chromedp.ByID),
		chromedp.Click("#signin-submit", chromedp.ByID),
		chromedp.WaitVisible("#account", chromedp.ByID),
	)
	run("add a passkey",
		presence(true),
		chromedp.SendKeys("#passkey-name", "virtual", chromedp.ByID),
		chromedp.Click("#passkey-add", chromedp.ByID),
		chromedp.WaitVisible(`#passkeys-table tbody tr`, chromedp.ByQuery),
		chromedp.Text(`#passkeys-table tbody tr`, &text, chromedp.ByQuery),
	)
	if !strings.Contains(text, "virtual") {
		t.Fatalf("passkey row: %q", text)
	}
	r := ok(t, "me.passkeys", srv.post(t, api, `{ me { passkeys { id name transports } } }`, nil))
	list := r.Data["me"].(map[string]any)["passkeys"].([]any)
	if len(list) != 1 {
		t.Fatalf("me.passkeys: %s", r.Raw)
	}
	screenshot(t, ctx, "account-page-passkeys.png")

	run("rename it",
		chromedp.Click(`#passkeys-table tbody tr button[aria-label^="Rename"]`, chromedp.ByQuery),
		chromedp.SetValue(`#passkeys-table tbody tr input`, "chromium", chromedp.ByQuery),
		chromedp.Click(`#passkeys-table tbody tr button.passkey-save`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector("#passkeys-table tbody tr td").textContent === "chromium"`, nil, chromedp.WithPollingTimeout(10*time.Second)),
	)

	run("sign out", presence(false), chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#passkey-signin", chromedp.ByID))
	run("sign in with the passkey alone",
		presence(true), chromedp.Click("#passkey-signin", chromedp.ByID),
		chromedp.WaitVisible("#account", chromedp.ByID),
		chromedp.Text("#current-user", &text, chromedp.ByID),
	)
	if text != "dora" {
		t.Fatalf("signed in as %q", text)
	}
	found := false
	for _, m := range methods() {
		found = found || m == "PASSKEY"
	}
	if !found {
		t.Fatalf("no PASSKEY session: %v", methods())
	}

	// With TOTP on, the passkey stands in for the one-time code at a password sign-in.
	enr := ok(t, "enableTotp", srv.post(t, api, `mutation($p: String!) { enableTotp(input: {password: $p}) { secret } }`,
		map[string]any{"p": "dora-password-12"}))
	secret := enr.str(t, "enableTotp.secret")
	ok(t, "confirmTotp", srv.post(t, api, `mutation($c: String!) { confirmTotp(input: {code: $c}) { recoveryCodes } }`,
		map[string]any{"c": totpCode(t, secret, time.Now())}))
	run("sign out", presence(false), chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#passkey-signin", chromedp.ByID))
	run("sign in with the password, asked for a second factor",
		chromedp.SetValue("#username", "dora", chromedp.ByID),
		chromedp.SetValue("#password", "dora-password-12", chromedp.ByID),
		chromedp.Click("#signin-submit", chromedp.ByID),
		chromedp.WaitVisible("#otp-passkey", chromedp.ByID),
	)
	run("use the passkey as the second factor",
		presence(true),
		chromedp.Click("#otp-passkey", chromedp.ByID),
		chromedp.WaitVisible("#account", chromedp.ByID),
		chromedp.Text("#current-user", &text, chromedp.ByID),
	)
	if text != "dora" {
		t.Fatalf("signed in as %q", text)
	}
	ok(t, "disableTotp", srv.post(t, api, `mutation($p: String!) { disableTotp(input: {password: $p}) { user { totpEnabled } } }`,
		map[string]any{"p": "dora-password-12"}))

	// A clone: the authenticator's counter set back below what the server saw.
	run("set the counter back", chromedp.ActionFunc(func(ctx context.Context) error {
		creds, err := webauthn.GetCredentials(authID).Do(ctx)
		if err != nil || len(creds) != 1 {
			return fmt.Errorf("credentials: %v, %v", creds, err)
		}
		c := *creds[0]
		c.SignCount = 0
		if err := webauthn.RemoveCredential(authID, c.CredentialID).Do(ctx); err != nil {
			return err
		}
		return webauthn.AddCredential(authID, &c).Do(ctx)
	}))
	run("sign out", presence(false), chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#passkey-signin", chromedp.ByID))
	run("the clone signs in", presence(true), chromedp.Click("#passkey-signin", chromedp.ByID))
	errorShown("a cloned credential", "INVALID_CREDENTIALS")

	run("sign in with the password again",
		chromedp.SendKeys("#password", "dora-password-12", chromedp.ByID),
		chromedp.Click("#signin-submit", chromedp.ByID),
		chromedp.WaitVisible("#account", chromedp.ByID),
		chromedp.Text(`#passkeys-table tbody tr`, &text, chromedp.ByQuery),
	)
	if !strings.Contains(text, "copied") {
		t.Fatalf("no clone warning on the row: %q", text)
	}
	run("delete the passkey",
		chromedp.Click(`#passkeys-table tbody tr button[aria-label^="Delete"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#no-passkeys", chromedp.ByID),
	)
	if r := ok(t, "me.passkeys", srv.post(t, api, `{ me { passkeys { id } } }`, nil)); len(r.Data["me"].(map[string]any)["passkeys"].([]any)) != 0 {
		t.Fatalf("still listed: %s", r.Raw)
	}
	run("sign out", presence(false), chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#passkey-signin", chromedp.ByID))
	run("the deleted passkey signs in", presence(true), chromedp.Click("#passkey-signin", chromedp.ByID))
	errorShown("a deleted passkey", "INVALID_CREDENTIALS")
}
