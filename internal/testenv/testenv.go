// Package testenv decides what a test does when the machine lacks something it needs (a
// redis-server, redis-cli, Chromium): on a developer's machine it skips loudly; under CI it
// fails, because a CI run that skipped a suite has not tested it.
package testenv

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// CI reports whether the tests run under CI: CI set to any value strconv.ParseBool reads as
// true ("true", "1", "TRUE"…). Every test that may skip for want of a tool asks here, so that
// "under CI nothing skips" has one meaning.
func CI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// Skip skips t for want of what reason names — or, under CI, fails it. The message goes to
// stderr too, since `go test` shows a passing package's skips only with -v.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if CI() {
		t.Fatalf("%s (under CI=true a missing tool is a failure, not a skip)", reason)
		return
	}
	fmt.Fprintln(os.Stderr, "WARNING: test skipped:", reason)
	t.Skip(reason)
}
