package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v3"
)

const sessionFields = `id token method expiresAt`

type sessionAnswer struct {
	ID        string `json:"id"`
	Token     string `json:"token"`
	Method    string `json:"method"`
	ExpiresAt string `json:"expiresAt"`
}

type meAnswer struct {
	Me struct {
		ID        string `json:"id"`
		Username  string `json:"username"`
		Role      string `json:"role"`
		CreatedAt string `json:"createdAt"`
	} `json:"me"`
}

func (a *app) login(ctx context.Context, cmd *ucli.Command) error {
	c, err := a.client(cmd, false)
	if err != nil {
		return err
	}
	username, keyID := cmd.String("username"), cmd.String("key-id")
	var name any
	if n := cmd.String("name"); n != "" {
		name = n
	}
	provider := cmd.String("provider")
	var s sessionAnswer
	switch {
	case (username != "" && keyID != "") || (provider != "" && (username != "" || keyID != "")):
		return fmt.Errorf("%w: %w", ErrUsage, errBothLogins)
	case provider != "":
		if s, err = a.loginWithProvider(ctx, c, provider, cmd.String("name"), cmd.Bool("no-browser"), cmd.Duration("timeout")); err != nil {
			return err
		}
	case keyID != "":
		secret := a.env.Getenv("AUTHGRAPH_USER_KEY_SECRET")
		if secret == "" {
			if secret, err = a.secret("Key secret: "); err != nil {
				return err
			}
		}
		var out struct {
			S sessionAnswer `json:"createSessionUsingUserKey"`
		}
		err = c.do(ctx, `mutation CliLoginWithUserKey($id: ObjectID!, $secret: String!, $name: String) {
  createSessionUsingUserKey(input: {userKeyId: $id, secret: $secret, name: $name}) { `+sessionFields+` } }`,
			map[string]any{"id": keyID, "secret": secret, "name": name}, &out)
		if err != nil {
			return err
		}
		s = out.S
	default:
		if username == "" {
			if _, ok := a.isTerminal(); !ok {
				return fmt.Errorf("%w: give --username (password login), --key-id (user key login) or --provider (a browser sign-in)", ErrUsage)
			}
			if username, err = a.text("Username: "); err != nil {
				return err
			}
		}
		password, err := a.secret("Password: ")
		if err != nil {
			return err
		}
		input := map[string]any{"username": username, "password": password, "name": name}
		if acct := cmd.String("account"); acct != "" {
			input["account"] = acct // tenants: only sent when asked, for servers that have them
		}
		const loginQuery = `mutation CliLogin($input: CreateSessionUsingUsernameInput!) {
  createSessionUsingUsername(input: $input) { ` + sessionFields + ` } }`
		var out struct {
			S sessionAnswer `json:"createSessionUsingUsername"`
		}
		err = c.do(ctx, loginQuery, map[string]any{"input": input}, &out)
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Code == "OTP_REQUIRED" {
			// The account has a second factor: ask for the code and sign in again with it.
			otp, oerr := a.secret("One-time code: ")
			if oerr != nil {
				return oerr
			}
			input["otp"] = strings.TrimSpace(otp)
			err = c.do(ctx, loginQuery, map[string]any{"input": input}, &out)
		}
		if err != nil {
			return err
		}
		s = out.S
	}
	c.token = s.Token
	var me meAnswer
	if err := c.do(ctx, `query CliWhoami { me { id username role createdAt } }`, nil, &me); err != nil {
		return err
	}
	previous, _ := a.saved(c.url) // the session this CLI held before, if any
	if err := a.remember(c.url, &savedSession{Token: s.Token, SessionID: s.ID, Username: me.Me.Username, Method: s.Method, ExpiresAt: s.ExpiresAt}); err != nil {
		return fmt.Errorf("signed in, but the token could not be saved: %w", err)
	}
	ended := a.endPrevious(ctx, c, previous.Token)
	if cmd.Bool("json") {
		return a.printJSON(map[string]any{"apiUrl": c.url, "user": me.Me, "session": map[string]any{"id": s.ID, "method": s.Method, "expiresAt": s.ExpiresAt},
			"endedPreviousSession": ended})
	}
	fmt.Fprintf(a.env.Stdout, "Signed in to %s as %s (session %s, %s, until %s).\n", c.url, me.Me.Username, s.ID, s.Method, s.ExpiresAt)
	if ended {
		fmt.Fprintln(a.env.Stdout, "Ended the previous CLI session.")
	}
	return nil
}

// endPrevious ends the session whose token the CLI kept before this login, now that the new
// one is saved: forgotten, it would stay alive until it expires, usable by whoever finds the
// token. It reports whether it ended one; a session that had ended already is not one.
func (a *app) endPrevious(ctx context.Context, c *client, token string) bool {
	if token == "" || token == c.token {
		return false
	}
	old := &client{url: c.url, http: c.http, version: c.version, token: token}
	err := old.do(ctx, `mutation CliEndPreviousSession { deleteSession { id } }`, nil, nil)
	var apiErr *APIError
	switch {
	case err == nil:
		return true
	case errors.As(err, &apiErr) && apiErr.Code == "UNAUTHENTICATED": // expired or ended elsewhere
	default:
		fmt.Fprintln(a.env.Stderr, "authgraph: warning: the previous CLI session could not be ended (end it with `authgraph sessions revoke`):", err)
	}
	return false
}

func (a *app) logout(ctx context.Context, cmd *ucli.Command) error {
	c, err := a.client(cmd, true)
	if err != nil {
		return err
	}
	var out struct {
		S struct {
			ID string `json:"id"`
		} `json:"deleteSession"`
	}
	err = c.do(ctx, `mutation CliLogout { deleteSession { id } }`, nil, &out)
	var apiErr *APIError
	if err != nil && !(errors.As(err, &apiErr) && apiErr.Code == "UNAUTHENTICATED") {
		return err // the session may still be live: keep the token so that logout can be retried
	}
	if a.env.Getenv("AUTHGRAPH_TOKEN") == "" {
		if err := a.remember(c.url, nil); err != nil {
			return err
		}
	}
	if cmd.Bool("json") {
		return a.printJSON(map[string]any{"apiUrl": c.url, "signedOut": true})
	}
	fmt.Fprintf(a.env.Stdout, "Signed out of %s.\n", c.url)
	return nil
}

func (a *app) whoami(ctx context.Context, cmd *ucli.Command) error {
	c, err := a.client(cmd, true)
	if err != nil {
		return err
	}
	var me struct {
		Me struct {
			ID        string `json:"id"`
			Username  string `json:"username"`
			Role      string `json:"role"`
			CreatedAt string `json:"createdAt"`
			Sessions  struct {
				Nodes []sessionNode `json:"nodes"`
			} `json:"sessions"`
		} `json:"me"`
	}
	if err := c.do(ctx, `query CliWhoami { me { id username role createdAt sessions(last: 1000) { nodes { `+sessionNodeFields+` } } } }`, nil, &me); err != nil {
		return err
	}
	var current *sessionNode
	for i, s := range me.Me.Sessions.Nodes {
		if s.Current {
			current = &me.Me.Sessions.Nodes[i]
		}
	}
	if cmd.Bool("json") {
		return a.printJSON(map[string]any{"apiUrl": c.url, "user": map[string]any{
			"id": me.Me.ID, "username": me.Me.Username, "role": me.Me.Role, "createdAt": me.Me.CreatedAt,
		}, "session": current})
	}
	fmt.Fprintf(a.env.Stdout, "%s (%s, %s) at %s\n", me.Me.Username, me.Me.Role, me.Me.ID, c.url)
	if current != nil {
		fmt.Fprintf(a.env.Stdout, "session %s by %s, until %s\n", current.ID, current.Method, current.ExpiresAt)
	}
	return nil
}

func (a *app) printToken(ctx context.Context, cmd *ucli.Command) error {
	c, err := a.client(cmd, true)
	if err != nil {
		return err
	}
	if cmd.Bool("json") {
		return a.printJSON(map[string]any{"apiUrl": c.url, "token": c.token})
	}
	fmt.Fprintln(a.env.Stdout, c.token)
	return nil
}

const keyFields = `id name scopes createdAt lastUsedAt expiresAt`

type keyNode struct {
	ID         string   `json:"id"`
	Name       *string  `json:"name"`
	Scopes     []string `json:"scopes"`
	CreatedAt  string   `json:"createdAt"`
	LastUsedAt *string  `json:"lastUsedAt"`
	ExpiresAt  *string  `json:"expiresAt"`
	Secret     string   `json:"secret,omitempty"`
}

// nullIfEmpty makes an unset label null, as scripts expect of a missing value: the API
// answers "" for a key or session made without a name.
func nullIfEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

func (a *app) keysCreate(ctx context.Context, cmd *ucli.Command) error {
	input := map[string]any{}
	if n := cmd.String("name"); n != "" {
		input["name"] = n
	}
	if e := cmd.String("expires"); e != "" {
		t, err := parseExpiry(e, time.Now())
		if err != nil {
			return fmt.Errorf("%w: --expires: %v", ErrUsage, err)
		}
		input["expiresAt"] = t.UTC().Format(time.RFC3339)
	}
	if sc := cmd.StringSlice("scopes"); len(sc) > 0 {
		input["scopes"] = sc
	}
	c, err := a.client(cmd, true)
	if err != nil {
		return err
	}
	var out struct {
		K keyNode `json:"createUserKey"`
	}
	if err := c.do(ctx, `mutation CliCreateUserKey($input: CreateUserKeyInput) { createUserKey(input: $input) { `+keyFields+` secret } }`,
		map[string]any{"input": input}, &out); err != nil {
		return err
	}
	out.K.Name = nullIfEmpty(out.K.Name)
	if cmd.Bool("json") {
		return a.printJSON(out.K)
	}
	w := a.env.Stdout
	fmt.Fprintf(w, "Key %s created", out.K.ID)
	if out.K.Name != nil {
		fmt.Fprintf(w, " (%s)", *out.K.Name)
	}
	if out.K.ExpiresAt != nil {
		fmt.Fprintf(w, ", valid until %s", *out.K.ExpiresAt)
	}
	fmt.Fprintf(w, ".\nIts secret, shown this once (keep it somewhere safe):\n%s\n", out.K.Secret)
	fmt.Fprintf(w, "Sign in with it: authgraph login --key-id %s   (the secret is read from stdin)\n", out.K.ID)
	return nil
}

// parseExpiry reads --expires: a Go duration from now (720h, 90m) or an RFC 3339 time.
func parseExpiry(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("must be in the future: %q", v)
		}
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("want a duration such as 720h, a date such as 2027-01-31, or an RFC 3339 time, not %q", v)
}

func (a *app) keysList(ctx context.Context, cmd *ucli.Command) error {
	c, err := a.client(cmd, true)
	if err != nil {
		return err
	}
	var keys []keyNode
	after := any(nil)
	for {
		var out struct {
			Me struct {
				UserKeys struct {
					Nodes    []keyNode `json:"nodes"`
					PageInfo struct {
						HasNextPage bool   `json:"hasNextPage"`
						EndCursor   string `json:"endCursor"`
					} `json:"pageInfo"`
				} `json:"userKeys"`
			} `json:"me"`
		}
		if err := c.do(ctx, `query CliListKeys($after: String) { me { userKeys(first: 1000, after: $after) { nodes { `+keyFields+` } pageInfo { hasNextPage endCursor } } } }`,
			map[string]any{"after": after}, &out); err != nil {
			return err
		}
		keys = append(keys, out.Me.UserKeys.Nodes...)
		if !out.Me.UserKeys.PageInfo.HasNextPage {
			break
		}
		after = out.Me.UserKeys.PageInfo.EndCursor
	}
	for i := range keys {
		keys[i].Name = nullIfEmpty(keys[i].Name)
	}
	if cmd.Bool("json") {
		if keys == nil {
			keys = []keyNode{}
		}
		return a.printJSON(keys)
	}
	if len(keys) == 0 {
		fmt.Fprintln(a.env.Stdout, "No keys. Make one with `authgraph keys create --name NAME`.")
		return nil
	}
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tEXPIRES")
	for _, k := range keys {
		scopes := strings.Join(k.Scopes, ",")
		if scopes == "" {
			scopes = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, opt(k.Name), scopes, k.CreatedAt, opt(k.LastUsedAt), opt(k.ExpiresAt))
	}
	return tw.Flush()
}

func (a *app) keysDelete(ctx context.Context, cmd *ucli.Command) error {
	ids := cmd.Args().Slice()
	if len(ids) == 0 {
		return fmt.Errorf("%w: name the keys to delete: authgraph keys delete KEY_ID...", ErrUsage)
	}
	c, err := a.client(cmd, true)
	if err != nil {
		return err
	}
	var deleted []string
	for _, id := range ids {
		var out struct {
			D struct {
				UserKey struct {
					ID string `json:"id"`
				} `json:"userKey"`
			} `json:"deleteUserKey"`
		}
		if err := c.do(ctx, `mutation CliDeleteUserKey($id: ObjectID!) { deleteUserKey(input: {userKeyId: $id}) { userKey { id } } }`,
			map[string]any{"id": id}, &out); err != nil {
			return fmt.Errorf("key %s: %w", id, err)
		}
		deleted = append(deleted, out.D.UserKey.ID)
		if !cmd.Bool("json") {
			fmt.Fprintf(a.env.Stdout, "Deleted key %s; the sessions made from it have ended.\n", out.D.UserKey.ID)
		}
	}
	if cmd.Bool("json") {
		return a.printJSON(map[string]any{"deleted": deleted})
	}
	return nil
}

const sessionNodeFields = `id name method createdAt expiresAt lastUsedAt clientName clientVersion ip current`

type sessionNode struct {
	ID            string  `json:"id"`
	Name          *string `json:"name"`
	Method        string  `json:"method"`
	CreatedAt     string  `json:"createdAt"`
	ExpiresAt     string  `json:"expiresAt"`
	LastUsedAt    *string `json:"lastUsedAt"`
	ClientName    *string `json:"clientName"`
	ClientVersion *string `json:"clientVersion"`
	IP            *string `json:"ip"`
	Current       bool    `json:"current"`
}

func (a *app) sessionsList(ctx context.Context, cmd *ucli.Command) error {
	c, err := a.client(cmd, true)
	if err != nil {
		return err
	}
	var sessions []sessionNode
	after := any(nil)
	for {
		var out struct {
			Me struct {
				Sessions struct {
					Nodes    []sessionNode `json:"nodes"`
					PageInfo struct {
						HasNextPage bool   `json:"hasNextPage"`
						EndCursor   string `json:"endCursor"`
					} `json:"pageInfo"`
				} `json:"sessions"`
			} `json:"me"`
		}
		if err := c.do(ctx, `query CliListSessions($after: String) { me { sessions(first: 1000, after: $after) { nodes { `+sessionNodeFields+` } pageInfo { hasNextPage endCursor } } } }`,
			map[string]any{"after": after}, &out); err != nil {
			return err
		}
		sessions = append(sessions, out.Me.Sessions.Nodes...)
		if !out.Me.Sessions.PageInfo.HasNextPage {
			break
		}
		after = out.Me.Sessions.PageInfo.EndCursor
	}
	for i := range sessions {
		sessions[i].Name = nullIfEmpty(sessions[i].Name)
	}
	if cmd.Bool("json") {
		if sessions == nil {
			sessions = []sessionNode{}
		}
		return a.printJSON(sessions)
	}
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tMETHOD\tCLIENT\tCREATED\tEXPIRES\tCURRENT")
	for _, s := range sessions {
		client := opt(s.ClientName)
		if s.ClientVersion != nil && *s.ClientVersion != "" {
			client += " " + *s.ClientVersion
		}
		cur := ""
		if s.Current {
			cur = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, opt(s.Name), s.Method, client, s.CreatedAt, s.ExpiresAt, cur)
	}
	return tw.Flush()
}

func (a *app) sessionsRevoke(ctx context.Context, cmd *ucli.Command) error {
	ids := cmd.Args().Slice()
	if len(ids) == 0 {
		return fmt.Errorf("%w: name the sessions to end: authgraph sessions revoke SESSION_ID... (see authgraph sessions list)", ErrUsage)
	}
	c, err := a.client(cmd, true)
	if err != nil {
		return err
	}
	var ended []string
	for _, id := range ids {
		var out struct {
			S struct {
				ID      string `json:"id"`
				Current bool   `json:"current"`
			} `json:"deleteSession"`
		}
		if err := c.do(ctx, `mutation CliRevokeSession($id: ObjectID!) { deleteSession(input: {sessionId: $id}) { id current } }`,
			map[string]any{"id": id}, &out); err != nil {
			return fmt.Errorf("session %s: %w", id, err)
		}
		ended = append(ended, out.S.ID)
		if out.S.Current && a.env.Getenv("AUTHGRAPH_TOKEN") == "" {
			if err := a.remember(c.url, nil); err != nil {
				return err
			}
		}
		if !cmd.Bool("json") {
			msg := "Ended session %s.\n"
			if out.S.Current {
				msg = "Ended session %s, the one this CLI used: you are signed out.\n"
			}
			fmt.Fprintf(a.env.Stdout, msg, out.S.ID)
		}
	}
	if cmd.Bool("json") {
		return a.printJSON(map[string]any{"revoked": ended})
	}
	return nil
}

func opt(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}
