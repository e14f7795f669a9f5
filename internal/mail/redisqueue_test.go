package mail_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/mail"
	"github.com/authgraph/authgraph/internal/mail/mailtest"
	"github.com/authgraph/authgraph/internal/redistest"
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
	smtpSrv.Stop() // the next one fails into the retry set, then the dead letters
	if err := q.Enqueue(ctx, msg("h2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a dead letter", func() bool {
		d, err := q.DeadLetters(ctx, 1)
		return err == nil && len(d) == 1
	}, func() { fc.Advance(time.Second) })
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
