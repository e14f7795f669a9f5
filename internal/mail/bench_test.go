package mail_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/mail"
	"github.com/authgraph/authgraph/internal/mail/mailtest"
	"github.com/authgraph/authgraph/internal/redistest"
)

// BenchmarkQueueThroughput measures messages per second into the queue (Enqueue, one at a
// time, as requests do) and out of it to a real SMTP server on loopback (a worker with four
// senders, one SMTP connection per mail).
func BenchmarkQueueThroughput(b *testing.B) {
	p := mail.Policy{MaxQueued: 1 << 30}
	queues := map[string]func(b *testing.B) testQueue{
		"redis": func(b *testing.B) testQueue {
			srv := redistest.Start(b)
			q, err := mail.NewRedisQueue(context.Background(), srv.Client, testRenderer(b),
				mail.RedisOptions{Prefix: srv.Prefix, Policy: p, Poll: 50 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			return q
		},
		"memory": func(b *testing.B) testQueue {
			return mail.NewMemQueue(testRenderer(b), mail.MemOptions{Policy: p, Poll: 50 * time.Millisecond})
		},
	}
	for _, name := range []string{"redis", "memory"} {
		b.Run("enqueue/"+name, func(b *testing.B) {
			q := queues[name](b)
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if err := q.Enqueue(ctx, msg(fmt.Sprint("e", i))); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
		b.Run("to-smtp/"+name, func(b *testing.B) {
			q := queues[name](b)
			srv := mailtest.Start(b, mailtest.Options{})
			ctx := context.Background()
			for i := range b.N {
				if err := q.Enqueue(ctx, msg(fmt.Sprint("s", i))); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			start := time.Now()
			startWorker(b, q, smtpSender(b, srv), 4)
			srv.Wait(b.N)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			b.StopTimer()
		})
	}
}
