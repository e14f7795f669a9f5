package mail_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/mail"
	"github.com/authgraph/authgraph/internal/mail/mailtest"
	"github.com/authgraph/authgraph/internal/redistest"
)

// testQueue is what both queues offer.
type testQueue interface {
	mail.Queue
	mail.Source
	Pending(context.Context) (int64, error)
	DeadLetters(context.Context, int) ([]mail.DeadLetter, error)
}

// harness gives a test one queue of either kind; replica returns another handle on the same
// queue, as a second replica of the server would have (a new Redis client for RedisQueue).
type harness struct {
	clock   *clock.Fake
	queue   testQueue
	replica func() testQueue
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testRenderer(t testing.TB) *mail.Renderer {
	t.Helper()
	r, err := mail.NewRenderer("https://auth.example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// eachQueue runs f against a RedisQueue on a real redis-server and against a MemQueue.
func eachQueue(t *testing.T, p mail.Policy, f func(t *testing.T, h harness)) {
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		fc := clock.NewFake(epoch)
		newQ := func() testQueue {
			q, err := mail.NewRedisQueue(context.Background(), srv.NewClient(nil), testRenderer(t),
				mail.RedisOptions{Prefix: srv.Prefix, Policy: p, Clock: fc, Poll: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			return q
		}
		f(t, harness{clock: fc, queue: newQ(), replica: newQ})
	})
	t.Run("memory", func(t *testing.T) {
		fc := clock.NewFake(epoch)
		q := mail.NewMemQueue(testRenderer(t), mail.MemOptions{Policy: p, Clock: fc, Poll: 20 * time.Millisecond})
		f(t, harness{clock: fc, queue: q, replica: func() testQueue { return q }})
	})
}

// startWorker runs a worker until the test ends, or until the returned cancel is called.
func startWorker(t testing.TB, src mail.Source, s mail.Sender, senders int) (cancel func(), done <-chan struct{}) {
	t.Helper()
	return runWorker(t, &mail.Worker{Source: src, Sender: s, Senders: senders})
}

// startWorkerNamed runs a worker of one sender, whose consumer is name+"-0".
func startWorkerNamed(t testing.TB, src mail.Source, s mail.Sender, name string) (cancel func(), done <-chan struct{}) {
	t.Helper()
	return runWorker(t, &mail.Worker{Source: src, Sender: s, Senders: 1, Name: name})
}

func runWorker(t testing.TB, w *mail.Worker) (cancel func(), done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	w.Renderer, w.Log = testRenderer(t), zerolog.Nop()
	go func() {
		defer close(ch)
		_ = w.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-ch })
	return cancel, ch
}

// waitFor polls cond, calling tick between polls (to move the fake clock); after a minute it
// fails the test: a guard against a hang, not a measure of speed.
func waitFor(t testing.TB, what string, cond func() bool, tick func()) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		if tick != nil {
			tick()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pending(t testing.TB, q testQueue) int64 {
	t.Helper()
	n, err := q.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func msg(id string) mail.Message {
	return mail.Message{ID: id, To: "ada@example.com", Template: mail.KindResetPassword,
		Link: "/account/reset?token=" + id}
}

// ids returns how many times each Message-ID was received.
func ids(t *testing.T, srv *mailtest.Server) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range srv.Messages() {
		p, err := r.Parse()
		if err != nil {
			t.Fatal(err)
		}
		out[p.Header.Get("Message-Id")]++
	}
	return out
}

func TestQueueDeliversThroughSMTP(t *testing.T) {
	eachQueue(t, mail.Policy{}, func(t *testing.T, h harness) {
		srv := mailtest.Start(t, mailtest.Options{TLS: true, Username: "u", Password: "pw"})
		startWorker(t, h.queue, smtpSender(t, srv), 2)
		m := mail.Message{ID: "code:1", To: "bob@example.com", ToName: "Bob", Template: mail.KindSignInCode,
			Link: "/account/sign-in?code=654321", Data: map[string]string{"code": "654321"}}
		if err := h.queue.Enqueue(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		p, err := srv.Wait(1)[0].Parse()
		if err != nil {
			t.Fatal(err)
		}
		if p.Subject != "Your sign-in code: 654321" || p.Header.Get("To") != `"Bob" <bob@example.com>` {
			t.Errorf("subject %q, to %q", p.Subject, p.Header.Get("To"))
		}
		if want := "https://auth.example.com/account/sign-in?code=654321"; !strings.Contains(p.Text, want) {
			t.Errorf("text lacks %s: %q", want, p.Text)
		}
		waitFor(t, "the queue to empty", func() bool { return pending(t, h.queue) == 0 }, nil)
	})
}

func TestEnqueueRefusesBadMessagesAndAFullQueue(t *testing.T) {
	eachQueue(t, mail.Policy{MaxQueued: 2}, func(t *testing.T, h harness) {
		ctx := context.Background()
		bad := msg("x")
		bad.ToName = "Eve\r\nBcc: victim@example.com"
		if err := h.queue.Enqueue(ctx, bad); !errors.Is(err, mail.ErrHeaderInjection) {
			t.Errorf("header injection answers %v", err)
		}
		for i := range 2 {
			if err := h.queue.Enqueue(ctx, msg(fmt.Sprint("m", i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.queue.Enqueue(ctx, msg("m3")); !errors.Is(err, mail.ErrQueueFull) {
			t.Errorf("a third message answers %v, want ErrQueueFull", err)
		}
		if n := pending(t, h.queue); n != 2 {
			t.Errorf("pending %d, want 2", n)
		}
	})
}

// countingSender counts failed sends.
type countingSender struct {
	mail.Sender
	failures atomic.Int64
}

func (c *countingSender) Send(ctx context.Context, r mail.Rendered) error {
	err := c.Sender.Send(ctx, r)
	if err != nil {
		c.failures.Add(1)
	}
	return err
}

// The SMTP server dies a third of the way through a batch and comes back later: every mail
// is delivered, none lost, none dead. Duplicates are possible only for the mail whose DATA
// the server took just as it died, and they are counted.
func TestQueueSMTPOutageLosesNothing(t *testing.T) {
	const n = 30
	p := mail.Policy{MinBackoff: time.Second, MaxBackoff: 4 * time.Second, MaxAttempts: 1000}
	eachQueue(t, p, func(t *testing.T, h harness) {
		srv := mailtest.Start(t, mailtest.Options{})
		var got atomic.Int64
		srv.OnData(func(mailtest.Received) {
			if got.Add(1) == n/3 {
				go srv.Stop()
			}
		})
		cs := &countingSender{Sender: smtpSender(t, srv)}
		startWorker(t, h.queue, cs, 2)
		for i := range n {
			if err := h.queue.Enqueue(context.Background(), msg(fmt.Sprint("o", i))); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "sends to fail", func() bool { return cs.failures.Load() >= 3 }, nil)
		srv.Restart()
		waitFor(t, "every mail", func() bool { return len(ids(t, srv)) == n }, func() { h.clock.Advance(4 * time.Second) })
		waitFor(t, "the queue to empty", func() bool { return pending(t, h.queue) == 0 }, func() { h.clock.Advance(4 * time.Second) })
		lost, dup := 0, 0
		seen := ids(t, srv)
		for i := range n {
			c := seen[fmt.Sprintf("<o%d@authgraph>", i)]
			if c == 0 {
				lost++
			}
			dup += max(c-1, 0)
		}
		dead, err := h.queue.DeadLetters(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SMTP outage: %d mails, %d failed sends, %d lost, %d sent twice, %d dead", n, cs.failures.Load(), lost, dup, len(dead))
		if lost != 0 || len(dead) != 0 {
			t.Errorf("%d lost, %d dead", lost, len(dead))
		}
		if dup > 2 { // at most the mail(s) in DATA when the server died, one per sender
			t.Errorf("%d mails sent twice", dup)
		}
	})
}

// killingSender simulates a replica killed mid-send: it cancels its worker's context either
// before the SMTP exchange or after the server accepted DATA (before the acknowledgement).
type killingSender struct {
	mail.Sender
	kill      func()
	afterData bool
}

func (k *killingSender) Send(ctx context.Context, r mail.Rendered) error {
	if k.afterData {
		if err := k.Sender.Send(ctx, r); err != nil {
			return err
		}
	}
	k.kill()
	return context.Canceled
}

func TestQueueWorkerKilledMidSendIsRedelivered(t *testing.T) {
	p := mail.Policy{Visibility: 300 * time.Millisecond}
	for _, afterData := range []bool{false, true} {
		t.Run(fmt.Sprintf("afterData=%v", afterData), func(t *testing.T) {
			eachQueue(t, p, func(t *testing.T, h harness) {
				srv := mailtest.Start(t, mailtest.Options{})
				ks := &killingSender{Sender: smtpSender(t, srv), afterData: afterData}
				var done <-chan struct{}
				ks.kill, done = startWorker(t, h.queue, ks, 1)
				if err := h.queue.Enqueue(context.Background(), msg("k1")); err != nil {
					t.Fatal(err)
				}
				<-done // worker A is dead, its message unacknowledged
				if n := pending(t, h.queue); n != 1 {
					t.Fatalf("pending %d after the kill, want 1", n)
				}
				before := len(srv.Messages())
				startWorker(t, h.replica(), smtpSender(t, srv), 1) // worker B, another replica
				waitFor(t, "worker B to deliver", func() bool { return len(srv.Messages()) > before },
					func() { h.clock.Advance(100 * time.Millisecond) })
				waitFor(t, "the queue to empty", func() bool { return pending(t, h.queue) == 0 },
					func() { h.clock.Advance(100 * time.Millisecond) })
				got := ids(t, srv)
				// Killed after DATA: the one window of at-least-once, the mail is sent again,
				// with the same Message-ID. Killed before: sent exactly once.
				want := 1
				if afterData {
					want = 2
				}
				if got["<k1@authgraph>"] != want || len(got) != 1 {
					t.Errorf("received %v, want <k1@authgraph> %d times", got, want)
				}
			})
		})
	}
}

func TestQueueDeadLetterAfterMaxAttempts(t *testing.T) {
	p := mail.Policy{MaxAttempts: 3, MinBackoff: time.Second, MaxBackoff: 2 * time.Second}
	eachQueue(t, p, func(t *testing.T, h harness) {
		srv := mailtest.Start(t, mailtest.Options{})
		srv.Reject(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"})
		cs := &countingSender{Sender: smtpSender(t, srv)}
		startWorker(t, h.queue, cs, 1)
		if err := h.queue.Enqueue(context.Background(), msg("d1")); err != nil {
			t.Fatal(err)
		}
		var dead []mail.DeadLetter
		waitFor(t, "a dead letter", func() bool {
			var err error
			dead, err = h.queue.DeadLetters(context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			return len(dead) > 0
		}, func() { h.clock.Advance(2 * time.Second) })
		if len(dead) != 1 || dead[0].Message.ID != "d1" || dead[0].Failures != 3 || !strings.Contains(dead[0].Reason, "try later") {
			t.Errorf("dead letters %+v", dead)
		}
		if f := cs.failures.Load(); f != 3 {
			t.Errorf("%d attempts, want 3", f)
		}
		if n := pending(t, h.queue); n != 0 {
			t.Errorf("pending %d, want 0", n)
		}
		if len(srv.Messages()) != 0 {
			t.Error("a rejected mail was recorded")
		}
	})
}

// Three replicas of two senders race on forty messages under twenty idempotency keys,
// enqueued concurrently: each key is sent exactly once, and enqueued again after it was sent,
// it is not sent again.
func TestQueueSendsEachIDOnce(t *testing.T) {
	p := mail.Policy{Visibility: 2 * time.Second}
	eachQueue(t, p, func(t *testing.T, h harness) {
		srv := mailtest.Start(t, mailtest.Options{})
		for range 3 {
			startWorker(t, h.replica(), smtpSender(t, srv), 2)
		}
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := h.queue.Enqueue(context.Background(), msg(fmt.Sprint("i", i%20))); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		tick := func() { h.clock.Advance(100 * time.Millisecond) }
		waitFor(t, "the queue to empty", func() bool { return pending(t, h.queue) == 0 }, tick)
		if err := h.queue.Enqueue(context.Background(), msg("i0")); err != nil {
			t.Fatal(err)
		}
		if n := pending(t, h.queue); n != 0 { // known as sent: not even queued
			t.Errorf("a sent ID enqueued again: %d pending", n)
		}
		got := ids(t, srv)
		if len(got) != 20 {
			t.Errorf("%d distinct mails, want 20", len(got))
		}
		for id, c := range got {
			if c != 1 {
				t.Errorf("%s sent %d times", id, c)
			}
		}
	})
}

// A 5xx to DATA concerns the message itself: dead at once, no retry; a 4xx is retried (see
// TestQueueDeadLetterAfterMaxAttempts).
func TestQueuePermanentRefusalIsDeadAtOnce(t *testing.T) {
	eachQueue(t, mail.Policy{MaxAttempts: 5}, func(t *testing.T, h harness) {
		srv := mailtest.Start(t, mailtest.Options{})
		srv.Reject(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "refused as spam"})
		cs := &countingSender{Sender: smtpSender(t, srv)}
		startWorker(t, h.queue, cs, 1)
		if err := h.queue.Enqueue(context.Background(), msg("p1")); err != nil {
			t.Fatal(err)
		}
		var dead []mail.DeadLetter
		waitFor(t, "a dead letter", func() bool {
			dead, _ = h.queue.DeadLetters(context.Background(), 10)
			return len(dead) > 0
		}, func() { h.clock.Advance(time.Minute) })
		if dead[0].Failures != 1 || !strings.Contains(dead[0].Reason, "refused as spam") || cs.failures.Load() != 1 {
			t.Errorf("dead letter %+v after %d attempts", dead[0], cs.failures.Load())
		}
	})
}

// shutdownSender stops its worker (a graceful shutdown) while the mail is being sent, and
// the send completes.
type shutdownSender struct {
	mail.Sender
	stop func()
}

func (s *shutdownSender) Send(ctx context.Context, r mail.Rendered) error {
	s.stop()
	return s.Sender.Send(context.WithoutCancel(ctx), r)
}

// A worker stopped during a send that completes acknowledges it: it is not sent again.
func TestQueueShutdownAcknowledgesACompletedSend(t *testing.T) {
	eachQueue(t, mail.Policy{Visibility: 100 * time.Millisecond}, func(t *testing.T, h harness) {
		srv := mailtest.Start(t, mailtest.Options{})
		ss := &shutdownSender{Sender: smtpSender(t, srv)}
		var done <-chan struct{}
		ss.stop, done = startWorker(t, h.queue, ss, 1)
		if err := h.queue.Enqueue(context.Background(), msg("g1")); err != nil {
			t.Fatal(err)
		}
		<-done
		if n := pending(t, h.queue); n != 0 || len(srv.Messages()) != 1 {
			t.Fatalf("after the shutdown: %d pending, %d received; want 0 and 1", n, len(srv.Messages()))
		}
	})
}
