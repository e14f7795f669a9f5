package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
)

// receiver is a real HTTP endpoint that verifies every delivery's signature with the secret
// it is given, and answers what fail says.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret atomic.Value
	mu     sync.Mutex
	got    []delivered
	// answer decides the status of the n-th request (from 1); nil: 204.
	answer func(n int, r *http.Request) int
	n      atomic.Int64
}

type delivered struct {
	id, body string
	verified bool
	at       time.Time
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(rc.n.Add(1))
		body, _ := io.ReadAll(r.Body)
		secret, _ := rc.secret.Load().(string)
		ok := Verify(secret, r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body, time.Now())
		rc.mu.Lock()
		rc.got = append(rc.got, delivered{id: r.Header.Get("webhook-id"), body: string(body), verified: ok, at: time.Now()})
		rc.mu.Unlock()
		status := http.StatusNoContent
		if rc.answer != nil {
			status = rc.answer(n, r)
		}
		if status == 0 {
			return // the handler already answered (or the client went away)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "answer body of the receiver")
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) deliveries() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fastPolicy retries within milliseconds.
var fastPolicy = Policy{Backoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Visibility: 300 * time.Millisecond, Poll: 50 * time.Millisecond, Workers: 2}

func startWorker(t *testing.T, q *Queue, p Policy, c clock.Clock) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{Queue: q, Client: (&Guard{AllowPrivate: true, Timeout: 2 * time.Second}).Client(), Policy: p, Clock: c,
		OnError: func(err error) { t.Logf("worker: %v", err) }}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

func event(typ audit.Type, account int64) audit.Event {
	return audit.Event{Time: time.Now(), Type: typ, Outcome: audit.Success, ActorKind: audit.Anonymous, UserID: 7, AccountID: account, IP: "192.0.2.1"}
}

// A receiver that fails three times, then succeeds: four attempts with the same webhook-id,
// each signed, the log showing retry, retry, retry, delivered.
func TestDeliveryRetriesUntilTheReceiverSucceeds(t *testing.T) {
	srv := redistest.Start(t)
	q := NewQueue(srv.Client, srv.Prefix, nil, nil)
	rc := newReceiver(t)
	rc.answer = func(n int, _ *http.Request) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	ctx := context.Background()
	ep, err := q.CreateEndpoint(ctx, rc.srv.URL+"/hook", []audit.Type{audit.SignIn}, 0)
	if err != nil {
		t.Fatal(err)
	}
	rc.secret.Store(ep.Secret)
	f := &Fanout{Store: audit.NewRing(100, 0, nil), Queue: q}
	if err := f.Append(ctx, []audit.Event{event(audit.SignIn, 1), event(audit.KeyCreated, 1)}); err != nil {
		t.Fatal(err)
	}
	startWorker(t, q, fastPolicy, nil)
	waitUntil(t, "the fourth attempt", func() bool { return len(rc.deliveries()) >= 4 })
	time.Sleep(100 * time.Millisecond) // nothing more may come
	got := rc.deliveries()
	if len(got) != 4 {
		t.Fatalf("%d requests, want 4 (the key.created event is not for this endpoint)", len(got))
	}
	for _, d := range got {
		if !d.verified || d.id != got[0].id {
			t.Fatalf("delivery %+v: not verified, or another webhook-id than %s", d, got[0].id)
		}
	}
	var log []Attempt
	waitUntil(t, "the log", func() bool {
		log, _ = q.Deliveries(ctx, ep.ID, 10)
		return len(log) == 4
	})
	var outcomes []string
	for _, a := range log {
		outcomes = append(outcomes, a.Outcome)
	}
	if !slices.Equal(outcomes, []string{"delivered", "retry", "retry", "retry"}) || log[0].Attempt != 4 || log[0].Status != 200 ||
		log[1].Status != 500 || log[0].Body != "answer body of the receiver" || log[0].Latency <= 0 {
		t.Fatalf("log %+v", log)
	}
	// Redelivery sends the same event again, with the same id.
	if err := q.Redeliver(ctx, ep.ID, got[0].id); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the redelivery", func() bool { return len(rc.deliveries()) == 5 })
	if d := rc.deliveries()[4]; d.id != got[0].id || d.body != got[0].body || !d.verified {
		t.Fatalf("redelivered %+v", d)
	}
}

// Failing for MaxAge disables the endpoint with the reason; its deliveries stop.
func TestDeliveryDisablesAnEndpointAfterMaxAge(t *testing.T) {
	srv := redistest.Start(t)
	c := clock.NewFake(time.Now())
	q := NewQueue(srv.Client, srv.Prefix, c, nil)
	rc := newReceiver(t)
	rc.answer = func(int, *http.Request) int { return http.StatusBadGateway }
	ctx := context.Background()
	ep, _ := q.CreateEndpoint(ctx, rc.srv.URL, nil, 0)
	rc.secret.Store(ep.Secret)
	if err := q.Enqueue(ctx, []*Endpoint{ep}, []audit.Event{event(audit.SignIn, 1)}); err != nil {
		t.Fatal(err)
	}
	startWorker(t, q, fastPolicy, c)
	waitUntil(t, "the first attempt", func() bool { return len(rc.deliveries()) == 1 })
	c.Advance(25 * time.Hour) // the retry falls due, past the 24 h
	waitUntil(t, "the endpoint disabled", func() bool {
		e, _ := q.Endpoint(ctx, ep.ID)
		return e != nil && e.DisabledAt != nil
	})
	e, _ := q.Endpoint(ctx, ep.ID)
	if e.DisabledReason == "" || len(rc.deliveries()) != 2 {
		t.Fatalf("reason %q, %d requests", e.DisabledReason, len(rc.deliveries()))
	}
	if err := q.Enqueue(ctx, []*Endpoint{e}, []audit.Event{event(audit.SignIn, 1)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.deliveries()); n != 2 {
		t.Fatalf("a disabled endpoint got %d requests", n)
	}
}

// A replica killed mid-delivery: its delivery stays pending, and another replica delivers it
// once it has been idle for Visibility. Nothing is lost.
func TestDeliverySurvivesAReplicaKilledMidDelivery(t *testing.T) {
	srv := redistest.Start(t)
	q := NewQueue(srv.Client, srv.Prefix, nil, nil)
	rc := newReceiver(t)
	hold := make(chan struct{})
	rc.answer = func(n int, r *http.Request) int {
		if n == 1 {
			select { // the first replica's request hangs until that replica dies
			case <-r.Context().Done():
			case <-hold:
			}
			return 0
		}
		return http.StatusNoContent
	}
	defer close(hold)
	ctx := context.Background()
	ep, _ := q.CreateEndpoint(ctx, rc.srv.URL, nil, 0)
	rc.secret.Store(ep.Secret)
	if err := q.Enqueue(ctx, []*Endpoint{ep}, []audit.Event{event(audit.SignIn, 1)}); err != nil {
		t.Fatal(err)
	}
	p := fastPolicy
	p.Workers = 1
	killA := startWorker(t, q, p, nil)
	waitUntil(t, "replica A's request", func() bool { return len(rc.deliveries()) == 1 })
	killA()
	startWorker(t, q, p, nil) // replica B
	waitUntil(t, "replica B's delivery", func() bool { return len(rc.deliveries()) == 2 })
	got := rc.deliveries()
	if got[0].id != got[1].id || !got[1].verified {
		t.Fatalf("%+v", got)
	}
	waitUntil(t, "the log", func() bool {
		log, _ := q.Deliveries(ctx, ep.ID, 10)
		return len(log) == 1 && log[0].Outcome == "delivered"
	})
}

// Delivery latency (event appended → received) under 1,000 events/s for 3 s, on loopback.
func TestDeliveryLatencyUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("3 s of load")
	}
	srv := redistest.Start(t)
	q := NewQueue(srv.Client, srv.Prefix, nil, nil)
	rc := newReceiver(t)
	ctx := context.Background()
	ep, _ := q.CreateEndpoint(ctx, rc.srv.URL, nil, 0)
	rc.secret.Store(ep.Secret)
	w := audit.NewWriter(&Fanout{Store: audit.NewRing(10, 0, nil), Queue: q}, audit.WriterOptions{})
	defer w.Close(ctx)
	p := fastPolicy
	p.Workers = 16
	startWorker(t, q, p, nil)
	const rate, secs = 1000, 3
	tick := time.NewTicker(time.Millisecond)
	for range rate * secs {
		<-tick.C
		w.Record(ctx, event(audit.SignIn, 1))
	}
	tick.Stop()
	waitUntil(t, "every delivery", func() bool { return len(rc.deliveries()) >= rate*secs })
	var lat []time.Duration
	for _, d := range rc.deliveries() {
		var ev struct {
			Timestamp time.Time `json:"timestamp"`
		}
		if err := jsonUnmarshal(d.body, &ev); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, d.at.Sub(ev.Timestamp))
		if !d.verified {
			t.Fatal("a delivery does not verify")
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("webhook delivery latency at %d events/s: p50 %v, p99 %v, max %v (%d deliveries)",
		rate, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], len(lat))
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// On a Cluster every key of the queue is in the {wh} slot, so the MULTIs of an attempt run.
func TestDeliveryOnCluster(t *testing.T) {
	srv := redistest.StartCluster(t)
	q := NewQueue(srv.Client, srv.Prefix, nil, nil)
	rc := newReceiver(t)
	ctx := context.Background()
	ep, err := q.CreateEndpoint(ctx, rc.srv.URL, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	rc.secret.Store(ep.Secret)
	if err := q.Enqueue(ctx, []*Endpoint{ep}, []audit.Event{event(audit.SignIn, 1)}); err != nil {
		t.Fatal(err)
	}
	startWorker(t, q, fastPolicy, nil)
	waitUntil(t, "the delivery", func() bool {
		log, _ := q.Deliveries(ctx, ep.ID, 10)
		return len(log) == 1 && log[0].Outcome == "delivered"
	})
}
