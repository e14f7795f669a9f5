package main

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/passkey/passkeytest"
)

// The passkey origin of these tests: the public URL, on localhost (an RP ID browsers
// accept), whatever port the test server really listens on (the ceremony's origin is what
// the browser reports, not where the request goes).
const passkeyOrigin = "http://localhost:8080"

func passkeyEnv() map[string]string {
	return map[string]string{
		"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn",
		"AUTHGRAPH_PUBLIC_URL": passkeyOrigin,
	}
}

// wantErrCode fails t unless r's first error has code.
func wantErrCode(t *testing.T, what string, r *gqlResponse, code string) {
	t.Helper()
	if r.code() != code {
		t.Fatalf("%s: want %s, got %d %s", what, code, r.Status, r.Raw)
	}
}

const (
	qBeginReg  = `mutation { beginPasskeyRegistration }`
	qFinishReg = `mutation($n: String!, $r: String!) { finishPasskeyRegistration(input: {name: $n, response: $r}) { id name } }`
	qBeginIn   = `mutation { beginPasskeySignIn }`
	qSignIn    = `mutation($r: String!, $f: Boolean) { createSessionUsingPasskey(input: {response: $r, refreshable: $f}) { token refreshToken method user { username } } }`
	qPasskeys  = `{ me { passkeys { id name createdAt lastUsedAt aaguid authenticator backupEligible backupState transports cloneSuspectedAt } } }`
)

// registerPasskey runs a registration for the session tok with a new software authenticator.
func registerPasskey(t *testing.T, srv *testServer, tok, name string) (*passkeytest.Authenticator, string) {
	t.Helper()
	a := passkeytest.New(passkeyOrigin)
	opts := ok(t, "beginPasskeyRegistration", srv.post(t, tok, qBeginReg, nil)).str(t, "beginPasskeyRegistration")
	resp, err := a.Create([]byte(opts))
	if err != nil {
		t.Fatal(err)
	}
	r := ok(t, "finishPasskeyRegistration", srv.post(t, tok, qFinishReg, map[string]any{"n": name, "r": string(resp)}))
	return a, r.str(t, "finishPasskeyRegistration.id")
}

// passkeyAssertion begins a sign-in and has a answer it.
func passkeyAssertion(t *testing.T, srv *testServer, a *passkeytest.Authenticator) string {
	t.Helper()
	opts := ok(t, "beginPasskeySignIn", srv.post(t, "", qBeginIn, nil)).str(t, "beginPasskeySignIn")
	resp, err := a.Get([]byte(opts))
	if err != nil {
		t.Fatal(err)
	}
	return string(resp)
}

func passkeySignIn(t *testing.T, srv *testServer, a *passkeytest.Authenticator) *gqlResponse {
	t.Helper()
	return srv.post(t, "", qSignIn, map[string]any{"r": passkeyAssertion(t, srv, a)})
}

// The whole life of a passkey over HTTP on Redis: register, list, rename, sign in with it
// alone, and the refusals: a replayed challenge, a cloned credential, another origin or RP
// ID, no user verification, someone else's passkey, a deleted passkey.
func TestPasskeysEndToEnd(t *testing.T) {
	srv, _ := startRedisServer(t, passkeyEnv())
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "alice", "alice-password-1")
	srv.createUser(t, admin, "bob", "bob-password-12")
	alice, bob := srv.login(t, "alice", "alice-password-1"), srv.login(t, "bob", "bob-password-12")

	a, id := registerPasskey(t, srv, alice, "laptop")
	clone := a.Clone() // what someone who copied the key holds, counter and all

	// A registration response is good for one finish.
	opts := ok(t, "begin", srv.post(t, alice, qBeginReg, nil)).str(t, "beginPasskeyRegistration")
	b := passkeytest.New(passkeyOrigin)
	resp, _ := b.Create([]byte(opts))
	ok(t, "second passkey", srv.post(t, alice, qFinishReg, map[string]any{"n": "phone", "r": string(resp)}))
	wantErrCode(t, "a replayed registration", srv.post(t, alice, qFinishReg, map[string]any{"n": "again", "r": string(resp)}), "BAD_USER_INPUT")
	// Begun by alice, finished by bob: refused, and alice's ceremony is spent.
	opts = ok(t, "begin", srv.post(t, alice, qBeginReg, nil)).str(t, "beginPasskeyRegistration")
	resp, _ = passkeytest.New(passkeyOrigin).Create([]byte(opts))
	wantErrCode(t, "another user's registration", srv.post(t, bob, qFinishReg, map[string]any{"n": "stolen", "r": string(resp)}), "BAD_USER_INPUT")
	// Another origin at registration.
	opts = ok(t, "begin", srv.post(t, alice, qBeginReg, nil)).str(t, "beginPasskeyRegistration")
	evil := passkeytest.New("http://evil.example.net")
	resp, _ = evil.Create([]byte(opts))
	wantErrCode(t, "a registration from another origin", srv.post(t, alice, qFinishReg, map[string]any{"n": "evil", "r": string(resp)}), "BAD_USER_INPUT")

	// Listed, oldest first; renamed.
	r := ok(t, "me.passkeys", srv.post(t, alice, qPasskeys, nil))
	list := r.Data["me"].(map[string]any)["passkeys"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["name"] != "laptop" || list[1].(map[string]any)["name"] != "phone" {
		t.Fatalf("me.passkeys: %s", r.Raw)
	}
	first := list[0].(map[string]any)
	if first["lastUsedAt"] != nil || first["aaguid"] != "00000000-0000-0000-0000-000000000000" || first["authenticator"] != nil {
		t.Errorf("a new passkey: %v", first)
	}
	ok(t, "rename", srv.post(t, alice, `mutation($id: ObjectID!) { renamePasskey(input: {passkeyId: $id, name: "work laptop"}) { name } }`, map[string]any{"id": id}))
	wantErrCode(t, "bob renames alice's", srv.post(t, bob, `mutation($id: ObjectID!) { renamePasskey(input: {passkeyId: $id, name: "mine"}) { name } }`, map[string]any{"id": id}), "NOT_FOUND")
	wantErrCode(t, "bob deletes alice's", srv.post(t, bob, `mutation($id: ObjectID!) { deletePasskey(input: {passkeyId: $id}) { id } }`, map[string]any{"id": id}), "NOT_FOUND")
	if r := ok(t, "bob's passkeys", srv.post(t, bob, qPasskeys, nil)); len(r.Data["me"].(map[string]any)["passkeys"].([]any)) != 0 {
		t.Errorf("bob sees passkeys: %s", r.Raw)
	}

	// Sign in with the passkey alone: a session of alice, method PASSKEY.
	assertion := passkeyAssertion(t, srv, a)
	r = ok(t, "passkey sign-in", srv.post(t, "", qSignIn, map[string]any{"r": assertion}))
	if r.str(t, "createSessionUsingPasskey.method") != "PASSKEY" || r.str(t, "createSessionUsingPasskey.user.username") != "alice" {
		t.Fatalf("passkey session: %s", r.Raw)
	}
	tok := r.str(t, "createSessionUsingPasskey.token")
	if r := ok(t, "me with the passkey session", srv.post(t, tok, `{ me { username } }`, nil)); r.str(t, "me.username") != "alice" {
		t.Fatalf("me: %s", r.Raw)
	}
	wantErrCode(t, "a replayed assertion", srv.post(t, "", qSignIn, map[string]any{"r": assertion}), "INVALID_CREDENTIALS")
	// Refreshable too.
	r = ok(t, "refreshable passkey sign-in", srv.post(t, "", qSignIn, map[string]any{"r": passkeyAssertion(t, srv, a), "f": true}))
	if r.str(t, "createSessionUsingPasskey.refreshToken") == "" {
		t.Errorf("no refresh token: %s", r.Raw)
	}

	// The clone's counter is behind: refused, and the passkey marked.
	wantErrCode(t, "a cloned credential", passkeySignIn(t, srv, clone), "INVALID_CREDENTIALS")
	r = ok(t, "me.passkeys", srv.post(t, alice, qPasskeys, nil))
	first = r.Data["me"].(map[string]any)["passkeys"].([]any)[0].(map[string]any)
	if first["cloneSuspectedAt"] == nil || first["lastUsedAt"] == nil || first["name"] != "work laptop" {
		t.Errorf("after the clone: %v", first)
	}
	// The trail holds the registration, the passkey sign-in and the clone suspicion.
	waitFor(t, func() bool {
		r := ok(t, "securityEvents", srv.post(t, alice, `{ me { securityEvents(first: 50) { nodes { type outcome detail } } } }`, nil))
		seen := map[string]bool{}
		for _, n := range r.Data["me"].(map[string]any)["securityEvents"].(map[string]any)["nodes"].([]any) {
			e := n.(map[string]any)
			seen[fmt.Sprint(e["type"], "/", e["outcome"], "/", e["detail"] == "PASSKEY")] = true
		}
		return seen["passkey.registered/SUCCESS/false"] && seen["session.sign_in/SUCCESS/true"] && seen["passkey.clone_suspected/FAILURE/false"]
	})
	// Another origin, another RP ID, no user verification.
	for what, bend := range map[string]func(*passkeytest.Authenticator){
		"another origin":       func(x *passkeytest.Authenticator) { x.Origin = "http://evil.example.net" },
		"another RP ID":        func(x *passkeytest.Authenticator) { x.RPID = "evil.example.net" },
		"no user verification": func(x *passkeytest.Authenticator) { x.NoUV = true },
	} {
		x := a.Clone()
		bend(x)
		wantErrCode(t, what, passkeySignIn(t, srv, x), "INVALID_CREDENTIALS")
	}
	ok(t, "the real one still signs in", passkeySignIn(t, srv, a))

	// Deleted: it signs in no more.
	ok(t, "delete", srv.post(t, alice, `mutation($id: ObjectID!) { deletePasskey(input: {passkeyId: $id}) { id } }`, map[string]any{"id": id}))
	wantErrCode(t, "a deleted passkey", passkeySignIn(t, srv, a), "INVALID_CREDENTIALS")
	ok(t, "the other passkey still signs in", passkeySignIn(t, srv, b))
}

// Two sign-ins racing on one challenge: one wins.
func TestPasskeyChallengeRace(t *testing.T) {
	env := passkeyEnv()
	env["AUTHGRAPH_RATE_LIMITS"] = "passkey:ip=1000/1m/1000" // the race, not the limit
	srv, _ := startRedisServer(t, env)
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "carol", "carol-password-1")
	a, _ := registerPasskey(t, srv, srv.login(t, "carol", "carol-password-1"), "key")
	for range 5 {
		assertion := passkeyAssertion(t, srv, a)
		var mu sync.Mutex
		codes := map[string]int{}
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				r := srv.post(t, "", qSignIn, map[string]any{"r": assertion})
				mu.Lock()
				codes[r.code()]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if codes[""] != 1 || codes["INVALID_CREDENTIALS"] != 5 {
			t.Fatalf("six sign-ins with one assertion: %v; want one success", codes)
		}
	}
}

// The relying party comes from the public URL unless set, and a setting that no browser
// could use is refused at start.
func TestPasskeyConfig(t *testing.T) {
	for _, c := range []struct {
		name    string
		env     map[string]string
		on      bool
		rpID    string
		origins []string
		bad     bool
	}{
		{"the default listen address: an IP, off", nil, false, "", nil, false},
		{"from the public URL", map[string]string{"AUTHGRAPH_PUBLIC_URL": "https://auth.example.com"}, true, "auth.example.com", []string{"https://auth.example.com"}, false},
		{"a parent domain", map[string]string{"AUTHGRAPH_PUBLIC_URL": "https://auth.example.com", "AUTHGRAPH_WEBAUTHN_RP_ID": "example.com",
			"AUTHGRAPH_WEBAUTHN_ORIGINS": "https://auth.example.com, https://app.example.com/"}, true, "example.com", []string{"https://auth.example.com", "https://app.example.com"}, false},
		{"an RP ID the public URL is not on", map[string]string{"AUTHGRAPH_PUBLIC_URL": "https://auth.example.com", "AUTHGRAPH_WEBAUTHN_RP_ID": "example.org"}, false, "", nil, true},
		{"an origin off the RP ID", map[string]string{"AUTHGRAPH_PUBLIC_URL": "https://auth.example.com", "AUTHGRAPH_WEBAUTHN_ORIGINS": "https://evil.example.net"}, false, "", nil, true},
		{"an RP ID with a scheme", map[string]string{"AUTHGRAPH_PUBLIC_URL": "https://auth.example.com", "AUTHGRAPH_WEBAUTHN_RP_ID": "https://auth.example.com"}, false, "", nil, true},
		{"an RP ID set on an IP public URL", map[string]string{"AUTHGRAPH_WEBAUTHN_RP_ID": "localhost"}, false, "", nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig(nil, func(k string) string { return c.env[k] }, io.Discard)
			if c.bad {
				if err == nil {
					t.Fatalf("loadConfig accepted %v", c.env)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pc, on, err := passkeyConfig(cfg)
			if err != nil || on != c.on || pc.RPID != c.rpID || !slices.Equal(pc.Origins, c.origins) {
				t.Errorf("passkeyConfig = %+v, %v, %v; want %s %v, on %v", pc, on, err, c.rpID, c.origins, c.on)
			}
		})
	}
}

// With TOTP on, a passkey stands in for the code at a password sign-in (another user's
// passkey does not), recovery codes still work, and a passkey sign-in asks for no code.
func TestPasskeyAsSecondFactor(t *testing.T) {
	srv, _ := startRedisServer(t, passkeyEnv())
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "erin", "erin-password-12")
	srv.createUser(t, admin, "finn", "finn-password-12")
	erin := srv.login(t, "erin", "erin-password-12")
	a, _ := registerPasskey(t, srv, erin, "phone")
	other, _ := registerPasskey(t, srv, srv.login(t, "finn", "finn-password-12"), "finn's")
	secret := ok(t, "enableTotp", srv.post(t, erin, `mutation { enableTotp(input: {password: "erin-password-12"}) { secret } }`, nil)).str(t, "enableTotp.secret")
	r := ok(t, "confirmTotp", srv.post(t, erin, `mutation($c: String!) { confirmTotp(input: {code: $c}) { recoveryCodes } }`,
		map[string]any{"c": totpCode(t, secret, time.Now())}))
	recovery := stringList(t, r, "confirmTotp", "recoveryCodes")

	const login = `mutation($p: String, $otp: String) {
		createSessionUsingUsername(input: {username: "erin", password: "erin-password-12", otp: $otp, passkey: $p}) { token method } }`
	wantErrCode(t, "the password alone", srv.post(t, "", login, nil), "OTP_REQUIRED")
	r = ok(t, "password and passkey", srv.post(t, "", login, map[string]any{"p": passkeyAssertion(t, srv, a)}))
	if r.str(t, "createSessionUsingUsername.method") != "PASSWORD" {
		t.Errorf("method: %s", r.Raw)
	}
	wantErrCode(t, "password and another user's passkey", srv.post(t, "", login, map[string]any{"p": passkeyAssertion(t, srv, other)}), "OTP_REQUIRED")
	wantErrCode(t, "password and a cloned passkey", srv.post(t, "", login, map[string]any{"p": passkeyAssertion(t, srv, a.Clone().Rewound())}), "OTP_REQUIRED")
	ok(t, "password and a recovery code", srv.post(t, "", login, map[string]any{"otp": recovery[0]}))

	// The passkey alone: both factors, no code asked.
	r = ok(t, "passkey sign-in with TOTP on", passkeySignIn(t, srv, a))
	if r.str(t, "createSessionUsingPasskey.method") != "PASSKEY" {
		t.Errorf("method: %s", r.Raw)
	}
}
