package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v3"
)

// serviceKeysCommand is `authgraph service-keys`: the keys of an account's service accounts
// (machines that send x-api-key), for its admins. A secret is printed once, by create.
func (a *app) serviceKeysCommand() *ucli.Command {
	account := &ucli.StringFlag{Name: "account", Usage: "the account's id", Value: "1"}
	return &ucli.Command{
		Name:  "service-keys",
		Usage: "manage the keys of an account's service accounts (sent as x-api-key)",
		Commands: []*ucli.Command{
			{Name: "list", Aliases: []string{"ls"}, Usage: "list the account's service accounts and their keys", Flags: []ucli.Flag{account}, Action: a.serviceKeysList},
			{
				Name:  "create",
				Usage: "make a key for a service account; its secret is printed this once",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "service-account", Usage: "the service account's id", Required: true},
					&ucli.StringFlag{Name: "name", Usage: "a label for the key", Value: "key"},
					&ucli.StringSliceFlag{Name: "scopes", Usage: "what the key may do (comma-separated); default: the service account's"},
					&ucli.StringFlag{Name: "expires", Usage: "when the key stops working: a duration (720h) or an RFC 3339 time"},
					&ucli.StringFlag{Name: "rate", Usage: "a rate limit: REQUESTS/SECONDS, e.g. 600/60"},
					&ucli.StringFlag{Name: "quota", Usage: "a quota: REQUESTS, or REQUESTS/SECONDS refilled each period"},
				},
				Action: a.serviceKeysCreate,
			},
			{Name: "delete", Aliases: []string{"rm"}, Usage: "delete keys: they stop working at once", ArgsUsage: "KEY_ID...", Action: a.serviceKeysDelete},
			{Name: "usage", Usage: "a key's requests per hour (last 30 days)", ArgsUsage: "KEY_ID", Flags: []ucli.Flag{account}, Action: a.serviceKeysUsage},
		},
	}
}

type serviceKeyNode struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Scopes         []string `json:"scopes"`
	SecretHint     string   `json:"secretHint"`
	CreatedAt      string   `json:"createdAt"`
	ExpiresAt      *string  `json:"expiresAt"`
	LastUsedAt     *string  `json:"lastUsedAt"`
	QuotaRemaining *int     `json:"quotaRemaining"`
	Secret         string   `json:"secret,omitempty"`
	Usage          []struct {
		Start   string `json:"start"`
		Allowed int    `json:"allowed"`
		Refused int    `json:"refused"`
	} `json:"usage,omitempty"`
}

type serviceAccountNode struct {
	ID       string           `json:"id"`
	Name     string           `json:"name"`
	Scopes   []string         `json:"scopes"`
	Disabled bool             `json:"disabled"`
	Keys     []serviceKeyNode `json:"keys"`
}

const serviceKeyFields = `id name scopes secretHint createdAt expiresAt lastUsedAt quotaRemaining`

func (a *app) serviceAccounts(ctx context.Context, cmd *ucli.Command, usage bool) ([]serviceAccountNode, error) {
	c, err := a.client(cmd, true)
	if err != nil {
		return nil, err
	}
	fields := serviceKeyFields
	if usage {
		fields += ` usage { start allowed refused }`
	}
	var out struct {
		SA []serviceAccountNode `json:"serviceAccounts"`
	}
	err = c.do(ctx, `query CliServiceAccounts($a: ObjectID!) { serviceAccounts(account: $a) { id name scopes disabled keys { `+fields+` } } }`,
		map[string]any{"a": cmd.String("account")}, &out)
	return out.SA, err
}

func (a *app) serviceKeysList(ctx context.Context, cmd *ucli.Command) error {
	list, err := a.serviceAccounts(ctx, cmd, false)
	if err != nil {
		return err
	}
	if cmd.Bool("json") {
		if list == nil {
			list = []serviceAccountNode{}
		}
		return a.printJSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(a.env.Stdout, "No service accounts in this account.")
		return nil
	}
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE ACCOUNT\tKEY\tNAME\tSCOPES\tHINT\tLAST USED\tQUOTA LEFT\tEXPIRES")
	for _, sa := range list {
		name := sa.Name
		if sa.Disabled {
			name += " (disabled)"
		}
		if len(sa.Keys) == 0 {
			fmt.Fprintf(tw, "%s %s\t-\t-\t%s\t-\t-\t-\t-\n", sa.ID, name, strings.Join(sa.Scopes, ","))
		}
		for _, k := range sa.Keys {
			quota := "-"
			if k.QuotaRemaining != nil {
				quota = strconv.Itoa(*k.QuotaRemaining)
			}
			fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\t…%s\t%s\t%s\t%s\n", sa.ID, name, k.ID, k.Name, strings.Join(k.Scopes, ","), k.SecretHint,
				opt(k.LastUsedAt), quota, opt(k.ExpiresAt))
		}
	}
	return tw.Flush()
}

// perPeriod reads N or N/SECONDS.
func perPeriod(flag, v string) (n, secs int, err error) {
	num, per, hasPer := strings.Cut(v, "/")
	if n, err = strconv.Atoi(num); err != nil || n < 1 {
		return 0, 0, fmt.Errorf("%w: --%s: want REQUESTS or REQUESTS/SECONDS, not %q", ErrUsage, flag, v)
	}
	if hasPer {
		if secs, err = strconv.Atoi(per); err != nil || secs < 1 {
			return 0, 0, fmt.Errorf("%w: --%s: want REQUESTS/SECONDS, not %q", ErrUsage, flag, v)
		}
	}
	return n, secs, nil
}

func (a *app) serviceKeysCreate(ctx context.Context, cmd *ucli.Command) error {
	input := map[string]any{"serviceAccountId": cmd.String("service-account"), "name": cmd.String("name")}
	if sc := cmd.StringSlice("scopes"); len(sc) > 0 {
		input["scopes"] = sc
	}
	if e := cmd.String("expires"); e != "" {
		t, err := parseExpiry(e, time.Now())
		if err != nil {
			return fmt.Errorf("%w: --expires: %v", ErrUsage, err)
		}
		input["expiresAt"] = t.UTC().Format(time.RFC3339)
	}
	if r := cmd.String("rate"); r != "" {
		n, secs, err := perPeriod("rate", r)
		if err != nil {
			return err
		}
		if secs == 0 {
			return fmt.Errorf("%w: --rate: want REQUESTS/SECONDS, not %q", ErrUsage, r)
		}
		input["rateLimit"] = map[string]any{"requests": n, "periodSeconds": secs}
	}
	if q := cmd.String("quota"); q != "" {
		n, secs, err := perPeriod("quota", q)
		if err != nil {
			return err
		}
		quota := map[string]any{"limit": n}
		if secs > 0 {
			quota["periodSeconds"] = secs
		}
		input["quota"] = quota
	}
	c, err := a.client(cmd, true)
	if err != nil {
		return err
	}
	var out struct {
		K serviceKeyNode `json:"createServiceKey"`
	}
	if err := c.do(ctx, `mutation CliCreateServiceKey($input: CreateServiceKeyInput!) { createServiceKey(input: $input) { `+serviceKeyFields+` secret } }`,
		map[string]any{"input": input}, &out); err != nil {
		return err
	}
	if cmd.Bool("json") {
		return a.printJSON(out.K)
	}
	fmt.Fprintf(a.env.Stdout, "Service key %s created.\nIts secret, shown this once (keep it somewhere safe):\n%s\n", out.K.ID, out.K.Secret)
	fmt.Fprintln(a.env.Stdout, "Send it on every request: curl -H \"x-api-key: $SECRET\" …")
	return nil
}

func (a *app) serviceKeysDelete(ctx context.Context, cmd *ucli.Command) error {
	ids := cmd.Args().Slice()
	if len(ids) == 0 {
		return fmt.Errorf("%w: name the keys to delete: authgraph service-keys delete KEY_ID...", ErrUsage)
	}
	c, err := a.client(cmd, true)
	if err != nil {
		return err
	}
	var deleted []string
	for _, id := range ids {
		var out struct {
			D struct {
				KeyID string `json:"keyId"`
			} `json:"deleteServiceKey"`
		}
		if err := c.do(ctx, `mutation CliDeleteServiceKey($id: ObjectID!) { deleteServiceKey(input: {keyId: $id}) { keyId } }`,
			map[string]any{"id": id}, &out); err != nil {
			return fmt.Errorf("service key %s: %w", id, err)
		}
		deleted = append(deleted, out.D.KeyID)
		if !cmd.Bool("json") {
			fmt.Fprintf(a.env.Stdout, "Deleted service key %s; it no longer works anywhere.\n", out.D.KeyID)
		}
	}
	if cmd.Bool("json") {
		return a.printJSON(map[string]any{"deleted": deleted})
	}
	return nil
}

func (a *app) serviceKeysUsage(ctx context.Context, cmd *ucli.Command) error {
	if cmd.Args().Len() != 1 {
		return fmt.Errorf("%w: name one key: authgraph service-keys usage KEY_ID", ErrUsage)
	}
	want := cmd.Args().First()
	list, err := a.serviceAccounts(ctx, cmd, true)
	if err != nil {
		return err
	}
	for _, sa := range list {
		for _, k := range sa.Keys {
			if k.ID != want {
				continue
			}
			if cmd.Bool("json") {
				return a.printJSON(k)
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "Key %s (%s), last used %s\n", k.ID, k.Name, opt(k.LastUsedAt))
			fmt.Fprintln(tw, "HOUR\tALLOWED\tREFUSED")
			for _, h := range k.Usage {
				fmt.Fprintf(tw, "%s\t%d\t%d\n", h.Start, h.Allowed, h.Refused)
			}
			return tw.Flush()
		}
	}
	return fmt.Errorf("service key %s not found in account %s", want, cmd.String("account"))
}
