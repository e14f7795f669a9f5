package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authgraph/authgraph/internal/testenv"
)

// artifactsDir is where browser tests leave screenshots: the repository's testdata/artifacts,
// which git ignores.
const artifactsDir = "../testdata/artifacts"

// newBrowser starts a headless Chromium for the test. Without one it skips loudly, except
// under CI=true, where it fails (.ci/run installs Debian's chromium).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("AUTHGRAPH_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		testenv.Skip(t, "no Chromium found (apt-get install chromium, or set AUTHGRAPH_CHROMIUM): the account page test cannot run")
	}
	// Not t.TempDir: its cleanup fails the test when Chromium's exiting processes still write
	// to the profile as it is removed. removeProfile retries instead.
	profile, err := os.MkdirTemp("", "authgraph-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc(); removeProfile(profile) })
	if err := chromedp.Run(ctx); err != nil { // start the browser now, to report its failure plainly
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

// removeProfile removes a browser profile, retrying for a few seconds while the browser's
// last processes exit.
func removeProfile(dir string) {
	for range 50 {
		if os.RemoveAll(dir) == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactsDir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot: %s (%d bytes)", abs, len(png))
}

// TestAccountPageInChromium signs in on /account in a real headless Chromium (a wrong
// password first) with the session in an HttpOnly cookie that survives a reload, creates a
// key and reads its secret once, sees it listed, ends another session, signs out all the
// others, deletes the key, changes the password, turns two-step sign-in on and off, signs
// out, signs in as a user with TOTP on and as a user of another account; each step is
// checked through the API as well.
func TestAccountPageInChromium(t *testing.T) {
	ctx := newBrowser(t)
	srv, _ := startRedisServer(t, nil)
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		t.Logf("page: %s", what)
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Run(sctx, actions...); err != nil {
			var state string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`"status: " + document.getElementById("status").textContent +
				" | error: " + document.getElementById("error").textContent + " | password: " + document.getElementById("password").value.length`, &state))
			t.Log(state)
			screenshot(t, ctx, "account-page-failure.png")
			t.Fatalf("%s: %v", what, err)
		}
	}
	var text string

	run("open the page",
		chromedp.Navigate(srv.URL+"/account"),
		chromedp.WaitVisible("#username", chromedp.ByID),
	)
	var unlabelled int
	run("check the labels",
		chromedp.Evaluate(`[...document.querySelectorAll("input, select")].filter(e => e.labels.length === 0).length
			+ [...document.querySelectorAll("button")].filter(b => !(b.getAttribute("aria-label") || b.textContent.trim())).length`, &unlabelled),
	)
	if unlabelled != 0 {
		t.Fatalf("%d form controls without a label or name", unlabelled)
	}
	var shown bool
	run("hidden parts are hidden", chromedp.Evaluate(`getComputedStyle(document.getElementById("otp-field")).display !== "none"
		|| getComputedStyle(document.getElementById("account")).display !== "none"`, &shown))
	if shown {
		t.Fatal("the one-time code field or the account view shows before sign-in")
	}

	run("a wrong password",
		chromedp.SendKeys("#username", adminName, chromedp.ByID),
		chromedp.SendKeys("#password", "not-the-password", chromedp.ByID),
		chromedp.Click("#signin-submit", chromedp.ByID),
		chromedp.WaitVisible("#error", chromedp.ByID),
		chromedp.Text("#error", &text, chromedp.ByID),
	)
	if !strings.Contains(text, "INVALID_CREDENTIALS") {
		t.Fatalf("error shown: %q", text)
	}
	run("the page clears a refused password", chromedp.Value("#password", &text, chromedp.ByID))
	if text != "" {
		t.Fatalf("the refused password is still in the form")
	}
	run("sign in",
		chromedp.SendKeys("#password", adminPass, chromedp.ByID),
		chromedp.Click("#signin-submit", chromedp.ByID),
		chromedp.WaitVisible("#account", chromedp.ByID),
		chromedp.Text("#current-user", &text, chromedp.ByID),
	)
	if text != adminName {
		t.Fatalf("signed in as %q", text)
	}
	var cookies string
	run("a reload keeps the session, which scripts cannot see",
		chromedp.Reload(),
		chromedp.WaitVisible("#account", chromedp.ByID),
		chromedp.Evaluate(`document.cookie`, &cookies),
	)
	if cookies != "" {
		t.Fatalf("the session cookie is readable by scripts: %q", cookies)
	}

	// Another session of the same user, made elsewhere, for the page to end.
	other := srv.login(t, adminName, adminPass)
	otherID := srv.post(t, other, `{ me { sessions { nodes { id current } } } }`, nil)
	var otherSessionID string
	for _, n := range otherID.Data["me"].(map[string]any)["sessions"].(map[string]any)["nodes"].([]any) {
		if m := n.(map[string]any); m["current"] == true {
			otherSessionID = m["id"].(string)
		}
	}

	var keyID, secret string
	run("create a key",
		chromedp.SendKeys("#key-name", "page-key", chromedp.ByID),
		chromedp.SetValue("#key-expires", "30", chromedp.ByID),
		chromedp.Click("#key-create", chromedp.ByID),
		chromedp.WaitVisible("#new-key", chromedp.ByID),
		chromedp.Value("#new-key-id", &keyID, chromedp.ByID),
		chromedp.Value("#new-key-secret", &secret, chromedp.ByID),
	)
	if !strings.HasPrefix(secret, "agk_") || keyID == "" {
		t.Fatalf("key %q secret %q", keyID, secret)
	}
	keyRow := fmt.Sprintf(`#keys-table tr[data-key-id=%q]`, keyID)
	run("see it listed",
		chromedp.WaitVisible(keyRow, chromedp.ByQuery),
		chromedp.Text(keyRow, &text, chromedp.ByQuery),
	)
	if !strings.Contains(text, "page-key") || strings.Contains(text, secret) {
		t.Fatalf("key row: %q", text)
	}
	run("copy the secret",
		chromedp.Click("#copy-secret", chromedp.ByID),
		chromedp.Poll(`/cop(y|ied)/i.test(document.getElementById("status").textContent)`, nil, chromedp.WithPollingTimeout(5*time.Second)),
	)
	// The secret works: a program trades it for a session.
	kr := srv.post(t, "", `mutation($id: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s}) { token } }`,
		map[string]any{"id": keyID, "s": secret})
	if kr.code() != "" {
		t.Fatalf("the page's key does not work: %s", kr.Raw)
	}
	var stored string
	run("hide the secret; nothing is stored in the browser",
		chromedp.Click("#dismiss-secret", chromedp.ByID),
		chromedp.WaitNotVisible("#new-key", chromedp.ByID),
		chromedp.Evaluate(`String(localStorage.length + sessionStorage.length) + "|" + document.cookie + "|" + document.getElementById("new-key-secret").value`, &stored),
	)
	if stored != "0||" {
		t.Fatalf("the browser keeps something readable by scripts: %q", stored)
	}
	screenshot(t, ctx, "account-page.png")

	sessionRow := fmt.Sprintf(`#sessions-table tr[data-session-id=%q]`, otherSessionID)
	run("end the other session",
		chromedp.WaitVisible(sessionRow, chromedp.ByQuery),
		chromedp.Click(sessionRow+" button", chromedp.ByQuery),
		chromedp.WaitNotPresent(sessionRow, chromedp.ByQuery),
	)
	if r := srv.post(t, other, `{ me { id } }`, nil); r.Status != 401 {
		t.Fatalf("the ended session still works: %d %s", r.Status, r.Raw)
	}

	// Sessions are told apart by their client and device, and all others end at once.
	phone := srv.login(t, adminName, adminPass)
	laptop := srv.login(t, adminName, adminPass)
	var rows int
	run("see the sessions with their client and device",
		chromedp.Reload(),
		chromedp.WaitVisible("#signout-others", chromedp.ByID),
		chromedp.Text(`#sessions-table tr.current`, &text, chromedp.ByQuery),
	)
	if !strings.Contains(text, "account page · authgraph-account-page") || !strings.Contains(text, "Headless Chrome") || !strings.Contains(text, "on Linux") {
		t.Fatalf("the current session's row: %q", text)
	}
	var activity string
	run("see the recent activity, the wrong password included",
		chromedp.Evaluate(`[...document.querySelectorAll("#activity-table tbody tr")].map(r => r.dataset.eventType + ": " + r.cells[1].textContent + ": " + r.cells[2].textContent).join("\n")`, &activity),
	)
	if !strings.Contains(activity, "session.sign_in: Sign-in: done") || !strings.Contains(activity, "session.sign_in: Sign-in: failed (wrong password or secret)") {
		t.Fatalf("recent activity:\n%s", activity)
	}
	run("sign out all other sessions",
		chromedp.Click("#signout-others", chromedp.ByID),
		chromedp.Poll(`/Signed out \d+ other sessions/.test(document.getElementById("status").textContent)`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Evaluate(`document.querySelectorAll("#sessions-table tbody tr").length`, &rows),
	)
	if rows != 1 {
		t.Fatalf("%d sessions listed after signing out the others", rows)
	}
	for _, tok := range []string{phone, laptop} {
		if r := srv.post(t, tok, `{ me { id } }`, nil); r.Status != 401 {
			t.Fatalf("another session still works: %d %s", r.Status, r.Raw)
		}
	}

	run("delete the key",
		chromedp.Click(keyRow+" button", chromedp.ByQuery),
		chromedp.WaitNotPresent(keyRow, chromedp.ByQuery),
		chromedp.Text("#status", &text, chromedp.ByID),
	)
	if !strings.Contains(text, "deleted") {
		t.Fatalf("status after deleting: %q", text)
	}
	kr = srv.post(t, "", `mutation($id: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s}) { token } }`,
		map[string]any{"id": keyID, "s": secret})
	if kr.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("the revoked key still works: %s", kr.Raw)
	}

	const newPass = "a new admin password from the page"
	run("change the password",
		chromedp.SendKeys("#current-password", adminPass, chromedp.ByID),
		chromedp.SendKeys("#new-password", newPass, chromedp.ByID),
		chromedp.Click("#password-submit", chromedp.ByID),
		chromedp.Poll(`document.getElementById("status").textContent.startsWith("Password changed")`, nil, chromedp.WithPollingTimeout(10*time.Second)),
	)
	if r := srv.post(t, "", `mutation($p: String!) { createSessionUsingUsername(input: {username: "admin", password: $p}) { token } }`,
		map[string]any{"p": adminPass}); r.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("the old password still works: %s", r.Raw)
	}
	before := srv.login(t, adminName, newPass) // a session made before TOTP is on, to check it

	var totpSecret, uri string
	var codes int
	run("start two-step sign-in with the password",
		chromedp.SendKeys("#totp-password", newPass, chromedp.ByID),
		chromedp.Click("#totp-start", chromedp.ByID),
		chromedp.WaitVisible("#totp-enrol", chromedp.ByID),
		chromedp.Value("#totp-secret", &totpSecret, chromedp.ByID),
		chromedp.Value("#totp-uri", &uri, chromedp.ByID),
	)
	if len(totpSecret) < 16 || !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, totpSecret) {
		t.Fatalf("enrolment: secret %q uri %q", totpSecret, uri)
	}
	screenshot(t, ctx, "account-page-totp-enrolment.png")
	run("confirm it with a code",
		chromedp.SendKeys("#totp-code", totpCode(t, totpSecret, time.Now()), chromedp.ByID),
		chromedp.Click("#totp-confirm", chromedp.ByID),
		chromedp.WaitVisible("#totp-recovery", chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll("#totp-recovery-codes li").length`, &codes),
	)
	if codes != 10 {
		t.Fatalf("%d recovery codes shown", codes)
	}
	if r := srv.post(t, before, `{ me { totpEnabled } }`, nil); !strings.Contains(r.Raw, `"totpEnabled":true`) {
		t.Fatalf("TOTP is not on: %s", r.Raw)
	}
	screenshot(t, ctx, "account-page-recovery-codes.png")
	run("turn it off with the password",
		chromedp.Click("#totp-recovery-done", chromedp.ByID),
		chromedp.WaitVisible("#totp-off-form", chromedp.ByID),
		chromedp.SendKeys("#totp-off-password", newPass, chromedp.ByID),
		chromedp.Click("#totp-off", chromedp.ByID),
		chromedp.WaitVisible("#totp-start-form", chromedp.ByID),
	)
	if r := srv.post(t, before, `{ me { totpEnabled } }`, nil); !strings.Contains(r.Raw, `"totpEnabled":false`) {
		t.Fatalf("TOTP is still on: %s", r.Raw)
	}

	run("sign out",
		chromedp.Click("#signout", chromedp.ByID),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.Text("#status", &text, chromedp.ByID),
	)
	if text != "Signed out." {
		t.Fatalf("status after signing out: %q", text)
	}
	admin := srv.login(t, adminName, newPass)
	left := srv.post(t, admin, `{ me { sessions { nodes { name } } } }`, nil)
	if strings.Contains(left.Raw, "account page") {
		t.Fatalf("the page's session outlived its sign-out: %s", left.Raw)
	}
	screenshot(t, ctx, "account-page-signed-out.png")

	// A user with TOTP on is asked for the one-time code.
	srv.createUser(t, admin, "otto", "otto-password-1")
	otto := srv.login(t, "otto", "otto-password-1")
	totpSecret = srv.post(t, otto, `mutation { enableTotp(input: {password: "otto-password-1"}) { secret } }`, nil).str(t, "enableTotp.secret")
	if r := srv.post(t, otto, `mutation($c: String!) { confirmTotp(input: {code: $c}) { recoveryCodes } }`,
		map[string]any{"c": totpCode(t, totpSecret, time.Now())}); r.code() != "" {
		t.Fatalf("confirmTotp: %s", r.Raw)
	}
	run("a password is not enough with TOTP on",
		chromedp.SendKeys("#username", "otto", chromedp.ByID),
		chromedp.SendKeys("#password", "otto-password-1", chromedp.ByID),
		chromedp.Click("#signin-submit", chromedp.ByID),
		chromedp.WaitVisible("#otp", chromedp.ByID),
		chromedp.Text("#error", &text, chromedp.ByID),
	)
	if !strings.Contains(text, "OTP_REQUIRED") {
		t.Fatalf("error shown: %q", text)
	}
	run("sign in with the one-time code",
		chromedp.SendKeys("#otp", totpCode(t, totpSecret, time.Now().Add(30*time.Second)), chromedp.ByID),
		chromedp.Click("#signin-submit", chromedp.ByID),
		chromedp.WaitVisible("#account", chromedp.ByID),
		chromedp.Text("#current-user", &text, chromedp.ByID),
	)
	if text != "otto" {
		t.Fatalf("signed in as %q", text)
	}
	screenshot(t, ctx, "account-page-totp.png")

	// A user of another account signs in naming it.
	if r := srv.post(t, admin, `mutation { createAccount(input: {slug: "acme", name: "Acme"}) { slug } }`, nil); r.code() != "" {
		t.Fatalf("createAccount: %s", r.Raw)
	}
	if r := srv.post(t, admin, `mutation { createUser(input: {username: "ann", password: "ann-password-1", account: "acme"}) { id } }`, nil); r.code() != "" {
		t.Fatalf("createUser: %s", r.Raw)
	}
	run("sign in to another account",
		chromedp.Click("#signout", chromedp.ByID),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SetValue("#username", "ann", chromedp.ByID),
		chromedp.SendKeys("#password", "ann-password-1", chromedp.ByID),
		chromedp.SendKeys("#account-slug", "acme", chromedp.ByID),
		chromedp.Click("#signin-submit", chromedp.ByID),
		chromedp.WaitVisible("#account", chromedp.ByID),
		chromedp.Text("#whoami", &text, chromedp.ByID),
	)
	if !strings.Contains(text, "ann") || !strings.Contains(text, "acme") || strings.Count(text, "Signed in as") != 1 {
		t.Fatalf("signed in as %q", text)
	}
	run("the status does not repeat who is signed in", chromedp.Text("#status", &text, chromedp.ByID))
	if strings.Contains(text, "Signed in as") {
		t.Fatalf("status %q", text)
	}
	assertNoSecretIn(t, "the server log", srv.logs.String(), []string{secret, adminPass, newPass, totpSecret})
}
