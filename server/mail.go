package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/mail"
	"github.com/authgraph/authgraph/internal/seal"
)

// mailer is the mail component as the service sees it (auth.Mailer), and the worker that
// sends what it queues, in this replica.
type mailer struct {
	queue  mail.Queue
	worker *mail.Worker
	stop   context.CancelFunc
	done   sync.WaitGroup
}

// newMailer builds the renderer (AUTHGRAPH_PUBLIC_URL, AUTHGRAPH_MAIL_TEMPLATES), the sender
// (AUTHGRAPH_SMTP_URL, or the log) and the queue: in Redis when the store is Redis (shared
// by every replica, sealed with AUTHGRAPH_SECRET_KEY), else in process.
// rdb is the background work's Redis client (see run), nil for the embedded store.
func newMailer(ctx context.Context, cfg Config, logger zerolog.Logger, rdb redis.UniversalClient) (*mailer, error) {
	log := logger.With().Str("component", "mail").Logger()
	renderer, err := mail.NewRenderer(cfg.PublicURL, cfg.MailTemplates)
	if err != nil {
		return nil, err
	}
	sender, err := mail.NewSender(cfg.SMTPURL, log)
	if err != nil {
		return nil, fmt.Errorf("AUTHGRAPH_SMTP_URL: %w", err)
	}
	var queue interface {
		mail.Queue
		mail.Source
	}
	if rdb != nil {
		box, err := seal.New(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("mail queue: %w", err)
		}
		rq, err := mail.NewRedisQueue(ctx, rdb, renderer, mail.RedisOptions{Prefix: cfg.RedisPrefix, Box: box})
		if err != nil {
			// Redis may be down at start; the server starts anyway, as with the store, and
			// the worker makes the group once Redis answers.
			log.Warn().Err(err).Msg("mail queue: not ready yet")
		}
		queue = rq
	} else {
		queue = mail.NewMemQueue(renderer, mail.MemOptions{})
	}
	return &mailer{queue: queue, worker: &mail.Worker{Source: queue, Renderer: renderer, Sender: sender, Log: log}}, nil
}

// Enqueue implements auth.Mailer. A full queue or one that cannot be reached is an outage
// (SERVICE_UNAVAILABLE: retry); a message the mail component refuses is a bug.
func (m *mailer) Enqueue(ctx context.Context, am auth.Mail) error {
	err := m.queue.Enqueue(ctx, toMessage(am))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mail.ErrInvalidMessage):
		return err
	}
	return fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
}

// start runs the worker until stopAndWait, completing deferred mails with expand.
func (m *mailer) start(expand func(context.Context, auth.Mail) (auth.Mail, bool, error)) {
	m.worker.Expand = func(ctx context.Context, msg mail.Message) (mail.Message, bool, error) {
		out, ok, err := expand(ctx, fromMessage(msg))
		return toMessage(out), ok, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		_ = m.worker.Run(ctx)
	}()
}

// stopAndWait stops the worker; a send under way finishes (or is left for another worker).
func (m *mailer) stopAndWait() {
	if m.stop != nil {
		m.stop()
	}
	m.done.Wait()
}

func toMessage(m auth.Mail) mail.Message {
	return mail.Message{ID: m.ID, To: m.To, ToName: m.ToName, Template: mail.Kind(m.Kind),
		Link: m.Link, Data: m.Data, Deferred: m.Deferred}
}

func fromMessage(m mail.Message) auth.Mail {
	return auth.Mail{ID: m.ID, To: m.To, ToName: m.ToName, Kind: auth.MailKind(m.Template),
		Link: m.Link, Data: m.Data, Deferred: m.Deferred}
}
