package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authgraph/authgraph/internal/clock"
)

// Policy tunes deliveries; zero values mean the defaults.
type Policy struct {
	// MaxAge is how long a delivery is retried after its first attempt; then the endpoint is
	// disabled with the reason (default 24 h).
	MaxAge time.Duration
	// Backoff is the wait after the first failure, doubled after each (default 5 s), capped
	// at MaxBackoff (default 1 h); each wait is drawn in [half, whole] (jitter), so that
	// endpoints back up after an outage are not hit by every replica at once.
	Backoff, MaxBackoff time.Duration
	// Visibility is how long a delivery may stay unacknowledged before another replica
	// takes it over (default 30 s; above the client's timeout).
	Visibility time.Duration
	// Poll is how long a worker blocks waiting for deliveries (default 1 s).
	Poll time.Duration
	// Workers is how many deliveries a replica makes at once (default 4).
	Workers int
}

func (p Policy) withDefaults() Policy {
	if p.MaxAge <= 0 {
		p.MaxAge = 24 * time.Hour
	}
	if p.Backoff <= 0 {
		p.Backoff = 5 * time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = time.Hour
	}
	if p.Visibility <= 0 {
		p.Visibility = 30 * time.Second
	}
	if p.Poll <= 0 {
		p.Poll = time.Second
	}
	if p.Workers <= 0 {
		p.Workers = 4
	}
	return p
}

// backoff is the wait before attempt n+1 after n failures.
func (p Policy) backoff(n int) time.Duration {
	d := p.Backoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// Worker delivers the queue's deliveries. Each replica runs one; they share the work
// through the consumer group.
type Worker struct {
	Queue  *Queue
	Client *http.Client // Guard.Client()
	Policy Policy
	Clock  clock.Clock
	// Name tells this replica's consumers apart (default: random).
	Name string
	// OnError, if set, is told of queue errors (Redis down), e.g. to log them.
	OnError func(error)
}

// Run delivers until ctx ends, then waits for the deliveries under way.
func (w *Worker) Run(ctx context.Context) {
	p := w.Policy.withDefaults()
	if w.Clock == nil {
		w.Clock = clock.Real{}
	}
	name := w.Name
	if name == "" {
		name = newMsgID()[4:12]
	}
	var wg sync.WaitGroup
	for i := range p.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumer := name + "-" + strconv.Itoa(i)
			for ctx.Err() == nil {
				jobs, err := w.Queue.receive(ctx, consumer, 8, p.Visibility, p.Poll)
				if err != nil {
					if ctx.Err() == nil && w.OnError != nil {
						w.OnError(err)
					}
					sleep(ctx, time.Second)
					continue
				}
				for _, j := range jobs {
					w.deliver(ctx, p, j)
				}
			}
		}()
	}
	wg.Wait()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// deliver makes one attempt and records it. A delivery whose endpoint is gone or disabled
// is dropped.
func (w *Worker) deliver(ctx context.Context, p Policy, j job) {
	ep, err := w.Queue.Endpoint(ctx, j.Endpoint)
	if errors.Is(err, ErrNotFound) || (err == nil && ep.DisabledAt != nil) {
		w.Queue.drop(ctx, j.ref)
		return
	}
	if err != nil {
		if w.OnError != nil {
			w.OnError(err)
		}
		return // left pending: claimed again after Visibility
	}
	now := w.Clock.Now()
	a := Attempt{MsgID: j.MsgID, Type: j.Type, Attempt: j.Attempt, At: now.UTC()}
	status, body, latency, err := w.post(ctx, ep, j, now)
	if ctx.Err() != nil {
		return // stopping: the delivery stays pending for another replica
	}
	a.Status, a.Body, a.Latency = status, body, latency
	switch {
	case err != nil:
		a.Error = clip(err.Error(), 300)
	case status < 200 || status > 299:
		a.Error = "status " + strconv.Itoa(status)
	}
	if a.Error == "" {
		a.Outcome = "delivered"
		w.record(ctx, j, a, nil, time.Time{})
		return
	}
	if now.Sub(time.UnixMilli(j.FirstAt)) >= p.MaxAge {
		a.Outcome = "disabled"
		w.record(ctx, j, a, nil, time.Time{})
		reason := fmt.Sprintf("deliveries failed for %s; the last: %s", p.MaxAge, a.Error)
		if err := w.Queue.disable(ctx, j.Endpoint, reason); err != nil && !errors.Is(err, ErrNotFound) && w.OnError != nil {
			w.OnError(err)
		}
		return
	}
	a.Outcome = "retry"
	next := j
	next.Attempt++
	w.record(ctx, j, a, &next, now.Add(p.backoff(j.Attempt)))
}

func (w *Worker) record(ctx context.Context, j job, a Attempt, next *job, due time.Time) {
	if err := w.Queue.finish(ctx, j, a, next, due); err != nil && w.OnError != nil {
		w.OnError(err)
	}
}

// post sends one attempt: the Standard Webhooks headers, the payload, and reads a prefix of
// the answer.
func (w *Worker) post(ctx context.Context, ep *Endpoint, j job, now time.Time) (int, string, time.Duration, error) {
	sig, err := Sign(ep.Secret, j.MsgID, now, []byte(j.Payload))
	if err != nil {
		return 0, "", 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader([]byte(j.Payload)))
	if err != nil {
		return 0, "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authgraph-webhooks")
	req.Header.Set("webhook-id", j.MsgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	resp, err := w.Client.Do(req)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, bodyPrefix))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	return resp.StatusCode, strings.ToValidUTF8(string(b), "?"), time.Since(start), nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
