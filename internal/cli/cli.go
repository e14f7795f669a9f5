// Package cli is authgraph's command-line client: sign in (password, one-time code, or user
// key), see who you are, make, list and delete user keys, list and end sessions, sign out;
// sign up, and reset a forgotten password with a mailed link. It talks to the GraphQL API
// like any other client and keeps its session token in the user's configuration directory,
// readable by the user only.
//
// Secrets never come from the command line, where `ps` and shell history would show them:
// passwords, one-time codes, key secrets and mailed tokens are read from a prompt without
// echo when stdin is a terminal, else from stdin, one per line (AUTHGRAPH_USER_KEY_SECRET may
// also hold a key's secret, for CI; --token a mailed token, which a reset spends). The
// session token is printed only by `authgraph token`.
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v3"
	"golang.org/x/term"
)

// Env is what the CLI needs from its process; tests give their own.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// ConfigDir is where credentials.json lives; empty: $AUTHGRAPH_CONFIG_DIR, else
	// os.UserConfigDir()/authgraph.
	ConfigDir string
	Version   string
	HTTP      *http.Client
	// OpenBrowser opens a URL in the user's browser (`login --provider`); nil is the
	// desktop's opener (xdg-open, open). Tests give a browser of their own.
	OpenBrowser func(url string) error
}

// DefaultAPIURL is where the CLI looks for the API when neither --api-url nor
// AUTHGRAPH_API_URL says.
const DefaultAPIURL = "http://127.0.0.1:8080"

// ErrUsage marks a command-line mistake (exit status 2).
var ErrUsage = errors.New("usage")

// Command builds the command tree. extra commands (the operator's, which need the server's
// configuration) are added at the top level.
func Command(env Env, extra ...*ucli.Command) *ucli.Command {
	a := &app{env: env}
	if a.env.Getenv == nil {
		a.env.Getenv = os.Getenv
	}
	if a.env.HTTP == nil {
		a.env.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	a.Prompter = NewPrompter(a.env)
	root := &ucli.Command{
		Name:  "authgraph",
		Usage: "the authgraph server, and a client for its API",
		UsageText: "authgraph [serve] [server flags]   start the server (its flags are listed below)\n" +
			"authgraph COMMAND [flags]         use an authgraph server's API",
		Reader: env.Stdin, Writer: env.Stdout, ErrWriter: env.Stderr,
		HideVersion:    true,
		ExitErrHandler: func(context.Context, *ucli.Command, error) {}, // Run reports errors itself
		OnUsageError: func(_ context.Context, _ *ucli.Command, err error, _ bool) error {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		},
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "api-url", Usage: "the API's address", Value: DefaultAPIURL, Sources: ucli.EnvVars("AUTHGRAPH_API_URL")},
			&ucli.BoolFlag{Name: "json", Usage: "print JSON for scripts"},
		},
		Commands: append([]*ucli.Command{
			{
				Name:  "login",
				Usage: "sign in and keep the session token",
				Description: "With --username, the password (and a one-time code if the account asks for one) is\n" +
					"read from a prompt, or from stdin one per line. With --key-id, the key's secret is read\n" +
					"from $AUTHGRAPH_USER_KEY_SECRET, a prompt, or stdin. With --provider, the sign-in\n" +
					"happens in a browser at that identity provider (the address is printed, and opened\n" +
					"unless --no-browser); the browser comes back to a port on 127.0.0.1 this command\n" +
					"listens on.",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "sign in with this user's password"},
					&ucli.StringFlag{Name: "key-id", Usage: "sign in with this user key", Sources: ucli.EnvVars("AUTHGRAPH_USER_KEY_ID")},
					&ucli.StringFlag{Name: "account", Usage: "the account (tenant) to sign in to, on servers that have accounts"},
					&ucli.StringFlag{Name: "name", Usage: "a label for the session"},
					&ucli.StringFlag{Name: "provider", Usage: "sign in in a browser with this identity provider (see the server's signInProviders)"},
					&ucli.BoolFlag{Name: "no-browser", Usage: "with --provider: only print the address to open, do not open a browser"},
					&ucli.DurationFlag{Name: "timeout", Usage: "with --provider: how long to wait for the browser", Value: DefaultProviderLoginTimeout},
				},
				Action: a.login,
			},
			{
				Name:  "signup",
				Usage: "make yourself a user, where the server allows sign-up (password from a prompt or stdin)",
				Description: "Sign-up must be open for the account (AUTHGRAPH_SIGNUP=OPEN, or the account's own policy).\n" +
					"The server mails a link that verifies the address; sign in with `authgraph login`\n" +
					"(with the username, or the address once verified).",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "the name to sign in with"},
					&ucli.StringFlag{Name: "email", Usage: "your address; a link is mailed to it"},
					&ucli.StringFlag{Name: "account", Usage: "the account (tenant) to join; the default one if absent"},
				},
				Action: a.signUp,
			},
			{
				Name:  "password",
				Usage: "recover a forgotten password",
				Commands: []*ucli.Command{{
					Name:      "reset",
					Usage:     "ask for a password-reset mail (--email), then set a new password with its link",
					UsageText: "authgraph password reset --email ADDRESS [--account SLUG]\nauthgraph password reset [--token TOKEN]",
					Description: "With --email, the server mails a link (valid one hour) if the address is a user's; the\n" +
						"answer is the same either way. Without it, the link (or its token) is read from a prompt\n" +
						"or the first line of stdin, then the new password (and a one-time code if two-step\n" +
						"sign-in is on). Every session of the user ends.\n" +
						"  printf '%s\\n%s\\n' \"$LINK\" \"$NEW_PASSWORD\" | authgraph password reset",
					Flags: []ucli.Flag{
						&ucli.StringFlag{Name: "email", Usage: "ask for a reset link to be mailed to this address"},
						&ucli.StringFlag{Name: "account", Usage: "with --email: the account (tenant) of the address; the default one if absent"},
						&ucli.StringFlag{Name: "token", Usage: "the token or link from the mail (stdin keeps it out of ps)"},
					},
					Action: a.passwordReset,
				}},
			},
			{Name: "logout", Usage: "end the session and forget its token", Action: a.logout},
			{Name: "whoami", Usage: "show the signed-in user and session", Action: a.whoami},
			{Name: "token", Usage: "print the session token (for curl -H \"x-auth-token: $(authgraph token)\")", Action: a.printToken},
			{
				Name:  "keys",
				Usage: "manage your API user keys",
				Commands: []*ucli.Command{
					{
						Name:  "create",
						Usage: "make a key; its secret is printed this once",
						Flags: []ucli.Flag{
							&ucli.StringFlag{Name: "name", Usage: "a label for the key"},
							&ucli.StringFlag{Name: "expires", Usage: "when the key stops working: a duration (720h) or an RFC 3339 time"},
							&ucli.StringSliceFlag{Name: "scopes", Usage: "what the key may do (comma-separated), where the server supports scopes"},
						},
						Action: a.keysCreate,
					},
					{Name: "list", Aliases: []string{"ls"}, Usage: "list your keys", Action: a.keysList},
					{Name: "delete", Aliases: []string{"rm"}, Usage: "delete keys (their sessions end)", ArgsUsage: "KEY_ID...", Action: a.keysDelete},
				},
			},
			{
				Name:  "sessions",
				Usage: "see and end your sessions",
				Commands: []*ucli.Command{
					{Name: "list", Aliases: []string{"ls"}, Usage: "list your live sessions", Action: a.sessionsList},
					{Name: "revoke", Usage: "end sessions", ArgsUsage: "SESSION_ID...", Action: a.sessionsRevoke},
				},
			},
			a.auditCommand(),
			a.serviceKeysCommand(),
		}, extra...),
	}
	return root
}

// Run runs the CLI with args (args[0] is the program name) and answers the exit status: 0,
// 1 for an error, 2 for a usage mistake. Errors go to stderr, as JSON with --json.
func Run(ctx context.Context, args []string, env Env, extra ...*ucli.Command) int {
	root := Command(env, extra...)
	var err error
	if name := unknownCommand(root, args); name != "" {
		// Checked first: urfave would take it for a help topic and exit 1.
		err = fmt.Errorf("%w: unknown command %q (authgraph help lists them)", ErrUsage, name)
	} else {
		err = root.Run(ctx, args)
	}
	if err == nil {
		return 0
	}
	if root.Bool("json") || hasJSONFlag(args) {
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			apiErr = &APIError{Code: "CLI_ERROR", Message: err.Error()}
		}
		_ = json.NewEncoder(env.Stderr).Encode(map[string]any{"error": apiErr})
	} else {
		fmt.Fprintln(env.Stderr, "authgraph:", err)
	}
	if errors.Is(err, ErrUsage) || strings.Contains(err.Error(), "flag provided but not defined") {
		return 2
	}
	return 1
}

// unknownCommand answers the command path ("nope", "keys nope") if args name a command that
// does not exist, else "". It follows command groups (keys, sessions) down to a command.
func unknownCommand(root *ucli.Command, args []string) string {
	cmd, path := root, []string{}
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--api-url" || a == "-api-url":
			i++ // its value
		case strings.HasPrefix(a, "-"):
		case a == "help" || a == "h":
			return ""
		default:
			path = append(path, a)
			sub := cmd.Command(a)
			if sub == nil {
				return strings.Join(path, " ")
			}
			if len(sub.Commands) == 0 {
				return "" // a command: the rest are its arguments
			}
			cmd = sub
		}
	}
	return ""
}

func hasJSONFlag(args []string) bool {
	for _, a := range args {
		if a == "--json" || a == "-json" {
			return true
		}
	}
	return false
}

type app struct {
	env Env
	*Prompter
}

// Prompter reads what a command needs from its user: from a prompt when stdin is a
// terminal, else from stdin, one line per value.
type Prompter struct {
	env Env
	in  *bufio.Reader
}

// NewPrompter reads from env.Stdin and prompts on env.Stderr.
func NewPrompter(env Env) *Prompter { return &Prompter{env: env, in: bufio.NewReader(env.Stdin)} }

// configDir is where the credentials live.
func (a *app) configDir() (string, error) {
	if a.env.ConfigDir != "" {
		return a.env.ConfigDir, nil
	}
	if d := a.env.Getenv("AUTHGRAPH_CONFIG_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory (set AUTHGRAPH_CONFIG_DIR): %w", err)
	}
	return filepath.Join(d, "authgraph"), nil
}

// client is a client of the chosen API, with the saved token if authed.
func (a *app) client(cmd *ucli.Command, authed bool) (*client, error) {
	u, err := endpoint(cmd.String("api-url"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	c := &client{url: u, http: a.env.HTTP, version: a.env.Version}
	if !authed {
		return c, nil
	}
	if t := a.env.Getenv("AUTHGRAPH_TOKEN"); t != "" {
		c.token = t
		return c, nil
	}
	s, err := a.saved(u)
	if err != nil {
		return nil, err
	}
	c.token = s.Token
	return c, nil
}

func (a *app) saved(url string) (savedSession, error) {
	dir, err := a.configDir()
	if err != nil {
		return savedSession{}, err
	}
	if err := checkMode(dir); err != nil {
		fmt.Fprintln(a.env.Stderr, "authgraph: warning:", err)
	}
	creds, err := loadCredentials(dir)
	if err != nil {
		return savedSession{}, err
	}
	s, ok := creds.Servers[url]
	if !ok || s.Token == "" {
		return savedSession{}, fmt.Errorf("not signed in to %s: run `authgraph login`", url)
	}
	return s, nil
}

func (a *app) remember(url string, s *savedSession) error {
	dir, err := a.configDir()
	if err != nil {
		return err
	}
	creds, err := loadCredentials(dir)
	if err != nil {
		return err
	}
	if s == nil {
		delete(creds.Servers, url)
	} else {
		creds.Servers[url] = *s
	}
	return creds.save(dir)
}

// isTerminal reports whether stdin is a terminal, where prompts make sense.
func (a *Prompter) isTerminal() (int, bool) {
	f, ok := a.env.Stdin.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// Interactive reports whether stdin is a terminal.
func (a *Prompter) Interactive() bool { _, ok := a.isTerminal(); return ok }

// Secret reads a secret: from a prompt without echo on a terminal, else one line of stdin.
func (a *Prompter) Secret(prompt string) (string, error) { return a.secret(prompt) }

func (a *Prompter) secret(prompt string) (string, error) {
	if fd, ok := a.isTerminal(); ok {
		fmt.Fprint(a.env.Stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(a.env.Stderr)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return a.line(strings.TrimSuffix(strings.ToLower(prompt), ": "))
}

// text reads a value that may be shown: a prompt on a terminal, else one line of stdin.
func (a *Prompter) text(prompt string) (string, error) {
	if _, ok := a.isTerminal(); ok {
		fmt.Fprint(a.env.Stderr, prompt)
	}
	return a.line(strings.TrimSuffix(strings.ToLower(prompt), ": "))
}

func (a *Prompter) line(what string) (string, error) {
	s, err := a.in.ReadString('\n')
	if err != nil && (err != io.EOF || s == "") {
		if err == io.EOF {
			return "", fmt.Errorf("%w: expected the %s on stdin", ErrUsage, what)
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
