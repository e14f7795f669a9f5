package audit

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Ring is a Store in memory for the embedded store: the newest Size events, also bounded by
// Retention. Each event is kept once; a stream is a filter over the ring. Its ids are a
// sequence number in decimal, the same whichever stream reads the event.
type Ring struct {
	mu        sync.Mutex
	buf       []Event
	next      uint64 // sequence number of the next event
	size      int
	retention time.Duration
	now       func() time.Time
}

// NewRing returns a ring of size events that forgets those older than retention (0: only
// size bounds it) by now's reading.
func NewRing(size int, retention time.Duration, now func() time.Time) *Ring {
	if size <= 0 {
		size = 10_000
	}
	return &Ring{buf: make([]Event, 0, min(size, 1024)), size: size, retention: retention, now: now}
}

// Append implements Store.
func (r *Ring) Append(_ context.Context, events []Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range events {
		e.ID = strconv.FormatUint(r.next, 10)
		r.next++
		if len(r.buf) < r.size {
			r.buf = append(r.buf, e)
		} else {
			r.buf[int((r.next-1)%uint64(r.size))] = e
		}
	}
	return nil
}

// at answers the event with sequence number n, if the ring still holds it.
func (r *Ring) at(n uint64) (*Event, bool) {
	held := uint64(len(r.buf))
	if n >= r.next || n+held < r.next {
		return nil, false
	}
	if len(r.buf) < r.size {
		return &r.buf[n], true
	}
	return &r.buf[n%uint64(r.size)], true
}

// List implements Store.
func (r *Ring) List(_ context.Context, q Query) (*Page, error) {
	start := uint64(0)
	r.mu.Lock()
	defer r.mu.Unlock()
	if q.After != "" {
		n, err := strconv.ParseUint(q.After, 10, 64)
		if err != nil {
			return nil, ErrBadCursor
		}
		start = n
	} else {
		start = r.next
	}
	var cutoff time.Time
	if r.retention > 0 && r.now != nil {
		cutoff = r.now().Add(-r.retention)
	}
	p := &Page{}
	scanned := 0
	for n := start; n > 0; n-- {
		e, ok := r.at(n - 1)
		if !ok || (!cutoff.IsZero() && e.Time.Before(cutoff)) {
			break
		}
		if scanned == MaxScan || len(p.Events) == q.Limit {
			p.More, p.Next = true, strconv.FormatUint(n, 10)
			break
		}
		scanned++
		if !inStream(e, q.Stream) || !q.Matches(e) {
			continue
		}
		p.Events = append(p.Events, *e)
	}
	return p, nil
}

// inStream reports whether e is in stream st, as Append would have written it in streams.
func inStream(e *Event, st Stream) bool {
	if st.User != 0 {
		return e.UserID == st.User
	}
	return e.AccountID == st.Account
}
