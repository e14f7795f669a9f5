package loadtest

import (
	"bufio"
	"strconv"
	"strings"
)

// CommandCalls reads INFO commandstats: command name → calls. Subcommands come as
// "config|resetstat".
func CommandCalls(info string) map[string]int64 {
	calls := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		name, rest, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		name, found := strings.CutPrefix(name, "cmdstat_")
		if !ok || !found {
			continue
		}
		for _, field := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(field, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				calls[name] = n
			}
		}
	}
	return calls
}

// DataCommands sums the calls of calls that are the application's work: everything but the
// commands a measurement or a connection makes (INFO, CONFIG, CLIENT, HELLO, PING, COMMAND,
// SUBSCRIBE).
func DataCommands(calls map[string]int64) int64 {
	var n int64
	for name, c := range calls {
		base, _, _ := strings.Cut(name, "|")
		switch base {
		case "info", "config", "client", "hello", "ping", "command", "subscribe", "select":
			continue
		}
		n += c
	}
	return n
}

// Field reads one numeric field (such as used_memory) of an INFO answer.
func Field(info, name string) (int64, bool) {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), name+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
