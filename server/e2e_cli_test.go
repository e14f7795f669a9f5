package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/cli"
)

// cliRun runs the authgraph binary's command line in process, as main does, with stdin,
// the environment and a private configuration directory; it answers the exit status,
// stdout and stderr.
type cliRunner struct {
	t      *testing.T
	apiURL string
	dir    string
	env    map[string]string
}

func newCLI(t *testing.T, apiURL string, env map[string]string) *cliRunner {
	return &cliRunner{t: t, apiURL: apiURL, dir: t.TempDir(), env: env}
}

func (c *cliRunner) run(stdin string, args ...string) (int, string, string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"authgraph"}, args...)
	if c.apiURL != "" && len(args) > 0 && args[0] != "user" && args[0] != "healthcheck" {
		all = append([]string{"authgraph", "--api-url", c.apiURL}, args...)
	}
	if _, serve := serveArgs(all[1:]); serve {
		c.t.Fatalf("%v would start the server", args)
	}
	code := runCLI(context.Background(), all, cli.Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return c.env[k] }, ConfigDir: c.dir,
	})
	return code, out.String(), errb.String()
}

// ok runs a command that must succeed and answers its stdout.
func (c *cliRunner) ok(stdin string, args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("authgraph %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (c *cliRunner) okJSON(stdin string, v any, args ...string) {
	c.t.Helper()
	out := c.ok(stdin, append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("authgraph %s: %v in %s", strings.Join(args, " "), err, out)
	}
}

// TestCLIEndToEnd: an operator makes the first admin straight in Redis; the admin signs in
// with the password from stdin, makes a user key, lists it; a program signs in with the
// key's secret from stdin, sees its session; the admin revokes that session and deletes the
// key; logout forgets the token. Against a real server and a real redis-server.
func TestCLIEndToEnd(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_ADMIN_USERNAME": "", "AUTHGRAPH_ADMIN_PASSWORD": ""})
	storeEnv := map[string]string{"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix}
	const rootPass = "root-password-from-stdin"
	secrets := []string{rootPass}

	op := newCLI(t, "", storeEnv)
	if out := op.ok(rootPass+"\n", "user", "create", "--username", "root", "--role", "admin"); !strings.Contains(out, "Created user root (ADMIN)") {
		t.Fatal(out)
	}
	if code, _, errs := op.run(rootPass+"\n", "user", "create", "--username", "root"); code != 1 || !strings.Contains(errs, "CONFLICT") {
		t.Fatalf("a second root: %d %s", code, errs)
	}
	if code, _, errs := newCLI(t, "", nil).run(rootPass+"\n", "user", "create", "--username", "x"); code != 1 || !strings.Contains(errs, "AUTHGRAPH_REDIS_URL") {
		t.Fatalf("user create without Redis: %d %s", code, errs)
	}

	admin := newCLI(t, srv.URL, nil)
	if code, _, errs := admin.run("", "whoami"); code != 1 || !strings.Contains(errs, "not signed in") {
		t.Fatalf("whoami before login: %d %s", code, errs)
	}
	if code, _, errs := admin.run("wrong-password\n", "login", "--username", "root"); code != 1 || !strings.Contains(errs, "INVALID_CREDENTIALS") {
		t.Fatalf("a wrong password: %d %s", code, errs)
	}
	if out := admin.ok(rootPass+"\n", "login", "--username", "root", "--name", "laptop"); !strings.Contains(out, "as root") {
		t.Fatal(out)
	}
	credPath := filepath.Join(admin.dir, "credentials.json")
	st, err := os.Stat(credPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials.json has mode %v, want 0600", st.Mode().Perm())
	}
	token := strings.TrimSpace(admin.ok("", "token"))
	secrets = append(secrets, token)
	if r := srv.post(t, token, `{ me { username } }`, nil); r.str(t, "me.username") != "root" {
		t.Fatalf("the saved token does not work: %s", r.Raw)
	}
	if out := admin.ok("", "whoami"); !strings.Contains(out, "root (ADMIN") || !strings.Contains(out, "PASSWORD") {
		t.Fatal(out)
	}

	var key struct{ ID, Secret, ExpiresAt string }
	admin.okJSON("", &key, "keys", "create", "--name", "ci", "--expires", "48h")
	if key.ID == "" || !strings.HasPrefix(key.Secret, "agk_") || key.ExpiresAt == "" {
		t.Fatalf("key %+v", key)
	}
	secrets = append(secrets, key.Secret)
	if out := admin.ok("", "keys", "list"); !strings.Contains(out, key.ID) || !strings.Contains(out, "ci") || strings.Contains(out, key.Secret) {
		t.Fatalf("keys list:\n%s", out)
	}
	human := admin.ok("", "keys", "create", "--name", "human")
	if !strings.Contains(human, "shown this once") || !strings.Contains(human, "agk_") {
		t.Fatal(human)
	}

	// A program signs in with the key; the secret comes from stdin, never argv.
	bot := newCLI(t, srv.URL, nil)
	var login struct {
		User    struct{ Username string }
		Session struct{ ID, Method string }
	}
	bot.okJSON(key.Secret+"\n", &login, "login", "--key-id", key.ID)
	if login.User.Username != "root" || login.Session.Method != "USER_KEY" {
		t.Fatalf("key login %+v", login)
	}
	// And again through the environment, as CI would.
	ci := newCLI(t, srv.URL, map[string]string{"AUTHGRAPH_USER_KEY_SECRET": key.Secret})
	ci.ok("", "login", "--key-id", key.ID)

	var sessions []struct {
		ID, Method string
		Current    bool
	}
	admin.okJSON("", &sessions, "sessions", "list")
	if len(sessions) != 3 {
		t.Fatalf("sessions %+v", sessions)
	}
	if out := admin.ok("", "sessions", "list"); !strings.Contains(out, "authgraph-cli") || !strings.Contains(out, "laptop") {
		t.Fatalf("sessions list:\n%s", out)
	}
	if out := admin.ok("", "sessions", "revoke", login.Session.ID); !strings.Contains(out, "Ended session") {
		t.Fatal(out)
	}
	if code, _, errs := bot.run("", "whoami"); code != 1 || !strings.Contains(errs, "UNAUTHENTICATED") || !strings.Contains(errs, "authgraph login") {
		t.Fatalf("a revoked session: %d %s", code, errs)
	}
	if code, _, errs := admin.run("", "--json", "keys", "delete", "999"); code != 1 || !strings.Contains(errs, `"code": "NOT_FOUND"`) && !strings.Contains(errs, `"code":"NOT_FOUND"`) {
		t.Fatalf("deleting an unknown key: %d %s", code, errs)
	}
	admin.ok("", "keys", "delete", key.ID)
	if code, _, errs := ci.run("", "whoami"); code != 1 || !strings.Contains(errs, "UNAUTHENTICATED") {
		t.Fatalf("a session of a deleted key: %d %s", code, errs)
	}
	if out := admin.ok("", "keys", "list"); strings.Contains(out, key.ID) {
		t.Fatalf("the deleted key is listed:\n%s", out)
	}

	if out := admin.ok("", "logout"); !strings.Contains(out, "Signed out") {
		t.Fatal(out)
	}
	if r := srv.post(t, token, `{ me { username } }`, nil); r.Status != 401 {
		t.Fatalf("the token still works after logout: %s", r.Raw)
	}
	b, _ := os.ReadFile(credPath)
	if strings.Contains(string(b), token) {
		t.Fatal("logout left the token on disk")
	}
	assertNoSecretIn(t, "the server log", srv.logs.String(), secrets)
}

func TestCLIUsageAndErrors(t *testing.T) {
	srv := startServer(t, nil)
	c := newCLI(t, srv.URL, nil)
	tests := []struct {
		name, stdin string
		args        []string
		code        int
		stderr      string
	}{
		{"an unknown flag", "", []string{"keys", "list", "--nope"}, 2, "nope"},
		{"both login methods", "", []string{"login", "--username", "a", "--key-id", "1"}, 2, "only one of --username, --key-id and --provider"},
		{"no login method without a terminal", "", []string{"login"}, 2, "--username"},
		{"no password on stdin", "", []string{"login", "--username", "admin"}, 2, "password on stdin"},
		{"a bad expiry", "", []string{"keys", "create", "--expires", "someday"}, 2, "--expires"},
		{"delete without ids", "", []string{"keys", "delete"}, 2, "KEY_ID"},
		{"a bad API URL", "", []string{"--api-url", "ftp://x", "whoami"}, 2, "API URL"},
		{"an unknown command", "", []string{"nope"}, 2, `unknown command "nope"`},
		{"an unknown subcommand", "", []string{"keys", "nope"}, 2, `unknown command "keys nope"`},
		{"signup without an address", "", []string{"signup", "--username", "u"}, 2, "--email"},
		{"reset with both flags", "", []string{"password", "reset", "--email", "a@b.c", "--token", "t"}, 2, "not both"},
		{"reset without a token on stdin", "", []string{"password", "reset"}, 2, "token or link from the mail on stdin"},
		{"reset without a password on stdin", "age_x\n", []string{"password", "reset"}, 2, "new password on stdin"},
		{"an unknown password subcommand", "", []string{"password", "change"}, 2, `unknown command "password change"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := c.run(tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errs, tt.code, tt.stderr)
			}
		})
	}
	t.Run("the API URL from the environment", func(t *testing.T) {
		env := newCLI(t, "", map[string]string{})
		t.Setenv("AUTHGRAPH_API_URL", srv.URL)
		out := env.ok(adminPass+"\n", "login", "--username", adminName)
		if !strings.Contains(out, srv.URL+"/graphql") {
			t.Fatal(out)
		}
	})
	t.Run("healthcheck", func(t *testing.T) {
		h := newCLI(t, "", map[string]string{"AUTHGRAPH_ADDR": strings.TrimPrefix(srv.URL, "http://")})
		h.ok("", "healthcheck")
		bad := newCLI(t, "", map[string]string{"AUTHGRAPH_ADDR": "127.0.0.1:1"})
		if code, _, _ := bad.run("", "healthcheck"); code != 1 {
			t.Fatalf("healthcheck of nothing: exit %d", code)
		}
	})
	t.Run("serve is the default", func(t *testing.T) {
		for _, args := range [][]string{nil, {"-addr", ":0"}, {"serve", "-addr", ":0"}} {
			if rest, ok := serveArgs(args); !ok || (len(args) > 0 && args[0] == "serve" && len(rest) != 2) {
				t.Fatalf("%v: %v %v", args, rest, ok)
			}
		}
		if _, ok := serveArgs([]string{"login"}); ok {
			t.Fatal("login would serve")
		}
	})
}

// TestCLIOneTimeCodeAndAccounts: against the real server, a user with TOTP on signs in with
// the CLI (password, then the code, each a line of stdin); a wrong code is OTP_REQUIRED; a
// user of another account signs in with --account.
func TestCLIOneTimeCodeAndAccounts(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "otto", "otto-password-1")
	otto := srv.login(t, "otto", "otto-password-1")
	secret := srv.post(t, otto, `mutation { enableTotp(input: {password: "otto-password-1"}) { secret } }`, nil).str(t, "enableTotp.secret")
	if r := srv.post(t, otto, `mutation($c: String!) { confirmTotp(input: {code: $c}) { recoveryCodes } }`,
		map[string]any{"c": totpCode(t, secret, time.Now())}); r.code() != "" {
		t.Fatalf("confirmTotp: %s", r.Raw)
	}

	c := newCLI(t, srv.URL, nil)
	if code, _, errs := c.run("otto-password-1\n000000\n", "login", "--username", "otto"); code != 1 || !strings.Contains(errs, "OTP_REQUIRED") {
		t.Fatalf("a wrong code: %d %s", code, errs)
	}
	out := c.ok("otto-password-1\n"+totpCode(t, secret, time.Now().Add(30*time.Second))+"\n", "login", "--username", "otto")
	if !strings.Contains(out, "as otto") {
		t.Fatal(out)
	}
	if who := c.ok("", "whoami"); !strings.HasPrefix(who, "otto ") {
		t.Fatal(who)
	}

	if r := srv.post(t, admin, `mutation { createAccount(input: {slug: "acme", name: "Acme"}) { slug } }`, nil); r.code() != "" {
		t.Fatalf("createAccount: %s", r.Raw)
	}
	if r := srv.post(t, admin, `mutation { createUser(input: {username: "ann", password: "ann-password-1", account: "acme"}) { id } }`, nil); r.code() != "" {
		t.Fatalf("createUser: %s", r.Raw)
	}
	ann := newCLI(t, srv.URL, nil)
	if out := ann.ok("ann-password-1\n", "login", "--username", "ann", "--account", "acme"); !strings.Contains(out, "as ann") {
		t.Fatal(out)
	}
}

// TestCLILoginEndsPreviousSession: a second login ends the session the CLI held, and says so;
// keys list shows each key's scopes, and an unnamed key's name is null in JSON.
func TestCLILoginEndsPreviousSession(t *testing.T) {
	srv := startServer(t, nil)
	c := newCLI(t, srv.URL, nil)
	if out := c.ok(adminPass+"\n", "login", "--username", adminName); strings.Contains(out, "previous") {
		t.Fatalf("a first login speaks of a previous session: %s", out)
	}
	first := strings.TrimSpace(c.ok("", "token"))
	out := c.ok(adminPass+"\n", "login", "--username", adminName)
	if !strings.Contains(out, "Ended the previous CLI session.") {
		t.Fatalf("a second login: %s", out)
	}
	if r := srv.post(t, first, `{ me { username } }`, nil); r.Status != 401 {
		t.Fatalf("the previous session still works: %d %s", r.Status, r.Raw)
	}
	second := strings.TrimSpace(c.ok("", "token"))
	if r := srv.post(t, second, `{ me { username } }`, nil); r.code() != "" {
		t.Fatalf("the new session: %s", r.Raw)
	}
	// The previous session ended elsewhere: the next login just replaces it, silently.
	srv.post(t, second, `mutation { deleteSession { id } }`, nil)
	var login struct{ EndedPreviousSession bool }
	c.okJSON(adminPass+"\n", &login, "login", "--username", adminName)
	if login.EndedPreviousSession {
		t.Fatal("an ended session was reported as ended by the login")
	}

	c.ok("", "keys", "create", "--name", "reader", "--scopes", "read,keys:write")
	c.ok("", "keys", "create")
	var keys []struct {
		Name   *string
		Scopes []string
	}
	c.okJSON("", &keys, "keys", "list")
	if len(keys) != 2 || keys[0].Name == nil || *keys[0].Name != "reader" || strings.Join(keys[0].Scopes, ",") != "read,keys:write" {
		t.Fatalf("keys: %+v", keys)
	}
	if keys[1].Name != nil {
		t.Fatalf("an unnamed key's name is %q, want null", *keys[1].Name)
	}
	table := c.ok("", "keys", "list")
	if !strings.Contains(table, "SCOPES") || !strings.Contains(table, "read,keys:write") {
		t.Fatalf("keys list:\n%s", table)
	}
}
