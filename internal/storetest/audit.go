package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/clock"
)

// AuditStore checks an audit.Store: each event lands in its account's stream and its
// user's, lists come newest first, filters and cursors behave alike in every store, and a
// malformed cursor is audit.ErrBadCursor. newStore must return an empty store reading time
// from c (for its retention).
func AuditStore(t *testing.T, newStore func(t *testing.T, c clock.Clock) audit.Store) {
	ctx := context.Background()
	c := clock.NewFake(time.Now().UTC())
	st := newStore(t, c)
	base := c.Now().Truncate(time.Millisecond)
	var all []audit.Event
	for i := range 60 {
		e := audit.Event{
			Time: base.Add(time.Duration(i) * time.Second), Type: audit.SignIn, Outcome: audit.Success,
			ActorKind: audit.Anonymous, UserID: int64(1 + i%3), AccountID: 10, IP: "192.0.2.1",
			UserAgent: "agent/1", ClientName: "cli", SessionID: int64(100 + i), Detail: fmt.Sprint("n", i),
		}
		switch {
		case i%3 == 2: // user 3 is in account 20
			e.AccountID = 20
		case i%5 == 0:
			e.Type, e.Outcome, e.Reason = audit.SignIn, audit.Failure, "wrong_secret"
		}
		if i%10 == 7 { // unattributed
			e.UserID, e.AccountID = 0, 0
		}
		all = append(all, e)
	}
	// Several appends, as the writer's batches would be.
	for i := 0; i < len(all); i += 7 {
		if err := st.Append(ctx, all[i:min(i+7, len(all))]); err != nil {
			t.Fatal(err)
		}
	}
	want := func(keep func(e *audit.Event) bool) []string {
		var out []string
		for i := len(all) - 1; i >= 0; i-- {
			if keep(&all[i]) {
				out = append(out, all[i].Detail)
			}
		}
		return out
	}
	list := func(q audit.Query) []string {
		t.Helper()
		var out []string
		seen := map[string]bool{}
		for range 100 {
			p, err := st.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Events {
				if seen[e.ID] {
					t.Fatalf("event %s answered twice", e.ID)
				}
				seen[e.ID] = true
				out = append(out, e.Detail)
			}
			if !p.More {
				return out
			}
			q.After = p.Next
		}
		t.Fatal("pages never end")
		return nil
	}
	cases := []struct {
		name string
		q    audit.Query
		keep func(e *audit.Event) bool
	}{
		{"account", audit.Query{Stream: audit.Stream{Account: 10}, Limit: 1000}, func(e *audit.Event) bool { return e.AccountID == 10 }},
		{"account paged", audit.Query{Stream: audit.Stream{Account: 10}, Limit: 4}, func(e *audit.Event) bool { return e.AccountID == 10 }},
		{"other account", audit.Query{Stream: audit.Stream{Account: 20}, Limit: 3}, func(e *audit.Event) bool { return e.AccountID == 20 }},
		{"unattributed", audit.Query{Stream: audit.Stream{}, Limit: 2}, func(e *audit.Event) bool { return e.AccountID == 0 }},
		{"user", audit.Query{Stream: audit.Stream{User: 1}, Limit: 5}, func(e *audit.Event) bool { return e.UserID == 1 }},
		{"user ignores account", audit.Query{Stream: audit.Stream{Account: 20, User: 2}, Limit: 5}, func(e *audit.Event) bool { return e.UserID == 2 }},
		{"outcome", audit.Query{Stream: audit.Stream{Account: 10}, Outcome: audit.Failure, Limit: 2}, func(e *audit.Event) bool {
			return e.AccountID == 10 && e.Outcome == audit.Failure
		}},
		{"types none match", audit.Query{Stream: audit.Stream{Account: 10}, Types: []audit.Type{audit.KeyCreated}, Limit: 10}, func(*audit.Event) bool { return false }},
		{"types", audit.Query{Stream: audit.Stream{User: 1}, Types: []audit.Type{audit.KeyCreated, audit.SignIn}, Limit: 10}, func(e *audit.Event) bool { return e.UserID == 1 }},
		{"since until", audit.Query{Stream: audit.Stream{Account: 10}, Since: base.Add(10 * time.Second), Until: base.Add(40 * time.Second), Limit: 3}, func(e *audit.Event) bool {
			return e.AccountID == 10 && !e.Time.Before(base.Add(10*time.Second)) && e.Time.Before(base.Add(40*time.Second))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, exp := list(tc.q), want(tc.keep)
			if !slices.Equal(got, exp) {
				t.Fatalf("got %v\nwant %v", got, exp)
			}
		})
	}
	t.Run("fields round trip", func(t *testing.T) {
		p, err := st.List(ctx, audit.Query{Stream: audit.Stream{User: 3}, Limit: 1})
		if err != nil || len(p.Events) != 1 {
			t.Fatalf("%v %v", p, err)
		}
		got := p.Events[0]
		exp := all[59]
		if got.ID == "" {
			t.Fatal("no id")
		}
		got.ID = ""
		if !got.Time.Equal(exp.Time) {
			t.Fatalf("time %v, want %v", got.Time, exp.Time)
		}
		got.Time = exp.Time
		if got != exp {
			t.Fatalf("got %+v\nwant %+v", got, exp)
		}
	})
	t.Run("bad cursor", func(t *testing.T) {
		for _, c := range []string{"x", "1-2-3", "-1", "99999999999999999999999"} {
			if _, err := st.List(ctx, audit.Query{Stream: audit.Stream{Account: 10}, After: c, Limit: 1}); !errors.Is(err, audit.ErrBadCursor) {
				t.Errorf("cursor %q: %v, want ErrBadCursor", c, err)
			}
		}
	})
}
