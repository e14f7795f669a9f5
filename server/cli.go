package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	ucli "github.com/urfave/cli/v3"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/cli"
	"github.com/authgraph/authgraph/internal/clock"
)

// The authgraph binary is the server and a client of its API. With no argument, with
// `serve`, or with a flag first (`authgraph -addr :9000`), it serves; any other first
// argument is a command (`authgraph login`, `authgraph keys create`, …; `authgraph help`
// lists them).

// serveArgs reports whether args ask for the server, and its arguments. The client's own
// global flags (--api-url, --json), which no server flag shares, mean a command follows.
func serveArgs(args []string) ([]string, bool) {
	switch {
	case len(args) == 0:
		return args, true
	case strings.HasPrefix(args[0], "-"):
		name, _, _ := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		if name == "api-url" || name == "json" {
			return nil, false
		}
		return args, true
	case args[0] == "serve":
		return args[1:], true
	}
	return nil, false
}

// runCLI runs a command and answers the exit status.
func runCLI(ctx context.Context, args []string, env cli.Env) int {
	env.Version = version
	if len(args) == 2 && isHelp(args[1:]) {
		return printHelp(ctx, env)
	}
	return cli.Run(ctx, args, env, operatorCommands(env)...)
}

// isHelp reports whether args ask for help: `authgraph help`, `authgraph --help` (or -h,
// -help), or a help flag among the server's flags (`authgraph serve --help`).
func isHelp(args []string) bool {
	if len(args) == 1 && args[0] == "help" {
		return true
	}
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		case "--": // the flag package stops here too
			return false
		}
	}
	return false
}

// printHelp shows on stdout, as one page, the commands and then the server's flags with
// their defaults, and answers exit status 0: a newcomer's first `--help` shows both halves
// of the binary.
func printHelp(ctx context.Context, env cli.Env) int {
	if code := cli.Run(ctx, []string{"authgraph", "--help"}, env, operatorCommands(env)...); code != 0 {
		return code
	}
	fmt.Fprintln(env.Stdout)
	// Parsed with no environment, so the defaults shown are the built-in ones (never a
	// secret from the environment).
	_, err := loadConfig([]string{"-help"}, func(string) string { return "" }, env.Stdout)
	if !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(env.Stderr, "authgraph:", err)
		return 1
	}
	return 0
}

// operatorCommands work on the server's own configuration (AUTHGRAPH_* variables), not
// through the API.
func operatorCommands(env cli.Env) []*ucli.Command {
	getenv := env.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	return []*ucli.Command{
		{
			Name:  "user",
			Usage: "operator: manage users directly in the store (needs AUTHGRAPH_REDIS_URL)",
			Commands: []*ucli.Command{{
				Name:  "create",
				Usage: "make a user; the password is read from a prompt or stdin",
				Description: "Works on the store named by AUTHGRAPH_REDIS_URL (and AUTHGRAPH_REDIS_PREFIX), without\n" +
					"the HTTP API, so the first admin can be made before anyone can sign in:\n" +
					"  printf '%s\\n' \"$PASSWORD\" | authgraph user create --username root --role ADMIN",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "the new user's name", Required: true},
					&ucli.StringFlag{Name: "role", Usage: "ADMIN or MEMBER", Value: "MEMBER"},
				},
				Action: func(ctx context.Context, cmd *ucli.Command) error {
					return userCreate(ctx, cmd, env, getenv)
				},
			}},
		},
		{
			Name:  "healthcheck",
			Usage: "exit 0 if the local server is ready (for container health checks)",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "url", Usage: "what to check; default: /readyz at AUTHGRAPH_ADDR"},
			},
			Action: func(ctx context.Context, cmd *ucli.Command) error {
				return healthcheck(ctx, cmd.String("url"), getenv)
			},
		},
	}
}

func userCreate(ctx context.Context, cmd *ucli.Command, env cli.Env, getenv func(string) string) error {
	role := auth.Role(strings.ToUpper(cmd.String("role")))
	if !role.Valid() {
		return fmt.Errorf("%w: --role must be ADMIN or MEMBER", cli.ErrUsage)
	}
	cfg, err := loadConfig(nil, getenv, io.Discard)
	if err != nil {
		return err
	}
	if cfg.RedisURL == "" {
		return errors.New("user create works on the store directly and needs AUTHGRAPH_REDIS_URL: the embedded store " +
			"lives inside the running server (there, use AUTHGRAPH_ADMIN_USERNAME or the createUser mutation)")
	}
	p := cli.NewPrompter(env)
	password, err := p.Secret("Password for " + cmd.String("username") + ": ")
	if err != nil {
		return err
	}
	if p.Interactive() {
		again, err := p.Secret("Again: ")
		if err != nil {
			return err
		}
		if again != password {
			return errors.New("the passwords differ")
		}
	}
	store, rdb, closeStore, err := openStore(cfg, zerolog.Nop())
	if err != nil {
		return err
	}
	defer closeStore()
	hasher, err := argon2id.New(cfg.Argon2)
	if err != nil {
		return err
	}
	acfg := auth.Config{SessionTTL: cfg.SessionTTL}
	if trail := newAuditTrail(cfg, rdb, zerolog.Nop()); trail != nil && rdb != nil {
		acfg.Auditor = trail // the embedded store's trail would die with this process
		defer closeAuditTrail(trail, zerolog.Nop())
	}
	svc := auth.NewService(store, hasher, clock.Real{}, acfg)
	made, err := svc.EnsureUser(ctx, cmd.String("username"), password, role)
	if err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) {
			return &cli.APIError{Code: string(ae.Code), Message: ae.Message}
		}
		if errors.Is(err, auth.ErrUnavailable) {
			return &cli.APIError{Code: string(auth.CodeUnavailable), Message: "Redis does not answer: " + auth.MsgUnavailable}
		}
		return err
	}
	if !made {
		return &cli.APIError{Code: string(auth.CodeConflict), Message: "username is taken"}
	}
	if cmd.Bool("json") {
		_, err := fmt.Fprintf(env.Stdout, "{\"username\":%q,\"role\":%q,\"created\":true}\n", cmd.String("username"), role)
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "Created user %s (%s).\n", cmd.String("username"), role)
	return err
}

// healthcheck GETs the readiness endpoint of the server configured in this environment.
// Distroless images have no curl; this is the container's health probe.
func healthcheck(ctx context.Context, url string, getenv func(string) string) error {
	if url == "" {
		addr := getenv("AUTHGRAPH_ADDR")
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("AUTHGRAPH_ADDR %q: %w", addr, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		url = "http://" + net.JoinHostPort(host, port) + "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return nil
}
