package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIBinary builds the real authgraph binary and uses it as a user would, through main's
// argument dispatch: --api-url before the command, the password on a pipe, the token in the
// user's configuration directory ($XDG_CONFIG_HOME/authgraph) at mode 0600.
func TestCLIBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "authgraph")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := startServer(t, nil)
	home := t.TempDir()
	run := func(stdin string, args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "AUTHGRAPH_API_URL=" + srv.URL}
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	if out, errs, code := run(adminPass+"\n", "login", "--username", adminName); code != 0 || !strings.Contains(out, "as "+adminName) {
		t.Fatalf("login: %d %s %s", code, out, errs)
	}
	cred := filepath.Join(home, "config", "authgraph", "credentials.json")
	st, err := os.Stat(cred)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v", cred, st, err)
	}
	out, errs, code := run("", "--json", "keys", "create", "--name", "bin")
	var key struct{ ID, Secret string }
	if code != 0 || json.Unmarshal([]byte(out), &key) != nil || !strings.HasPrefix(key.Secret, "agk_") {
		t.Fatalf("keys create: %d %s %s", code, out, errs)
	}
	if out, _, _ := run("", "keys", "ls"); !strings.Contains(out, key.ID) {
		t.Fatalf("keys ls: %s", out)
	}
	if _, errs, code := run("", "keys", "delete"); code != 2 || !strings.Contains(errs, "KEY_ID") {
		t.Fatalf("a usage mistake: exit %d %s", code, errs)
	}
	// Help is one page, on stdout, exit 0: the commands and the server's flags with defaults.
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"serve", "--help"}, {"-addr", ":0", "-help"}} {
		out, errs, code := run("", args...)
		if code != 0 || errs != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errs)
		}
		for _, want := range []string{"login", "sessions", "SERVER FLAGS", "-addr", "(default 127.0.0.1:8080)", "$AUTHGRAPH_ADDR"} {
			if !strings.Contains(out, want) {
				t.Fatalf("%v: no %q in\n%s", args, want, out)
			}
		}
	}
	if _, errs, code := run("", "nope"); code != 2 || !strings.Contains(errs, `unknown command "nope"`) {
		t.Fatalf("an unknown command: exit %d %s", code, errs)
	}
	if _, _, code := run("", "logout"); code != 0 {
		t.Fatal("logout")
	}
	if _, errs, code := run("", "whoami"); code != 1 || !strings.Contains(errs, "not signed in") {
		t.Fatalf("whoami after logout: %d %s", code, errs)
	}
}
