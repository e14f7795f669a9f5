package sessioncache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redisstore"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/storetest"
	"github.com/authgraph/authgraph/internal/token"
)

func TestConformanceRedis(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T, c clock.Clock) auth.Store {
		prefix := fmt.Sprintf("%s%d:", srv.Prefix, n.Add(1))
		s := New(redisstore.New(srv.Client, redisstore.Options{Prefix: prefix, Clock: c}),
			NewRedisBus(srv.Client, prefix+"inval", 0), Options{Clock: c, TTL: time.Hour})
		t.Cleanup(func() { _ = s.Close() })
		if err := s.WaitLive(t.Context()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// redisReplica is one server's cached store on srv, listening on its own client (rdb, or
// srv's when nil).
func redisReplica(t *testing.T, srv *redistest.Server, rdb redis.UniversalClient, health time.Duration, onEvent func(Event, error)) *Store {
	t.Helper()
	if rdb == nil {
		rdb = srv.Client
	}
	s := New(redisstore.New(srv.Client, redisstore.Options{Prefix: srv.Prefix}),
		NewRedisBus(rdb, srv.Prefix+"inval", health), Options{OnEvent: onEvent})
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.WaitLive(ctx); err != nil {
		t.Fatalf("the cache did not come up: %v", err)
	}
	return s
}

func newSession(t *testing.T, s auth.Store) (*auth.User, *auth.Session) {
	t.Helper()
	ctx := t.Context()
	u := &auth.User{Username: "u" + fmt.Sprint(time.Now().UnixNano()), PasswordHash: "h", Role: auth.RoleMember, CreatedAt: time.Now()}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	tok, _ := token.New(token.Session)
	sess := &auth.Session{UserID: u.ID, TokenDigest: token.Sum(tok), Method: auth.MethodPassword, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	return u, sess
}

// waitGone polls s until the session is refused, and answers how long that took.
func waitGone(t *testing.T, s *Store, d token.Digest, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		_, err := s.SessionByDigest(t.Context(), d)
		if errors.Is(err, auth.ErrNotFound) {
			return time.Since(start)
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > within {
			t.Fatalf("the ended session is still accepted after %v", within)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// Two replicas on one Redis: a session ended through one is refused by the other, in much
// less than the 100 ms the design asks (pub/sub on loopback: well under a millisecond).
func TestRevocationCrossesReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a := redisReplica(t, srv, nil, 0, nil)
	b := redisReplica(t, srv, nil, 0, nil)
	var worst time.Duration
	for range 20 {
		u, sess := newSession(t, a)
		wantFound(t, a, sess.TokenDigest)
		wantFound(t, b, sess.TokenDigest)
		n := b.Stats().Hits
		wantFound(t, b, sess.TokenDigest)
		if b.Stats().Hits != n+1 {
			t.Fatal("replica b did not answer from its cache")
		}
		if _, err := a.DeleteSession(t.Context(), u.ID, sess.ID); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, waitGone(t, b, sess.TokenDigest, 100*time.Millisecond))
	}
	t.Logf("slowest of 20 revocations seen by the other replica: %v", worst)
}

// A subscriber whose connection is killed goes down at once (cache flushed and bypassed),
// and comes back up by itself.
func TestKilledSubscriptionRecovers(t *testing.T) {
	srv := redistest.Start(t)
	if srv.External {
		t.Skip("killing connections needs a private redis-server")
	}
	events := make(chan Event, 16)
	b := redisReplica(t, srv, nil, 0, func(e Event, _ error) { events <- e })
	<-events // up
	_, sess := newSession(t, b)
	wantFound(t, b, sess.TokenDigest)
	if err := srv.Client.Do(t.Context(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []Event{EventDown, EventUp} {
		select {
		case e := <-events:
			if e != want {
				t.Fatalf("event %v, want %v", e, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %v event", want)
		}
	}
	if st := b.Stats(); st.Sessions != 0 {
		t.Errorf("%d sessions still cached after the channel went down", st.Sessions)
	}
}

// A subscription cut without the connection failing (a network that drops packets) is
// found out by the PING health check within twice its interval.
func TestSilentChannelGoesDown(t *testing.T) {
	srv := redistest.Start(t)
	if srv.External {
		t.Skip("the proxy needs a private redis-server")
	}
	p := newProxy(t, srv.Addr)
	rdb := redis.NewClient(&redis.Options{Addr: p.addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	events := make(chan Event, 16)
	const health = 200 * time.Millisecond
	b := redisReplica(t, srv, rdb, health, func(e Event, _ error) { events <- e })
	<-events // up
	_, sess := newSession(t, b)
	wantFound(t, b, sess.TokenDigest)

	p.blackhole(true)
	start := time.Now()
	select {
	case e := <-events:
		if e != EventDown {
			t.Fatalf("event %v, want down", e)
		}
	case <-time.After(10 * health):
		t.Fatal("a silent channel was not noticed")
	}
	if d := time.Since(start); d > 3*health {
		t.Errorf("a silent channel went unnoticed for %v, want at most about %v", d, 2*health)
	}
	if b.Live() || b.Stats().Sessions != 0 {
		t.Error("the cache is still in use")
	}
	p.blackhole(false)
	select {
	case e := <-events:
		if e != EventUp {
			t.Fatalf("event %v, want up", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the channel did not come back")
	}
}

// proxy forwards TCP connections to a Redis, and can drop everything silently.
type proxy struct {
	ln     net.Listener
	target string
	hole   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			_ = c.Close()
		}
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// blackhole starts (or stops) dropping every byte, in both directions, of the connections
// open now; connections made later work, as a new route would.
func (p *proxy) blackhole(on bool) {
	p.hole.Store(on)
	if !on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.(interface{ holed() }).holed()
	}
}

type holedConn struct {
	net.Conn
	hole atomic.Bool
}

func (c *holedConn) holed() { c.hole.Store(true) }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		hc := &holedConn{Conn: c}
		p.mu.Lock()
		p.conns = append(p.conns, hc, &holedConn{Conn: up})
		pair := p.conns[len(p.conns)-2:]
		p.mu.Unlock()
		go pipe(pair[1].(*holedConn), pair[0].(*holedConn))
		go pipe(pair[0].(*holedConn), pair[1].(*holedConn))
	}
}

// pipe copies src to dst until either fails, dropping what src sends once src is holed.
func pipe(dst, src *holedConn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !src.hole.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

// DeleteKey ends the key's sessions inside the store, where this decorator cannot see their
// digests: it publishes the end of all the user's sessions, so a replica that cached a
// session of the key refuses it long before the cache's TTL (10 s) would.
func TestDeleteKeyCrossesReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a := redisReplica(t, srv, nil, 0, nil)
	b := redisReplica(t, srv, nil, 0, nil)
	u, _ := newSession(t, a)
	k := &auth.UserKey{UserID: u.ID, Name: "ci", SecretHash: "h", CreatedAt: time.Now()}
	if err := a.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	tok, _ := token.New(token.Session)
	sess := &auth.Session{
		UserID: u.ID, TokenDigest: token.Sum(tok), Method: auth.MethodUserKey, UserKeyID: k.ID,
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
	}
	if err := a.CreateSession(t.Context(), sess); err != nil {
		t.Fatal(err)
	}
	wantFound(t, b, sess.TokenDigest)
	n := b.Stats().Hits
	wantFound(t, b, sess.TokenDigest)
	if b.Stats().Hits != n+1 {
		t.Fatal("replica b did not answer from its cache")
	}
	if _, err := a.DeleteKey(t.Context(), u.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	waitGone(t, b, sess.TokenDigest, 2*time.Second)
}
