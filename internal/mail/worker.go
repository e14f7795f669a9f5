package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Queue is what a request needs: put a message on the queue and return. Enqueue validates
// and renders the message once, so that a message that can never be sent is refused to the
// caller (ErrInvalidMessage) instead of ending in the dead letters.
type Queue interface {
	Enqueue(ctx context.Context, m Message) error
}

// ErrQueueFull: the queue holds its configured maximum of waiting messages. Refusing is
// better than dropping: the caller learns that the mail was not queued.
var ErrQueueFull = errors.New("mail: the queue is full")

// Policy is the retry policy shared by both queues.
type Policy struct {
	// MaxAttempts is the number of failed sends after which a message goes to the dead
	// letters (default 8).
	MaxAttempts int
	// MinBackoff is the wait after the first failure (default 10 s); each further failure
	// doubles it, up to MaxBackoff (default 30 min). The wait is then jittered down by up to
	// half, so that mails failed together do not retry together.
	MinBackoff, MaxBackoff time.Duration
	// Visibility is how long a message taken by a worker stays invisible to the others: a
	// worker that dies mid-send loses it to another after this long (default 2 min). It must
	// exceed the longest send (the SMTP timeout).
	Visibility time.Duration
	// SentTTL is how long the sent-marker of a message is kept, i.e. how long a second
	// Enqueue of the same ID is recognised as a duplicate (default 7 days).
	SentTTL time.Duration
	// MaxQueued bounds the waiting messages (default 100 000); Enqueue answers ErrQueueFull
	// beyond it.
	MaxQueued int
	// MaxDead bounds the dead letters kept (default 10 000, the oldest dropped first).
	MaxDead int
}

func (p Policy) withDefaults() Policy {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 8
	}
	def(&p.MinBackoff, 10*time.Second)
	def(&p.MaxBackoff, 30*time.Minute)
	def(&p.Visibility, 2*time.Minute)
	def(&p.SentTTL, 7*24*time.Hour)
	if p.MaxQueued <= 0 {
		p.MaxQueued = 100_000
	}
	if p.MaxDead <= 0 {
		p.MaxDead = 10_000
	}
	return p
}

// backoff is the wait before attempt failures+1, for a message that has failed `failures`
// times: MinBackoff·2^(failures-1), capped, minus up to half of it at random.
func (p Policy) backoff(failures int) time.Duration {
	d := p.MinBackoff
	for i := 1; i < failures && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	return d - time.Duration(mrand.Int64N(int64(d/2)+1))
}

// Delivery is a message taken from a queue by a worker.
type Delivery struct {
	Message Message
	// Failures counts the earlier failed sends of this message.
	Failures int
	ref      string // the queue's handle (the stream entry id, or the in-process entry id)
}

// DeadLetter is a message that failed Policy.MaxAttempts times.
type DeadLetter struct {
	Message  Message
	Failures int
	Reason   string // the last error
	At       time.Time
}

// decision is what begin says about a delivery.
type decision int

const (
	decideSend  decision = iota // the idempotency key is claimed: send it
	decideSkip                  // already sent: it was acknowledged without sending
	decideLater                 // being sent by another worker: leave it for now
)

// Source is the consuming side of a queue, used by Worker. RedisQueue and MemQueue implement it.
type Source interface {
	// receive waits up to about the poll interval for messages that are due (new, due for a
	// retry, or abandoned by a dead worker) and gives at most max of them to consumer.
	receive(ctx context.Context, consumer string, max int) ([]Delivery, error)
	begin(ctx context.Context, d Delivery) (decision, error)
	done(ctx context.Context, d Delivery) error
	// fail records a failed send: a retry after the policy's backoff, or a dead letter once
	// the attempts are used up (or at once when permanent). It reports whether it was dead.
	fail(ctx context.Context, d Delivery, cause error, permanent bool) (bool, error)
}

// Worker takes messages from a queue, renders and sends them, with Senders goroutines.
type Worker struct {
	Source   Source
	Renderer *Renderer
	Sender   Sender
	// Senders is the number of concurrent sends (default 2).
	Senders int
	// Name prefixes the consumer names; empty means host name, process id and a random
	// suffix, unique across replicas (a consumer name shared by two replicas would let one
	// acknowledge the other's messages).
	Name string
	Log  zerolog.Logger
	// Expand completes a deferred message (Message.Deferred) once this worker has claimed
	// it: it answers the message to send, under the same ID, or false to send nothing. An
	// error is retried as a failed send is.
	Expand func(ctx context.Context, m Message) (Message, bool, error)
}

// Run sends until ctx ends. A send that completes is acknowledged even if ctx ended
// meanwhile; one that ctx cut short is left unacknowledged and goes to another worker (or
// this one's next run) after the visibility timeout.
func (w *Worker) Run(ctx context.Context) error {
	if w.Source == nil || w.Renderer == nil || w.Sender == nil {
		return errors.New("mail: a Worker needs a Source, a Renderer and a Sender")
	}
	n := w.Senders
	if n <= 0 {
		n = 2
	}
	name := w.Name
	if name == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		name = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx, fmt.Sprintf("%s-%d", name, i))
		}()
	}
	wg.Wait()
	return nil
}

func (w *Worker) loop(ctx context.Context, consumer string) {
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		ds, err := w.Source.receive(ctx, consumer, 1)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.Log.Warn().Err(err).Msg("mail queue: cannot receive; retrying")
			sleep(ctx, pause)
			pause = min(2*pause, 5*time.Second)
			continue
		}
		pause = 100 * time.Millisecond
		for _, d := range ds {
			w.handle(ctx, d)
		}
	}
}

// handle sends one delivery. Errors of the queue itself are logged and the message left as
// it is: unacknowledged, it comes back after the visibility timeout.
func (w *Worker) handle(ctx context.Context, d Delivery) {
	log := w.Log.With().Str("mail_id", d.Message.ID).Str("template", string(d.Message.Template)).Logger()
	var r Rendered
	var err error
	if !d.Message.Deferred {
		if r, err = w.render(ctx, d, log, d.Message); err != nil {
			return
		}
	}
	dec, err := w.Source.begin(ctx, d)
	if err != nil {
		log.Warn().Err(err).Msg("mail queue: cannot claim a message")
		return
	}
	if dec != decideSend {
		return
	}
	if d.Message.Deferred {
		// Expanded only once claimed, so that two workers never both issue its token.
		m, send, err := w.expand(ctx, d.Message)
		switch {
		case err != nil:
			w.failed(ctx, d, log, err)
			return
		case !send:
			w.ack(ctx, d, log)
			return
		}
		if r, err = w.render(ctx, d, log, m); err != nil {
			return
		}
	}
	err = w.Sender.Send(ctx, r)
	if err == nil {
		w.ack(ctx, d, log)
		return
	}
	if ctx.Err() != nil {
		// The send was cut short by the shutdown: the message stays pending and its claim
		// expires, so another worker (or this one's next run) sends it.
		return
	}
	w.failed(ctx, d, log, err)
}

// render renders m, and on failure moves d to the dead letters: Enqueue checked it once, so
// this is a template override changed since, or an expansion gone wrong, and retrying
// cannot help.
func (w *Worker) render(ctx context.Context, d Delivery, log zerolog.Logger, m Message) (Rendered, error) {
	r, err := w.Renderer.Render(m)
	if err != nil {
		if _, err := w.Source.fail(ctx, d, err, true); err != nil {
			log.Warn().Err(err).Msg("mail queue: cannot record a failure")
		}
		log.Error().Err(err).Msg("mail cannot be rendered; moved to the dead letters")
	}
	return r, err
}

// expand completes a deferred message; without an Expand it can never be sent.
func (w *Worker) expand(ctx context.Context, m Message) (Message, bool, error) {
	if w.Expand == nil {
		return Message{}, false, fmt.Errorf("%w: a deferred message and no Expand", ErrPermanent)
	}
	out, send, err := w.Expand(ctx, m)
	out.ID, out.Deferred = m.ID, false
	return out, send, err
}

// ack acknowledges d, even when ctx ended meanwhile (a graceful shutdown): leaving a sent
// mail unacknowledged would have it sent again.
func (w *Worker) ack(ctx context.Context, d Delivery, log zerolog.Logger) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.Source.done(actx, d); err != nil {
		log.Warn().Err(err).Msg("mail sent but not acknowledged: it may be sent again")
	}
}

// failed records a failed attempt: a retry after the backoff, or a dead letter.
func (w *Worker) failed(ctx context.Context, d Delivery, log zerolog.Logger, err error) {
	dead, ferr := w.Source.fail(ctx, d, err, errors.Is(err, ErrPermanent))
	if ferr != nil {
		log.Warn().Err(ferr).Msg("mail queue: cannot record a failure")
	}
	ev := log.Warn()
	if dead {
		ev = log.Error()
	}
	ev.Err(err).Int("failures", d.Failures+1).Bool("dead", dead).Msg("mail not sent")
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
