package main

import (
	"bytes"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// documentedSetting is one row of the configuration table in docs/operations.md.
type documentedSetting struct{ env, flag, def string }

// documentedSettings reads the table under "## Configuration" in docs/operations.md: rows
// whose first cell is an AUTHGRAPH_ variable.
func documentedSettings(t *testing.T) []documentedSetting {
	t.Helper()
	b, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Configuration")
	if start < 0 {
		t.Fatal("docs/operations.md has no ## Configuration section")
	}
	text = text[start+1:]
	if end := strings.Index(text[3:], "\n## "); end >= 0 {
		text = text[:end+3]
	}
	var rows []documentedSetting
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "| `AUTHGRAPH_") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 4 {
			t.Fatalf("configuration row with fewer than 4 cells: %s", line)
		}
		clean := func(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
		def := clean(cells[2])
		if strings.HasPrefix(def, "(") { // "(empty: …)", "(none)"
			def = ""
		}
		rows = append(rows, documentedSetting{env: clean(cells[0]), flag: strings.TrimLeft(clean(cells[1]), "-"), def: def})
	}
	if len(rows) == 0 {
		t.Fatal("no AUTHGRAPH_ rows in the configuration table of docs/operations.md")
	}
	return rows
}

// serverFlags reads the settings from the server's own -help: flag name → variable.
func serverFlags(t *testing.T) map[string]string {
	t.Helper()
	var help bytes.Buffer
	_, _ = loadConfig([]string{"-help"}, func(string) string { return "" }, &help)
	re := regexp.MustCompile(`(?m)^  -(\S+)(?: \S+)?\n\s+.*\(\$(AUTHGRAPH_[A-Z0-9_]+)\)$`)
	flags := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(help.String(), -1) {
		flags[m[2]] = m[1]
	}
	if len(flags) == 0 {
		t.Fatalf("no settings found in -help:\n%s", help.String())
	}
	return flags
}

// TestConfigurationTableDoc keeps the configuration table of docs/operations.md and
// config.go's settings from drifting: the same variables, the same flags, and defaults that
// are the real ones (setting each variable to its documented default changes nothing).
func TestConfigurationTableDoc(t *testing.T) {
	rows := documentedSettings(t)
	flags := serverFlags(t)
	none := func(string) string { return "" }
	defaults, err := loadConfig(nil, none, nil)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, r := range rows {
		documented[r.env] = true
		flag, ok := flags[r.env]
		if !ok {
			t.Errorf("docs/operations.md documents %s, which config.go does not read", r.env)
			continue
		}
		if flag != r.flag {
			t.Errorf("%s: docs/operations.md says flag -%s, config.go has -%s", r.env, r.flag, flag)
		}
		if r.def == "" || r.env == "AUTHGRAPH_ADMIN_PASSWORD" || r.env == "AUTHGRAPH_ADMIN_USERNAME" {
			continue
		}
		got, err := loadConfig(nil, func(k string) string {
			if k == r.env {
				return r.def
			}
			return ""
		}, nil)
		if err != nil {
			t.Errorf("%s: the documented default %q is refused: %v", r.env, r.def, err)
			continue
		}
		if !reflect.DeepEqual(got, defaults) {
			t.Errorf("%s: the documented default %q is not the real default", r.env, r.def)
		}
	}
	for env := range flags {
		if !documented[env] {
			t.Errorf("config.go reads %s (-%s), which the configuration table of docs/operations.md does not document", env, flags[env])
		}
	}
}
