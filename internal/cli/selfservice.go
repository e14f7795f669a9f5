package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	ucli "github.com/urfave/cli/v3"
)

// The self-service commands: sign up, and recover a forgotten password with a mailed link.
// They need no session. The token of a link is a secret like a password: it is read from a
// prompt or stdin (or --token, for one that is spent within seconds anyway), and the whole
// link may be pasted in its place.

func (a *app) signUp(ctx context.Context, cmd *ucli.Command) error {
	username, email := strings.TrimSpace(cmd.String("username")), strings.TrimSpace(cmd.String("email"))
	if username == "" || email == "" {
		return fmt.Errorf("%w: give --username and --email (the password is read from a prompt or stdin)", ErrUsage)
	}
	c, err := a.client(cmd, false)
	if err != nil {
		return err
	}
	password, err := a.newPassword("Password: ")
	if err != nil {
		return err
	}
	input := map[string]any{"username": username, "email": email, "password": password}
	if acct := cmd.String("account"); acct != "" {
		input["account"] = acct
	}
	var out struct {
		S struct {
			Email string `json:"email"`
		} `json:"signUp"`
	}
	if err := c.do(ctx, `mutation CliSignUp($input: SignUpInput!) { signUp(input: $input) { email } }`,
		map[string]any{"input": input}, &out); err != nil {
		return err
	}
	if cmd.Bool("json") {
		return a.printJSON(map[string]any{"apiUrl": c.url, "username": username, "email": out.S.Email})
	}
	fmt.Fprintf(a.env.Stdout, "Check your mail at %s: open the link in it to verify the address, then sign in with\n"+
		"  authgraph login --username %s%s\n", out.S.Email, username, accountFlag(cmd))
	return nil
}

func (a *app) passwordReset(ctx context.Context, cmd *ucli.Command) error {
	email, tok := strings.TrimSpace(cmd.String("email")), strings.TrimSpace(cmd.String("token"))
	if email != "" && tok != "" {
		return fmt.Errorf("%w: give --email (to ask for the mail) or --token (to use it), not both", ErrUsage)
	}
	c, err := a.client(cmd, false)
	if err != nil {
		return err
	}
	if email != "" {
		return a.requestPasswordReset(ctx, cmd, c, email)
	}
	if cmd.String("account") != "" {
		return fmt.Errorf("%w: --account goes with --email; the link knows its account", ErrUsage)
	}
	if tok == "" {
		if tok, err = a.secret("Token or link from the mail: "); err != nil {
			return err
		}
	}
	if tok, err = tokenOf(tok); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	password, err := a.newPassword("New password: ")
	if err != nil {
		return err
	}
	input := map[string]any{"token": tok, "newPassword": password}
	const resetQuery = `mutation CliResetPassword($input: ResetPasswordInput!) { resetPassword(input: $input) { username } }`
	var out struct {
		U struct {
			Username string `json:"username"`
		} `json:"resetPassword"`
	}
	err = c.do(ctx, resetQuery, map[string]any{"input": input}, &out)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Code == "OTP_REQUIRED" {
		// Two-step sign-in is on: the mailbox alone is one factor. The token is not spent,
		// so the same request with the code goes through.
		otp, oerr := a.secret("One-time code: ")
		if oerr != nil {
			return oerr
		}
		input["otp"] = strings.TrimSpace(otp)
		err = c.do(ctx, resetQuery, map[string]any{"input": input}, &out)
	}
	if errors.As(err, &apiErr) && apiErr.Code == "TOKEN_INVALID" {
		return fmt.Errorf("%w (the link works once, for one hour: ask for a new one with `authgraph password reset --email ADDRESS`)", err)
	}
	if err != nil {
		return err
	}
	if cmd.Bool("json") {
		return a.printJSON(map[string]any{"apiUrl": c.url, "username": out.U.Username, "passwordReset": true})
	}
	fmt.Fprintf(a.env.Stdout, "Password changed for %s; every session of theirs has ended. Sign in with\n"+
		"  authgraph login --username %s\n", out.U.Username, out.U.Username)
	return nil
}

func (a *app) requestPasswordReset(ctx context.Context, cmd *ucli.Command, c *client, email string) error {
	input := map[string]any{"email": email}
	if acct := cmd.String("account"); acct != "" {
		input["account"] = acct
	}
	var out struct {
		R struct {
			Email string `json:"email"`
		} `json:"requestPasswordReset"`
	}
	if err := c.do(ctx, `mutation CliRequestPasswordReset($input: EmailRequestInput!) { requestPasswordReset(input: $input) { email } }`,
		map[string]any{"input": input}, &out); err != nil {
		return err
	}
	if cmd.Bool("json") {
		return a.printJSON(map[string]any{"apiUrl": c.url, "email": out.R.Email})
	}
	// The server answers the same whether or not the address is a user's; so does the CLI.
	fmt.Fprintf(a.env.Stdout, "If %s belongs to an account, a link to reset its password is on its way to it (valid for one hour).\n"+
		"Then run `authgraph password reset` and paste the link (or its token) when asked.\n", out.R.Email)
	return nil
}

// newPassword reads a new password, twice on a terminal (a typo there would lock the user
// out), once from stdin.
func (a *app) newPassword(prompt string) (string, error) {
	password, err := a.secret(prompt)
	if err != nil {
		return "", err
	}
	if a.Interactive() {
		again, err := a.secret("Again: ")
		if err != nil {
			return "", err
		}
		if again != password {
			return "", errors.New("the passwords differ")
		}
	}
	if password == "" {
		return "", fmt.Errorf("%w: the password is empty", ErrUsage)
	}
	return password, nil
}

// tokenOf answers the token in s: s itself, or the token parameter of a link's fragment
// (…/account/#view=reset&token=age_…), or of its query.
func tokenOf(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("no token: paste the link from the mail, or its token (age_…)")
	}
	if !strings.Contains(s, "token=") {
		return s, nil
	}
	rest := s
	if i := strings.Index(s, "#"); i >= 0 {
		rest = s[i+1:]
	} else if i := strings.Index(s, "?"); i >= 0 {
		rest = s[i+1:]
	}
	q, err := url.ParseQuery(rest)
	if err != nil || q.Get("token") == "" {
		return "", errors.New("no token in that link: paste the whole link from the mail")
	}
	return q.Get("token"), nil
}

// accountFlag repeats --account for a command line to suggest, if it was given.
func accountFlag(cmd *ucli.Command) string {
	if acct := cmd.String("account"); acct != "" {
		return " --account " + acct
	}
	return ""
}
