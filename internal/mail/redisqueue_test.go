package mail_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/mail"
	"github.com/authgraph/authgraph/internal/mail/mailtest"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/seal"
)

// Redis restarted empty (the test server runs without persistence): the workers recreate
// the consumer group and carry on with the messages enqueued after it came back.
func TestRedisQueueRecoversFromARedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	if srv.External || srv.Cluster {
		t.Skip("needs a private redis-server to restart")
	}
	rdb := srv.NewClient(func(o *redis.Options) { o.MaxRetries = -1; o.DialTimeout = 200 * time.Millisecond })
	q, err := mail.NewRedisQueue(context.Background(), rdb, testRenderer(t),
		mail.RedisOptions{Prefix: srv.Prefix, Clock: clock.NewFake(epoch), Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	smtpSrv := mailtest.Start(t, mailtest.Options{})
	startWorker(t, q, smtpSender(t, smtpSrv), 1)
	srv.Stop()
	if err := q.Enqueue(context.Background(), msg("r1")); err == nil {
		t.Fatal("Enqueue succeeded with Redis down")
	}
	srv.Restart()
	waitFor(t, "Enqueue to work again", func() bool { return q.Enqueue(context.Background(), msg("r2")) == nil }, nil)
	smtpSrv.Wait(1)
	if got := ids(t, smtpSrv); got["<r2@authgraph>"] != 1 {
		t.Errorf("received %v", got)
	}
}

// Every key the queue writes carries the {mail} hash tag, so that its scripts stay in one
// Cluster slot.
func TestRedisQueueKeysShareOneHashTag(t *testing.T) {
	srv := redistest.Start(t)
	fc := clock.NewFake(epoch)
	q, err := mail.NewRedisQueue(context.Background(), srv.Client, testRenderer(t),
		mail.RedisOptions{Prefix: srv.Prefix, Clock: fc, Poll: 50 * time.Millisecond,
			Policy: mail.Policy{MaxAttempts: 2, MinBackoff: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	smtpSrv := mailtest.Start(t, mailtest.Options{})
	startWorker(t, q, smtpSender(t, smtpSrv), 1)
	ctx := context.Background()
	if err := q.Enqueue(ctx, msg("h1")); err != nil {
		t.Fatal(err)
	}
	smtpSrv.Wait(1)
	waitFor(t, "the first to be acknowledged", func() bool { return pending(t, q) == 0 }, nil)
	smtpSrv.Stop() // the next one fails into the retry set, then the dead letters
	if err := q.Enqueue(ctx, msg("h2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a dead letter", func() bool {
		d, err := q.DeadLetters(ctx, 1)
		return err == nil && len(d) == 1
	}, func() { fc.Advance(time.Second) })
	if d, _ := q.DeadLetters(ctx, 1); d[0].Message.ID != "h2" {
		t.Errorf("dead letter %+v, want h2", d[0])
	}
	keys, err := redistest.Keys(ctx, srv.Client, srv.Prefix+"*")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 3 {
		t.Errorf("keys %q: expected the stream, the dead letters and sent-markers", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, srv.Prefix+"{mail}:") {
			t.Errorf("key %q lacks the {mail} hash tag", k)
		}
	}
}

// Consumers of stopped workers are deleted once idle past PruneIdle, unless they still hold
// a message: that one stays, so that its message is not orphaned.
func TestRedisQueuePrunesIdleConsumers(t *testing.T) {
	srv := redistest.Start(t)
	fc := clock.NewFake(epoch)
	q, err := mail.NewRedisQueue(context.Background(), srv.Client, testRenderer(t),
		mail.RedisOptions{Prefix: srv.Prefix, Clock: fc, Poll: 20 * time.Millisecond, PruneIdle: 50 * time.Millisecond,
			Policy: mail.Policy{Visibility: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	smtpSrv := mailtest.Start(t, mailtest.Options{})
	ctx := context.Background()
	stream := srv.Prefix + "{mail}:q"
	names := func() map[string]int64 {
		cs, err := srv.Client.XInfoConsumers(ctx, stream, "senders").Result()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, c := range cs {
			out[c.Name] = c.Pending
		}
		return out
	}
	// Worker "holder" is killed holding a message (visibility 1 h: nobody reclaims it).
	ks := &killingSender{Sender: smtpSender(t, smtpSrv)}
	var done <-chan struct{}
	ks.kill, done = startWorkerNamed(t, q, ks, "holder")
	if err := q.Enqueue(ctx, msg("p1")); err != nil {
		t.Fatal(err)
	}
	<-done
	// Worker "idle" sends one (Redis creates a consumer at its first delivery) and stops
	// with nothing pending.
	stop, done2 := startWorkerNamed(t, q, smtpSender(t, smtpSrv), "idle")
	if err := q.Enqueue(ctx, msg("p2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle worker to send", func() bool { return ids(t, smtpSrv)["<p2@authgraph>"] == 1 }, nil)
	waitFor(t, "the queue to hold only the held message", func() bool { return pending(t, q) == 1 }, nil)
	if _, ok := names()["idle-0"]; !ok {
		t.Fatalf("consumers %v: no idle-0", names())
	}
	stop()
	<-done2
	time.Sleep(100 * time.Millisecond) // let both pass PruneIdle in Redis' own clock
	startWorkerNamed(t, q, smtpSender(t, smtpSrv), "live")
	waitFor(t, "the idle consumer to go", func() bool { _, ok := names()["idle-0"]; return !ok },
		func() { fc.Advance(time.Second) })
	if got := names(); got["holder-0"] != 1 {
		t.Errorf("consumers %v: the one holding a message must stay", got)
	}
}

// With a key, what Redis holds is sealed: a dump shows no link, token or address. An entry
// that does not open (another key) cannot be sent and becomes a dead letter, with the reason.
func TestRedisQueueSealsMessagesAtRest(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	open := func(key byte) *mail.RedisQueue {
		box, err := seal.New(bytes.Repeat([]byte{key}, seal.KeyLen))
		if err != nil {
			t.Fatal(err)
		}
		q, err := mail.NewRedisQueue(ctx, srv.NewClient(nil), testRenderer(t), mail.RedisOptions{Prefix: srv.Prefix,
			Box: box, Clock: clock.NewFake(epoch), Poll: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	right, wrong := open(1), open(2)
	if err := right.Enqueue(ctx, msg("SECRET-TOKEN-1")); err != nil {
		t.Fatal(err)
	}
	xs, err := srv.Client.XRange(ctx, srv.Prefix+"{mail}:q", "-", "+").Result()
	if err != nil || len(xs) != 1 {
		t.Fatalf("stream %v (%v)", xs, err)
	}
	for k, v := range xs[0].Values {
		if s := fmt.Sprint(k, v); strings.Contains(s, "SECRET-TOKEN") || strings.Contains(s, "ada@example.com") {
			t.Errorf("the stream holds the message in clear: %q", s)
		}
	}
	smtpSrv := mailtest.Start(t, mailtest.Options{})
	stop, done := startWorker(t, wrong, smtpSender(t, smtpSrv), 1)
	waitFor(t, "a dead letter", func() bool {
		d, err := right.DeadLetters(ctx, 10)
		return err == nil && len(d) == 1
	}, nil)
	stop()
	<-done
	d, _ := right.DeadLetters(ctx, 10)
	if !strings.Contains(d[0].Reason, "cannot open") || len(smtpSrv.Messages()) != 0 {
		t.Errorf("dead letter %+v, %d sent", d[0], len(smtpSrv.Messages()))
	}
	startWorker(t, right, smtpSender(t, smtpSrv), 1)
	if err := right.Enqueue(ctx, msg("SECRET-TOKEN-2")); err != nil {
		t.Fatal(err)
	}
	p, err := smtpSrv.Wait(1)[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Text, "token=SECRET-TOKEN-2") {
		t.Errorf("text %q", p.Text)
	}
}
