package redisstore

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/clock"
)

// AuditLog is an audit.Store on Redis Streams: one stream per account,
// p{a<id>}:audit, and one per user, p{u<id>}:audit (the user's hash tag, so a user's trail
// sits in the slot of the rest of their records). An event is appended to its account's
// stream and, if it has a subject, to its user's: two XADDs, in one pipeline per batch and
// never in a MULTI, since on a Cluster the two streams are usually in different slots
// (go-redis splits the pipeline by node).
//
// Each XADD trims the stream by age with MINID ~ (now − retention): approximate trimming
// removes whole listpack nodes only, so it costs nearly nothing and keeps a little more than
// the retention. A stream no longer written keeps its entries until its next write; a user
// or account deleted keeps its stream until then too (the trail outlives them on purpose).
//
// The unattributed stream (account 0: sign-ins that named no known user, refused attempts)
// is the one an anonymous client can write to at will, so it is capped by length instead
// (MAXLEN ~ UnattributedMax): a flood of bad sign-ins can neither fill Redis nor push out
// the trails of accounts and users. The other streams grow only through a known user's
// credentials or an admin's actions, which the rate limits bound.
//
// Entries have the same fields in the same order, so that Redis stores the field names once
// per listpack node and each entry holds only its values.
type AuditLog struct {
	rdb       redis.UniversalClient
	name      names
	retention time.Duration
	clock     clock.Clock
}

// NewAuditLog returns the trail on rdb under prefix (as Options.Prefix; default "ag:"),
// keeping retention (default 90 days) by clock's reading.
func NewAuditLog(rdb redis.UniversalClient, prefix string, retention time.Duration, c clock.Clock) *AuditLog {
	if prefix == "" {
		prefix = "ag:"
	}
	if retention <= 0 {
		retention = 90 * 24 * time.Hour
	}
	if c == nil {
		c = clock.Real{}
	}
	return &AuditLog{rdb: rdb, name: names{prefix}, retention: retention, clock: c}
}

func (n names) auditOfAccount(id int64) string { return n.prefix + "{a" + itoa(id) + "}:audit" }
func (n names) auditOfUser(id int64) string    { return n.prefix + "{u" + itoa(id) + "}:audit" }

// StreamKey is the key of a stream of the trail, for tools and tests.
func (l *AuditLog) StreamKey(st audit.Stream) string {
	if st.User != 0 {
		return l.name.auditOfUser(st.User)
	}
	return l.name.auditOfAccount(st.Account)
}

// Append implements audit.Store: one pipeline for the batch.
func (l *AuditLog) Append(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	minID := strconv.FormatInt(l.clock.Now().Add(-l.retention).UnixMilli(), 10)
	p := l.rdb.Pipeline()
	for i := range events {
		values := encodeEvent(&events[i])
		acct := &redis.XAddArgs{Stream: l.name.auditOfAccount(events[i].AccountID), MinID: minID, Approx: true, Values: values}
		if events[i].AccountID == 0 {
			acct.MinID, acct.MaxLen = "", UnattributedMax
		}
		p.XAdd(ctx, acct)
		if events[i].UserID != 0 {
			p.XAdd(ctx, &redis.XAddArgs{Stream: l.name.auditOfUser(events[i].UserID), MinID: minID, Approx: true, Values: values})
		}
	}
	if _, err := p.Exec(ctx); err != nil {
		return fail("append audit events", err)
	}
	return nil
}

// UnattributedMax is about the most entries the unattributed stream keeps (some 20 MB).
const UnattributedMax = 100_000

// sinceSlack: entries are in the order of their XADD, events carry the time they were
// recorded; the writers of several replicas may append a little out of that order, so a scan
// for Since goes on this much past the first older event.
const sinceSlack = time.Minute

var streamID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// List implements audit.Store: XREVRANGE from the cursor, in chunks, until the page is full,
// MaxScan entries were read, or the entries are older than Since.
func (l *AuditLog) List(ctx context.Context, q audit.Query) (*audit.Page, error) {
	end := "+"
	if q.After != "" {
		if !streamID.MatchString(q.After) {
			return nil, audit.ErrBadCursor
		}
		end = "(" + q.After
	}
	limit := min(max(q.Limit, 1), audit.MaxLimit)
	key := l.StreamKey(q.Stream)
	page := &audit.Page{}
	scanned := 0
	for scanned < audit.MaxScan {
		chunk := int64(min(max(limit-len(page.Events), 16)*2, audit.MaxScan-scanned))
		msgs, err := l.rdb.XRevRangeN(ctx, key, end, "-", chunk).Result()
		if err != nil {
			return nil, fail("list audit events", err)
		}
		for _, m := range msgs {
			e, err := decodeEvent(m)
			if err != nil {
				return nil, err
			}
			if !q.Since.IsZero() && e.Time.Before(q.Since.Add(-sinceSlack)) {
				return page, nil // newest first: the rest is older still
			}
			scanned++
			if q.Matches(&e) {
				page.Events = append(page.Events, e)
			}
			end = "(" + m.ID
			if len(page.Events) == limit || scanned == audit.MaxScan {
				page.More, page.Next = true, m.ID
				return page, nil
			}
		}
		if int64(len(msgs)) < chunk {
			return page, nil
		}
	}
	return page, nil
}

// The fields of an entry, in their fixed order.
var auditFields = [...]string{"t", "ty", "o", "r", "ak", "ai", "k", "u", "a", "ip", "ua", "cn", "s", "d"}

func encodeEvent(e *audit.Event) []any {
	v := [...]string{
		strconv.FormatInt(e.Time.UnixMilli(), 10), string(e.Type), string(e.Outcome), e.Reason,
		string(e.ActorKind), itoa(e.ActorID), itoa(e.ActorKey), itoa(e.UserID), itoa(e.AccountID),
		e.IP, e.UserAgent, e.ClientName, itoa(e.SessionID), e.Detail,
	}
	out := make([]any, 0, 2*len(v))
	for i, f := range auditFields {
		out = append(out, f, v[i])
	}
	return out
}

func decodeEvent(m redis.XMessage) (audit.Event, error) {
	str := func(f string) string { s, _ := m.Values[f].(string); return s }
	num := func(f string) int64 { n, _ := strconv.ParseInt(str(f), 10, 64); return n }
	if _, ok := m.Values["ty"]; !ok {
		return audit.Event{}, fmt.Errorf("audit entry %s: %w", m.ID, errCorrupt)
	}
	return audit.Event{
		ID: m.ID, Time: time.UnixMilli(num("t")).UTC(), Type: audit.Type(str("ty")), Outcome: audit.Outcome(str("o")),
		Reason: str("r"), ActorKind: audit.ActorKind(str("ak")), ActorID: num("ai"), ActorKey: num("k"),
		UserID: num("u"), AccountID: num("a"), IP: str("ip"), UserAgent: str("ua"), ClientName: str("cn"),
		SessionID: num("s"), Detail: str("d"),
	}, nil
}
