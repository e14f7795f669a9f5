package main

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/httpapi"
	"github.com/authgraph/authgraph/internal/keymeter"
)

// meterKeys bounds the service keys the embedded store's meter keeps (least recently used
// forgotten first).
const meterKeys = 100_000

// newKeyMeter is the service keys' meter: in Redis next to the store (so every replica
// counts against one limit), served from leases so that most requests of a busy key need no
// round trip (keymeter.Leased); or in process with the embedded store. The function it
// answers writes what the meter holds in process, at shutdown.
func newKeyMeter(rdb redis.UniversalClient, prefix string) (keymeter.Meter, func()) {
	if rdb == nil {
		return keymeter.NewMemory(clock.Real{}, meterKeys), func() {}
	}
	m := keymeter.NewLeased(keymeter.NewRedis(rdb, prefix, clock.Real{}), keymeter.LeaseOptions{})
	return m, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Close(ctx) // counts it cannot write are lost: usage a little low, never a quota exceeded
	}
}

// keyUsage adapts a keymeter.Meter to what the domain reads of it (auth.ServiceKeyMeter).
type keyUsage struct{ m keymeter.Meter }

func (u keyUsage) Usage(ctx context.Context, k *auth.ServiceKey, since time.Time) (*auth.ServiceKeyUsage, error) {
	l := httpapi.ServiceKeyLimits(k)
	got, err := u.m.Usage(ctx, k.ID, l, since)
	if err != nil {
		return nil, err
	}
	out := &auth.ServiceKeyUsage{Hours: make([]auth.ServiceKeyHour, len(got.Hours))}
	for i, h := range got.Hours {
		out.Hours[i] = auth.ServiceKeyHour{Start: h.Start, Allowed: h.Allowed, Refused: h.Refused}
	}
	if !got.LastUsed.IsZero() {
		t := got.LastUsed
		out.LastUsedAt = &t
	}
	if l.Quota > 0 {
		n := got.QuotaRemaining
		out.QuotaRemaining = &n
	}
	return out, nil
}

func (u keyUsage) Forget(ctx context.Context, id int64) error { return u.m.Forget(ctx, id) }
