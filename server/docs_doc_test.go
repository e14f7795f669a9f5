package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The README is the front door: it must fit in a couple of minutes' reading. Everything
// else lives in docs/.
const readmeMaxBytes = 15 << 10

// repoRoot is the repository, seen from this package's directory.
const repoRoot = ".."

func TestREADMEFitsOnAScreen(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > readmeMaxBytes {
		t.Fatalf("README.md is %d bytes, over %d: move the detail into docs/", len(b), readmeMaxBytes)
	}
}

// docFiles answers the repository's Markdown documentation, relative to repoRoot: the
// README, SECURITY.md and every page under docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "SECURITY.md"}
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 5 {
		t.Fatalf("docs/ holds %d pages; api, operations, scaling, schema, cli and development are expected", len(pages))
	}
	for _, p := range pages {
		rel, _ := filepath.Rel(repoRoot, p)
		files = append(files, filepath.ToSlash(rel))
	}
	return files
}

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// prose answers the lines of a Markdown file outside fenced code blocks, with their numbers.
func prose(text string) map[int]string {
	lines := map[int]string{}
	fenced := false
	for i, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			lines[i+1] = l
		}
	}
	return lines
}

// anchors answers the fragment ids GitHub gives a Markdown file's headings: lowercased,
// punctuation dropped, spaces made hyphens, and -1, -2, … after a repeated one.
func anchors(text string) map[string]bool {
	ids := map[string]bool{}
	seen := map[string]int{}
	headingRE := regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	for _, l := range prose(text) {
		m := headingRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		id := b.String()
		if n := seen[id]; n > 0 {
			ids[id+"-"+strconv.Itoa(n)] = true
		} else {
			ids[id] = true
		}
		seen[id]++
	}
	return ids
}

var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocLinksResolve: every relative link in the README, SECURITY.md and docs/ names a file
// of this repository, and every #fragment a heading of the page it points to, so that moving
// a section cannot leave a link pointing at nothing.
func TestDocLinksResolve(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	links := 0
	for _, rel := range docFiles(t) {
		text := readDoc(t, rel)
		for n, line := range prose(text) {
			for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				links++
				path, frag, _ := strings.Cut(target, "#")
				dest := filepath.Join(root, filepath.Dir(rel), filepath.FromSlash(path))
				if path == "" {
					dest = filepath.Join(root, rel)
				}
				if r, err := filepath.Rel(root, dest); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
					t.Errorf("%s:%d: %s leaves the repository", rel, n, target)
					continue
				}
				st, err := os.Stat(dest)
				if err != nil {
					t.Errorf("%s:%d: %s: no such file", rel, n, target)
					continue
				}
				if frag == "" {
					continue
				}
				if st.IsDir() || !strings.HasSuffix(dest, ".md") {
					t.Errorf("%s:%d: %s: a fragment of something that is not a Markdown page", rel, n, target)
					continue
				}
				b, err := os.ReadFile(dest)
				if err != nil {
					t.Fatal(err)
				}
				if !anchors(string(b))[frag] {
					t.Errorf("%s:%d: %s: no heading #%s there", rel, n, target, frag)
				}
			}
		}
	}
	if links < 50 {
		t.Fatalf("found %d relative links; the docs hold far more (is the link pattern broken?)", links)
	}
}

// TestDocsStayInTheRepository: the docs speak of this repository alone. A clone has no
// design file beside it, so no page may send a reader to one, nor to any path outside the
// repository: the root pages hold no "../" at all, and a page under docs/ only in a link to
// a file of the repository (which TestDocLinksResolve checks).
func TestDocsStayInTheRepository(t *testing.T) {
	for _, rel := range docFiles(t) {
		text := readDoc(t, rel)
		for n, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "DESIGN"+".md") {
				t.Errorf("%s:%d mentions a contract file a clone does not have: %s", rel, n+1, line)
			}
			rest := line
			for {
				i := strings.Index(rest, "../")
				if i < 0 {
					break
				}
				inDocs := strings.HasPrefix(rel, "docs/")
				inLink := strings.HasSuffix(rest[:i], "](") || strings.HasSuffix(rest[:i], "](../")
				if !inDocs || !inLink {
					t.Errorf("%s:%d points outside the repository (%q): %s", rel, n+1, "../", line)
					break
				}
				rest = rest[i+3:]
			}
		}
	}
}

// readmeCommand is one command the README tells a reader to type, and what runs it: a test
// (by name, which must exist, and whose package's tests must contain evidence, a string
// showing that they do what the command does), or CI (the command is a line of .ci/run).
type readmeCommand struct {
	cmd      string
	test     string // a test function, or "ci"
	evidence string // for a test: a string its package's tests contain
}

// readmeCommands lists every command of the README's sh blocks. A command added to the
// README must be added here with what runs it; a command removed from it, removed here.
var readmeCommands = []readmeCommand{
	// Quick start. The end-to-end tests start the real server through run(), as `make run`
	// (go run ./server) does, on the embedded store unless AUTHGRAPH_REDIS_URL is set, on the
	// address AUTHGRAPH_ADDR names.
	{`make run`, "TestDevelopmentAdmin", "created a development admin: sign in as \"admin\" with the password below"},
	{`make build`, "ci", ""},
	{`bin/authgraph login --username admin`, "TestCLIBinary", `"login", "--username", adminName`},
	{`bin/authgraph keys create --name laptop-script`, "TestCLIBinary", `"keys", "create", "--name"`},
	{`printf '%s\n' "$SECRET" | AUTHGRAPH_CONFIG_DIR=./program bin/authgraph login --key-id TjAwN1VzZXJLZXkx`, "TestCLIEndToEnd", `key.Secret+"\n", &login, "login", "--key-id"`},
	{`curl -s -H "x-auth-token: $(AUTHGRAPH_CONFIG_DIR=./program bin/authgraph token)" -H 'Content-Type: application/json' --data '{"query":"{ me { username } }"}' http://127.0.0.1:8080/graphql`, "TestCLIEndToEnd", `admin.ok("", "token")`},
	{`AUTHGRAPH_ADDR=127.0.0.1:9000 make run`, "TestSeedFlowEmbeddedStore", `"AUTHGRAPH_ADDR"`},
	{`AUTHGRAPH_API_URL=http://127.0.0.1:9000 bin/authgraph login --username admin`, "TestCLIBinary", `"AUTHGRAPH_API_URL=" + srv.URL`},
	{`AUTHGRAPH_REDIS_URL=redis://127.0.0.1:6379/0 AUTHGRAPH_ADMIN_USERNAME=admin AUTHGRAPH_ADMIN_PASSWORD='choose-a-long-one' make run`, "TestSeedFlowRedis", `"AUTHGRAPH_REDIS_URL": rs.URL`},

	// Test it.
	{`make test`, "ci", ""},

	// The first curl flow: TestSeedFlow* send these requests, header for header.
	{`TOKEN=$(curl -s -X POST -H "Content-Type: application/json" --data '{"query":"mutation($p: String!) { createSessionUsingUsername(input: {username: \"admin\", password: $p}) { token } }","variables":{"p":"'"$PASSWORD"'"}}' $API | sed -E 's/.*"token":"([^"]+)".*/\1/')`, "TestSeedFlowRedis", `srv.login(t, adminName, adminPass)`},
	{`curl -X POST -H "Content-Type: application/json" -H "apollographql-client-name: docs-example-client" -H "apollographql-client-version: 1.0.0" -H "x-auth-token: $TOKEN" --data '{"query":"mutation GenerateUserKey { createUserKey { id secret } }"}' $API`, "TestSeedFlowRedis", `mutation GenerateUserKey { createUserKey { id secret } }`},
	{`curl -X POST -H "Content-Type: application/json" -H "apollographql-client-name: docs-example-client" -H "apollographql-client-version: 1.0.0" --data '{"query":"mutation LoginWithUserKey($secret: String!, $userKeyId: ObjectID!) { createSessionUsingUserKey(input: { userKeyId: $userKeyId, secret: $secret }) { token } }","variables":{"userKeyId":"TjAwN1VzZXJLZXkx","secret":"agk_…"}}' $API`, "TestSeedFlowRedis", `mutation LoginWithUserKey($secret: String!, $userKeyId: ObjectID!) { createSessionUsingUserKey(input: { userKeyId: $userKeyId, secret: $secret }) { token } }`},
	{`curl -H "x-auth-token: <session token>" -XPOST $API -H "Content-Type: application/json" --data-raw '{"query": "{version}"}'`, "TestSeedFlowRedis", `"x-auth-token", keyToken`},
	{`curl -i -H "x-auth-token: nope" -XPOST $API -H "Content-Type: application/json" --data-raw '{"query": "{version}"}'`, "TestSeedFlowRedis", `Unauthorized. Please provide a valid authentication token.`},

	// The CLI in five lines (login --username is above).
	{`bin/authgraph whoami`, "TestCLIEndToEnd", `admin.ok("", "whoami")`},
	{`bin/authgraph keys create --name ci`, "TestCLIEndToEnd", `"keys", "create", "--name", "ci"`},
	{`bin/authgraph sessions list`, "TestCLIEndToEnd", `admin.ok("", "sessions", "list")`},
	{`bin/authgraph logout`, "TestCLIBinary", `run("", "logout")`},
}

// readmeShellCommands answers the commands in the README's sh blocks: lines (continuations
// joined, whitespace collapsed, a trailing "  # comment" dropped) that run make, curl or
// authgraph, at the start, after a pipe or in a $( ).
func readmeShellCommands(t *testing.T) []string {
	t.Helper()
	commandRE := regexp.MustCompile(`(?:^|\$\(|\|)\s*(?:[A-Za-z_]\w*=(?:'[^']*'|"[^"]*"|[^\s'"$]\S*)\s+)*(?:make|curl|bin/authgraph|authgraph)(?:\s|$)`)
	commentRE := regexp.MustCompile(`\s{2,}#.*$`)
	var cmds []string
	inSh := false
	var cur string
	for _, l := range strings.Split(readDoc(t, "README.md"), "\n") {
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, "```") {
			inSh = !inSh && trimmed == "```sh"
			cur = ""
			continue
		}
		if !inSh || (cur == "" && strings.HasPrefix(trimmed, "#")) {
			continue
		}
		cur += " " + strings.TrimSpace(commentRE.ReplaceAllString(l, ""))
		if strings.HasSuffix(cur, `\`) {
			cur = strings.TrimSuffix(cur, `\`)
			continue
		}
		line := strings.Join(strings.Fields(cur), " ")
		cur = ""
		if commandRE.MatchString(line) {
			cmds = append(cmds, line)
		}
	}
	return cmds
}

// TestREADMECommandsAreRun: every command the README gives is run by a test, or by CI.
func TestREADMECommandsAreRun(t *testing.T) {
	cmds := readmeShellCommands(t)
	if len(cmds) < 10 {
		t.Fatalf("found %d commands in the README's sh blocks; it has more (is the parser broken?)", len(cmds))
	}
	// The README may repeat a command; the table lists it once.
	byCmd := map[string]readmeCommand{}
	for _, c := range readmeCommands {
		if _, dup := byCmd[c.cmd]; dup {
			t.Errorf("readmeCommands lists %q twice", c.cmd)
		}
		byCmd[c.cmd] = c
	}
	inREADME := map[string]bool{}
	for _, c := range cmds {
		inREADME[c] = true
		if _, ok := byCmd[c]; !ok {
			t.Errorf("the README's command\n\t%s\nis in no test's hands: add it to readmeCommands with the test (or CI step) that runs it", c)
		}
	}
	tests := definedTests(t)
	ci := readDoc(t, ".ci/run")
	for _, c := range readmeCommands {
		if !inREADME[c.cmd] {
			t.Errorf("readmeCommands lists %q, which the README no longer has", c.cmd)
			continue
		}
		if c.test == "ci" {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.cmd) + `(\s|$)`).MatchString(ci) {
				t.Errorf("%q is said to run in CI, but .ci/run has no such line", c.cmd)
			}
			continue
		}
		file, ok := tests[c.test]
		if !ok {
			t.Errorf("%q is said to run in %s, which no test file defines", c.cmd, c.test)
			continue
		}
		if !packageTestsContain(t, filepath.Dir(file), c.evidence) {
			t.Errorf("%q is said to run in %s, but no test file beside it contains %q", c.cmd, c.test, c.evidence)
		}
	}
}

// packageTestsContain reports whether a _test.go file of dir contains s.
func packageTestsContain(t *testing.T, dir, s string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}

// definedTests answers every test, fuzz target and benchmark of the repository, by name,
// with the file that defines it.
func definedTests(t *testing.T) map[string]string {
	t.Helper()
	defined := map[string]string{}
	funcRE := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)\w+)\(`)
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != repoRoot {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range funcRE.FindAllSubmatch(src, -1) {
			defined[string(m[1])] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return defined
}

// TestCodeSpeaksOfTheProjectAlone keeps the code's comments readable from a clone: no
// pointer to a contract file the repository does not have, no issue numbers (which say
// nothing to the next reader), no reference documents from outside.
func TestCodeSpeaksOfTheProjectAlone(t *testing.T) {
	outside := regexp.MustCompile(`DESIGN` + `\.md|\b[Ii]ssue ` + `[0-9]+|shared/` + `seeds`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for n, line := range strings.Split(string(b), "\n") {
			if outside.MatchString(line) {
				t.Errorf("%s:%d speaks of something outside the repository: %s", path, n+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
