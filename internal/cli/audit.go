package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v3"
)

// auditCommand lists the audit trail: your own security events, or with --account, --user
// or --admin the trail an admin reads (auditEvents); --follow keeps polling for new ones.
func (a *app) auditCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "audit",
		Usage: "list security events: yours, or with --account/--user/--admin the trail you administer",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "account", Usage: "an account's trail (admins)"},
			&ucli.StringFlag{Name: "user", Usage: "a user's trail (admins)"},
			&ucli.BoolFlag{Name: "admin", Usage: "the trail you administer without naming one: the unattributed events for an ADMIN, your account's for an ACCOUNT_ADMIN"},
			&ucli.StringSliceFlag{Name: "type", Usage: "only these event types (session.sign_in, key.created…)"},
			&ucli.StringFlag{Name: "outcome", Usage: "only SUCCESS, FAILURE or ERROR"},
			&ucli.IntFlag{Name: "limit", Value: 50, Usage: "the newest n events (1 to 1000)"},
			&ucli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new events as they come (Ctrl-C stops)"},
			&ucli.DurationFlag{Name: "interval", Value: 2 * time.Second, Usage: "with --follow: how often to ask"},
		},
		Action: a.audit,
	}
}

type auditEvent struct {
	ID         string  `json:"id"`
	Time       string  `json:"time"`
	Type       string  `json:"type"`
	Outcome    string  `json:"outcome"`
	Reason     *string `json:"reason"`
	ActorKind  string  `json:"actorKind"`
	ActorUser  *string `json:"actorUserID"`
	User       *string `json:"userID"`
	Account    *string `json:"accountID"`
	IP         *string `json:"ip"`
	ClientName *string `json:"clientName"`
	Session    *string `json:"sessionID"`
	Detail     *string `json:"detail"`
}

const auditEventFields = `id time type outcome reason actorKind actorUserID userID accountID ip clientName sessionID detail`

func (a *app) audit(ctx context.Context, cmd *ucli.Command) error {
	c, err := a.client(cmd, true)
	if err != nil {
		return err
	}
	limit := int(cmd.Int("limit"))
	if limit < 1 || limit > 1000 {
		return fmt.Errorf("%w: --limit must be from 1 to 1000", ErrUsage)
	}
	var outcome any
	if o := cmd.String("outcome"); o != "" {
		outcome = o
	}
	types := cmd.StringSlice("type")
	admin := cmd.Bool("admin") || cmd.String("account") != "" || cmd.String("user") != ""
	fetch := func() ([]auditEvent, error) {
		if admin {
			filter := map[string]any{"types": types, "outcome": outcome}
			if v := cmd.String("account"); v != "" {
				filter["account"] = v
			}
			if v := cmd.String("user"); v != "" {
				filter["user"] = v
			}
			var out struct {
				E struct {
					Nodes []auditEvent `json:"nodes"`
				} `json:"auditEvents"`
			}
			err := c.do(ctx, `query CliAuditEvents($f: AuditEventFilter, $n: Int) { auditEvents(filter: $f, first: $n) { nodes { `+auditEventFields+` } } }`,
				map[string]any{"f": filter, "n": limit}, &out)
			return out.E.Nodes, err
		}
		var out struct {
			Me struct {
				E struct {
					Nodes []auditEvent `json:"nodes"`
				} `json:"securityEvents"`
			} `json:"me"`
		}
		err := c.do(ctx, `query CliSecurityEvents($n: Int, $t: [String!], $o: AuditOutcome) { me { securityEvents(first: $n, types: $t, outcome: $o) { nodes { `+auditEventFields+` } } } }`,
			map[string]any{"n": limit, "t": types, "o": outcome}, &out)
		return out.Me.E.Nodes, err
	}
	events, err := fetch()
	if err != nil {
		return err
	}
	slices.Reverse(events) // oldest first, as a log reads
	jsonOut := cmd.Bool("json")
	if !cmd.Bool("follow") {
		if jsonOut {
			if events == nil {
				events = []auditEvent{}
			}
			return a.printJSON(events)
		}
		return a.printEvents(events, true)
	}
	seen := map[string]bool{}
	print := func(evs []auditEvent, header bool) error {
		var fresh []auditEvent
		for _, e := range evs {
			if !seen[e.ID] {
				seen[e.ID] = true
				fresh = append(fresh, e)
			}
		}
		if jsonOut { // one JSON object a line, for tools that read a stream
			enc := json.NewEncoder(a.env.Stdout)
			for _, e := range fresh {
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
			return nil
		}
		return a.printEvents(fresh, header)
	}
	if err := print(events, true); err != nil {
		return err
	}
	tick := time.NewTicker(cmd.Duration("interval"))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		evs, err := fetch()
		if err != nil {
			return err
		}
		slices.Reverse(evs)
		if err := print(evs, false); err != nil {
			return err
		}
		if len(seen) > 10_000 { // only the last page can repeat: forget the rest
			seen = map[string]bool{}
			for _, e := range evs {
				seen[e.ID] = true
			}
		}
	}
}

func (a *app) printEvents(events []auditEvent, header bool) error {
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "TIME\tTYPE\tOUTCOME\tREASON\tACTOR\tUSER\tIP\tCLIENT\tDETAIL")
	}
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time, e.Type, e.Outcome, opt(e.Reason),
			e.ActorKind, opt(e.User), opt(e.IP), opt(e.ClientName), opt(e.Detail))
	}
	return tw.Flush()
}
