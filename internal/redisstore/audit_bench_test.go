package redisstore

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
)

// Password sign-ins, in parallel, with the trail off and on: the trail's cost on the
// request is a channel send; its writes go out in the writer's pipelines. "cheap" hashes
// with 64 KiB so that the rest of the sign-in dominates (the worst case for the ratio);
// "owasp" with the server's default (19 MiB, 2 passes).
func BenchmarkAuditPasswordSignIn(b *testing.B) {
	srv := redistest.Start(b)
	for _, p := range []struct {
		name   string
		params argon2id.Params
	}{
		{"cheap", argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"owasp", argon2id.DefaultParams},
	} {
		for _, on := range []bool{false, true} {
			name := p.name + "/trail=" + strconv.FormatBool(on)
			run := 0
			b.Run(name, func(b *testing.B) {
				run++ // the benchmark is run again with a larger b.N: a fresh world each time
				w := newAuditWorld(b, srv, srv.Prefix+strings.ReplaceAll(name, "/", ":")+":"+strconv.Itoa(run)+":", on, p.params)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := w.svc.LoginPassword(w.alice, "alice", w.alicePassword, ""); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				w.flush(b)
				if w.trail != nil {
					if s := w.trail.Stats(); s.Dropped+s.Failed > 0 {
						b.Fatalf("events lost: %+v", s)
					}
				}
			})
		}
	}
}

// The trail's write throughput: events recorded as fast as possible, then flushed; each
// event is two XADDs (account and user stream), pipelined by batch.
func BenchmarkAuditWrite(b *testing.B) {
	srv := redistest.Start(b)
	w := audit.NewWriter(NewAuditLog(srv.Client, srv.Prefix, 0, clock.Real{}), audit.WriterOptions{BufferSize: 1 << 20})
	defer w.Close(context.Background())
	e := sampleEvent()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		e.UserID = int64(1 + i%1000)
		w.Record(context.Background(), e)
	}
	if err := w.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	s := w.Stats()
	if s.Dropped+s.Failed > 0 {
		b.Fatalf("events lost: %+v", s)
	}
	b.ReportMetric(float64(s.Written)/time.Since(start).Seconds(), "events/s")
}

func sampleEvent() audit.Event {
	return audit.Event{Time: time.Now(), Type: audit.SignIn, Outcome: audit.Success, ActorKind: audit.Anonymous,
		UserID: 42, AccountID: 1, IP: "203.0.113.54", UserAgent: benchUserAgent, ClientName: "web", SessionID: 123456, Detail: "PASSWORD"}
}

// Redis memory per event: 100,000 sign-in events (a browser's user agent) over 1,000 users
// of one account, each in the account's stream and its user's.
func TestAuditMemoryPerEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 events")
	}
	srv := redistest.Start(t)
	ctx := context.Background()
	l := NewAuditLog(srv.Client, srv.Prefix+"mem:", 0, clock.Real{})
	used := func() int64 {
		info := srv.Client.Info(ctx, "memory").Val()
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				return n
			}
		}
		t.Fatal("no used_memory in INFO")
		return 0
	}
	before := used()
	const n = 100_000
	batch := make([]audit.Event, 0, 500)
	e := sampleEvent()
	for i := range n {
		e.UserID, e.SessionID = int64(1+i%1000), int64(i)
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			if err := l.Append(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	after := used()
	t.Logf("Redis memory per event: %.0f bytes (both streams; %d events, %.1f MB)", float64(after-before)/n, n, float64(after-before)/1e6)
}

// Key sign-ins, in parallel, with the trail off and on (64 KiB hashing: the worst case for
// the ratio).
func BenchmarkAuditKeySignIn(b *testing.B) {
	srv := redistest.Start(b)
	cheap := argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	for _, on := range []bool{false, true} {
		run := 0
		b.Run("trail="+strconv.FormatBool(on), func(b *testing.B) {
			run++
			w := newAuditWorld(b, srv, srv.Prefix+"key:"+strconv.FormatBool(on)+":"+strconv.Itoa(run)+":", on, cheap)
			k, err := w.svc.CreateUserKey(w.alice, "bench", nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := w.svc.LoginUserKey(w.alice, k.Key.ID, k.Secret, ""); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			w.flush(b)
		})
	}
}
