package main

import (
	"encoding/base32"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/authgraph/authgraph/internal/auth"
)

// totpCode is what an authenticator app shows at t: RFC 6238 by pquerna/otp.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const loginOTP = `mutation($u: String!, $p: String!, $otp: String) {
  createSessionUsingUsername(input: {username: $u, password: $p, otp: $otp}) { token }
}`

// TOTP end to end, with AUTHGRAPH_SECRET_KEY, against real Redis: then a scan of every key
// finds neither a recovery code nor the TOTP secret, and the log holds neither.
func TestTOTPRedis(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_SECRET_KEY": testKey})
	if strings.Contains(srv.logs.String(), "stored unencrypted") {
		t.Fatal("the server warns about unencrypted TOTP secrets although a key is set")
	}
	f := runTOTPFlow(t, srv)
	assertNoSecretInRedis(t, rs.Client, rs.Prefix, f.secrets())
	assertNoSecretIn(t, "the server log", srv.logs.String(), f.secrets())
}

func TestTOTPEmbeddedStore(t *testing.T) {
	srv := startServer(t, nil)
	f := runTOTPFlow(t, srv)
	assertNoSecretIn(t, "the server log", srv.logs.String(), f.secrets())
}

// Without AUTHGRAPH_SECRET_KEY: the documented trade-off. The server warns at start, the
// secret is stored as is (the scan finds it), and the recovery codes are still only digests.
func TestTOTPWithoutSecretKey(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	if !strings.Contains(srv.logs.String(), "AUTHGRAPH_SECRET_KEY is not set") {
		t.Fatalf("no warning about unencrypted TOTP secrets in the log:\n%s", srv.logs)
	}
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "tina", "tina-password-1")
	tina := srv.login(t, "tina", "tina-password-1")
	secret := srv.post(t, tina, `mutation { enableTotp(input: {password: "tina-password-1"}) { secret } }`, nil).str(t, "enableTotp.secret")
	r := srv.post(t, tina, `mutation($c: String!) { confirmTotp(input: {code: $c}) { recoveryCodes } }`,
		map[string]any{"c": totpCode(t, secret, time.Now())})
	if r.code() != "" {
		t.Fatalf("confirmTotp: %s", r.Raw)
	}
	codes := stringList(t, r, "confirmTotp", "recoveryCodes")
	uid := srv.post(t, tina, `{ me { rawID } }`, nil).str(t, "me.rawID")
	stored := rs.Client.HGet(t.Context(), rs.Prefix+"{u"+uid+"}:totp", "s").Val()
	if !strings.Contains(stored, secret) {
		t.Fatalf("without a key the TOTP secret should be stored as is, at {u%s}:totp; found %d bytes", uid, len(stored))
	}
	assertNoSecretInRedis(t, rs.Client, rs.Prefix, recoveryForms(codes))
}

// totpFlow is what runTOTPFlow saw.
type totpFlow struct {
	secret string
	codes  []string
	tokens []string
}

// secrets answers every form in which a secret of the flow could be stored or logged: the
// base32 secret (as given and in lower case), its raw bytes, and each recovery code with and
// without hyphens.
func (f totpFlow) secrets() []string {
	out := append([]string{f.secret, strings.ToLower(f.secret), "tina-password-1"}, f.tokens...)
	if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(f.secret); err == nil {
		out = append(out, string(raw))
	}
	return append(out, recoveryForms(f.codes)...)
}

func recoveryForms(codes []string) []string {
	var out []string
	for _, c := range codes {
		out = append(out, c, strings.ReplaceAll(c, "-", ""))
	}
	return out
}

// runTOTPFlow: enrol → confirm → a login without otp is OTP_REQUIRED with no token → with a
// valid code, a token → the same code again is refused (replay) → a recovery code works once
// → a user key session needs no code → disable with the password → a plain login again.
func runTOTPFlow(t *testing.T, srv *testServer) totpFlow {
	t.Helper()
	var f totpFlow
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "tina", "tina-password-1")
	tina := srv.login(t, "tina", "tina-password-1")
	f.tokens = append(f.tokens, admin, tina)
	r := srv.post(t, tina, `mutation { createUserKey(input: {name: "ci"}) { id secret } }`, nil)
	keyID, keySecret := r.str(t, "createUserKey.id"), r.str(t, "createUserKey.secret")
	f.tokens = append(f.tokens, keySecret)

	if r := srv.post(t, tina, `{ me { totpEnabled } }`, nil); !strings.Contains(r.Raw, `"totpEnabled":false`) {
		t.Fatalf("totpEnabled before enrolment: %s", r.Raw)
	}

	// 1. enableTotp: a secret and an otpauth:// URI for the authenticator app.
	r = srv.post(t, tina, `mutation { enableTotp(input: {password: "tina-password-1"}) { secret uri expiresAt } }`, nil)
	if r.code() != "" {
		t.Fatalf("enableTotp: %s", r.Raw)
	}
	f.secret = r.str(t, "enableTotp.secret")
	u, err := url.Parse(r.str(t, "enableTotp.uri"))
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/authgraph:tina" ||
		u.Query().Get("issuer") != "authgraph" || u.Query().Get("secret") != f.secret {
		t.Fatalf("enableTotp uri: %s", r.Raw)
	}

	// 2. confirmTotp: a wrong code is refused; the right one turns TOTP on and answers the
	// recovery codes.
	const confirm = `mutation($c: String!) { confirmTotp(input: {code: $c}) { recoveryCodes user { username totpEnabled } } }`
	now := time.Now()
	if r := srv.post(t, tina, confirm, map[string]any{"c": wrongTOTP(totpCode(t, f.secret, now))}); r.code() != "OTP_REQUIRED" {
		t.Fatalf("confirmTotp with a wrong code: %s", r.Raw)
	}
	r = srv.post(t, tina, confirm, map[string]any{"c": totpCode(t, f.secret, now)})
	if r.code() != "" || !strings.Contains(r.Raw, `"totpEnabled":true`) {
		t.Fatalf("confirmTotp: %s", r.Raw)
	}
	f.codes = stringList(t, r, "confirmTotp", "recoveryCodes")
	if len(f.codes) != 10 {
		t.Fatalf("%d recovery codes, want 10: %s", len(f.codes), r.Raw)
	}

	// 3. A password login without otp: OTP_REQUIRED, and no token anywhere in the answer.
	noToken := func(what string, r *gqlResponse, wantCode string) {
		t.Helper()
		if r.code() != wantCode || strings.Contains(r.Raw, "ags_") || (r.Data != nil && r.Data["createSessionUsingUsername"] != nil) {
			t.Fatalf("%s: want %s and no token: %d %s", what, wantCode, r.Status, r.Raw)
		}
	}
	vars := func(pass, code string) map[string]any {
		v := map[string]any{"u": "tina", "p": pass}
		if code != "" {
			v["otp"] = code
		}
		return v
	}
	r = srv.post(t, "", loginOTP, vars("tina-password-1", ""))
	noToken("no otp", r, "OTP_REQUIRED")
	if msg := r.Errors[0].Message; !strings.Contains(msg, "missing or invalid") {
		t.Fatalf("OTP_REQUIRED message %q does not say the code was missing or invalid", msg)
	}
	// A wrong password is INVALID_CREDENTIALS, as always, with or without a code.
	next := totpCode(t, f.secret, time.Now().Add(30*time.Second)) // the next step: unused so far
	noToken("a wrong password", srv.post(t, "", loginOTP, vars("wrong-password", "")), "INVALID_CREDENTIALS")
	noToken("a wrong password with a good code", srv.post(t, "", loginOTP, vars("wrong-password", next)), "INVALID_CREDENTIALS")
	noToken("a wrong code", srv.post(t, "", loginOTP, vars("tina-password-1", wrongTOTP(next))), "OTP_REQUIRED")

	// 4. A valid code: a token that works. The same code again: refused (replay).
	r = srv.post(t, "", loginOTP, vars("tina-password-1", next))
	if r.code() != "" {
		t.Fatalf("login with a valid code: %s", r.Raw)
	}
	tok := r.str(t, "createSessionUsingUsername.token")
	f.tokens = append(f.tokens, tok)
	if r := srv.post(t, tok, `{ me { username totpEnabled } }`, nil); r.str(t, "me.username") != "tina" {
		t.Fatalf("me with the new token: %s", r.Raw)
	}
	noToken("the same code again", srv.post(t, "", loginOTP, vars("tina-password-1", next)), "OTP_REQUIRED")

	// 5. A recovery code works once.
	r = srv.post(t, "", loginOTP, vars("tina-password-1", f.codes[0]))
	if r.code() != "" {
		t.Fatalf("login with a recovery code: %s", r.Raw)
	}
	f.tokens = append(f.tokens, r.str(t, "createSessionUsingUsername.token"))
	noToken("the same recovery code again", srv.post(t, "", loginOTP, vars("tina-password-1", f.codes[0])), "OTP_REQUIRED")

	// 6. A user key session is not subject to TOTP.
	r = srv.post(t, "", `mutation($id: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s}) { token } }`,
		map[string]any{"id": keyID, "s": keySecret})
	if r.code() != "" {
		t.Fatalf("user key login with TOTP on: %s", r.Raw)
	}
	f.tokens = append(f.tokens, r.str(t, "createSessionUsingUserKey.token"))

	// 7. enableTotp while on is a conflict; disableTotp needs the password (or a code).
	if r := srv.post(t, tina, `mutation { enableTotp(input: {password: "tina-password-1"}) { secret } }`, nil); r.code() != "CONFLICT" {
		t.Fatalf("enableTotp while on: %s", r.Raw)
	}
	const disable = `mutation($p: String, $c: String) { disableTotp(input: {password: $p, code: $c}) { user { totpEnabled } } }`
	if r := srv.post(t, tina, disable, map[string]any{"p": "wrong-password"}); r.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("disableTotp with a wrong password: %s", r.Raw)
	}
	if r := srv.post(t, tina, disable, nil); r.code() != "BAD_USER_INPUT" {
		t.Fatalf("disableTotp with neither: %s", r.Raw)
	}
	r = srv.post(t, tina, disable, map[string]any{"p": "tina-password-1"})
	if r.code() != "" || !strings.Contains(r.Raw, `"totpEnabled":false`) {
		t.Fatalf("disableTotp with the password: %s", r.Raw)
	}

	// 8. A password alone signs in again.
	f.tokens = append(f.tokens, srv.login(t, "tina", "tina-password-1"))
	return f
}

// A stolen session, however fresh, cannot enrol an authenticator of its own and lock the
// owner out: enableTotp needs the password, its wrong guesses count in the sign-ins' bucket
// (login:ip+id, 5 failures) and leave no enrolment behind; the owner enrols as before.
func TestEnableTOTPNeedsThePasswordRedis(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1"})
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "tess", "tess-password-1")
	stolen := srv.login(t, "tess", "tess-password-1") // signed in a moment ago: within the window
	uid := srv.post(t, stolen, `{ me { rawID } }`, nil).str(t, "me.rawID")
	const enable = `mutation($p: String!) { enableTotp(input: {password: $p}) { secret uri } }`
	const thief = "203.0.113.88"
	noSecret := func(what string, r *gqlResponse) {
		t.Helper()
		if r.field("enableTotp") != nil || strings.Contains(r.Raw, "otpauth") {
			t.Fatalf("%s: an enrolment was answered: %s", what, r.Raw)
		}
		if n := rs.Client.Exists(t.Context(), rs.Prefix+"{u"+uid+"}:totp:new").Val(); n != 0 {
			t.Fatalf("%s: an enrolment is under way in Redis", what)
		}
	}

	// The argument-less form of old is no longer valid at all.
	r := srv.post(t, stolen, `mutation { enableTotp { secret } }`, nil, "X-Forwarded-For", thief)
	if r.code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("enableTotp without input: %d %s", r.Status, r.Raw)
	}
	noSecret("enableTotp without input", r)
	r = srv.post(t, stolen, enable, map[string]any{"p": ""}, "X-Forwarded-For", thief)
	wantGQLCode(t, "enableTotp with an empty password", r, "BAD_USER_INPUT")
	noSecret("an empty password", r)

	// Guesses: INVALID_CREDENTIALS, as changePassword answers, until the address is out of
	// failures on the account; then even the right password is refused before any check,
	// and sign-in from that address on the account is throttled too (one bucket).
	for i := range 5 {
		r := srv.post(t, stolen, enable, map[string]any{"p": fmt.Sprint("guess-", i)}, "X-Forwarded-For", thief)
		if r.code() != "INVALID_CREDENTIALS" || r.Errors[0].Message != auth.MsgInvalidCredentials {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Raw)
		}
		noSecret(fmt.Sprint("guess ", i), r)
	}
	r = srv.post(t, stolen, enable, map[string]any{"p": "tess-password-1"}, "X-Forwarded-For", thief)
	assertLimited(t, r)
	noSecret("the right password after five guesses", r)
	assertLimited(t, srv.loginFrom(t, thief, "tess", "tess-password-1"))
	if r := srv.post(t, stolen, `{ me { totpEnabled } }`, nil); !strings.Contains(r.Raw, `"totpEnabled":false`) {
		t.Fatalf("TOTP after the thief's attempts: %s", r.Raw)
	}
	if r := srv.post(t, stolen, `mutation { confirmTotp(input: {code: "123456"}) { recoveryCodes } }`, nil); r.code() != "CONFLICT" {
		t.Fatalf("confirmTotp with no enrolment: %s", r.Raw)
	}

	// Tess, from her own address and with her password, enrols as before.
	tess := srv.login(t, "tess", "tess-password-1")
	r = srv.post(t, tess, enable, map[string]any{"p": "tess-password-1"}, "X-Forwarded-For", "198.51.100.31")
	secret := ok(t, "tess's enableTotp", r).str(t, "enableTotp.secret")
	if n := rs.Client.Exists(t.Context(), rs.Prefix+"{u"+uid+"}:totp:new").Val(); n != 1 {
		t.Fatal("no enrolment in Redis where the checks above look for one")
	}
	ok(t, "tess's confirmTotp", srv.post(t, tess, `mutation($c: String!) { confirmTotp(input: {code: $c}) { recoveryCodes } }`,
		map[string]any{"c": totpCode(t, secret, time.Now())}))
	assertNoSecretIn(t, "the server log", srv.logs.String(), []string{"tess-password-1", secret})
}

func TestTOTPNeedsASession(t *testing.T) {
	srv := startServer(t, nil)
	for _, q := range []string{
		`mutation { enableTotp(input: {password: "x"}) { secret } }`,
		`mutation { confirmTotp(input: {code: "123456"}) { recoveryCodes } }`,
		`mutation { disableTotp(input: {password: "x"}) { user { id } } }`,
	} {
		if r := srv.post(t, "", q, nil); r.code() != "UNAUTHENTICATED" {
			t.Errorf("%s without a session: %s", q, r.Raw)
		}
	}
}

func wrongTOTP(c string) string {
	b := []byte(c)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// stringList digs a list of strings out of r.Data[obj][field].
func stringList(t *testing.T, r *gqlResponse, obj, field string) []string {
	t.Helper()
	m, _ := r.Data[obj].(map[string]any)
	items, ok := m[field].([]any)
	if !ok {
		t.Fatalf("no list %s.%s in %s", obj, field, r.Raw)
	}
	out := make([]string, len(items))
	for i, v := range items {
		out[i], _ = v.(string)
	}
	return out
}
