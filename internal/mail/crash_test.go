package mail_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/mail"
	"github.com/authgraph/authgraph/internal/mail/mailtest"
	"github.com/authgraph/authgraph/internal/redistest"
)

const crashPolicyVisibility = 500 * time.Millisecond

// TestCrashedReplicaLosesNoMail runs a worker in a child process (a replica), SIGKILLs it in
// the middle of a batch, while the SMTP server is taking one of its mails, and lets a worker
// of this process (another replica) finish: every mail arrives. The mail(s) in flight when the
// replica died may arrive twice; they are counted.
func TestCrashedReplicaLosesNoMail(t *testing.T) {
	const n, killAt = 50, 20
	srv := redistest.Start(t)
	if srv.Cluster {
		t.Skip("the child process connects with a plain redis:// URL")
	}
	smtpSrv := mailtest.Start(t, mailtest.Options{})
	ctx := context.Background()
	q, err := mail.NewRedisQueue(ctx, srv.Client, testRenderer(t), mail.RedisOptions{Prefix: srv.Prefix,
		Poll: 50 * time.Millisecond, Policy: mail.Policy{Visibility: crashPolicyVisibility}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := q.Enqueue(ctx, msg(fmt.Sprint("c", i))); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperWorker$")
	cmd.Env = append(os.Environ(), "MAIL_CRASH_HELPER=1", "MAIL_CRASH_REDIS="+srv.URL,
		"MAIL_CRASH_PREFIX="+srv.Prefix, "MAIL_CRASH_SMTP="+smtpSrv.URL())
	var got atomic.Int64
	var proc atomic.Pointer[os.Process] // set after Start; the hook runs on the server's goroutines
	killed := make(chan struct{})
	smtpSrv.OnData(func(mailtest.Received) {
		if got.Add(1) == killAt {
			_ = proc.Load().Kill() // before the server answers this DATA
			close(killed)
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proc.Store(cmd.Process)
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	<-killed
	_ = cmd.Wait()
	startWorker(t, q, smtpSender(t, smtpSrv), 2) // the surviving replica
	waitFor(t, "every mail", func() bool { return len(ids(t, smtpSrv)) == n }, nil)
	waitFor(t, "the queue to empty", func() bool { return pending(t, q) == 0 }, nil)
	seen := ids(t, smtpSrv)
	lost, dup := 0, 0
	for i := range n {
		c := seen[fmt.Sprintf("<c%d@authgraph>", i)]
		if c == 0 {
			lost++
		}
		dup += max(c-1, 0)
	}
	t.Logf("crash test: %d mails, a replica SIGKILLed at mail %d: %d lost, %d sent twice", n, killAt, lost, dup)
	if lost != 0 {
		t.Errorf("%d mails lost", lost)
	}
	if dup > 2 { // at most one per sender of the dead replica
		t.Errorf("%d mails sent twice", dup)
	}
}

// TestCrashHelperWorker is the child replica of TestCrashedReplicaLosesNoMail; it does
// nothing in a normal run.
func TestCrashHelperWorker(t *testing.T) {
	if os.Getenv("MAIL_CRASH_HELPER") != "1" {
		t.Skip("runs only as the child of TestCrashedReplicaLosesNoMail")
	}
	opt, err := redis.ParseURL(os.Getenv("MAIL_CRASH_REDIS"))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	q, err := mail.NewRedisQueue(context.Background(), rdb, testRenderer(t), mail.RedisOptions{
		Prefix: os.Getenv("MAIL_CRASH_PREFIX"), Poll: 50 * time.Millisecond,
		Policy: mail.Policy{Visibility: crashPolicyVisibility}})
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSender(os.Getenv("MAIL_CRASH_SMTP"), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	w := &mail.Worker{Source: q, Renderer: testRenderer(t), Sender: sender, Senders: 2, Log: zerolog.Nop()}
	_ = w.Run(context.Background()) // until killed
}
