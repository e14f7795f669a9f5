package main

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/seal"
	"github.com/authgraph/authgraph/internal/webhook"
)

// webhooks is auth.WebhookStore over internal/webhook's Redis queue, and the fan-out that
// queues the trail's events for the endpoints.
type webhooks struct {
	q            *webhook.Queue
	fanout       *webhook.Fanout
	allowPrivate bool
}

// newWebhooks wraps the trail's store so that its batches are also queued for delivery,
// and answers the service's WebhookStore and the delivery worker. Webhooks need Redis: with
// the embedded store (rdb nil) or the trail off, it answers nils.
func newWebhooks(cfg Config, rdb redis.UniversalClient, st audit.Store, logger zerolog.Logger) (*webhooks, audit.Store, *webhook.Worker) {
	if rdb == nil || st == nil {
		return nil, st, nil
	}
	box, _ := seal.New(cfg.SecretKey) // validated with the configuration
	q := webhook.NewQueue(rdb, cfg.RedisPrefix, clock.Real{}, box)
	sampled := logger.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Minute})
	onErr := func(err error) { sampled.Error().Err(err).Msg("webhooks") }
	f := &webhook.Fanout{Store: st, Queue: q, OnError: onErr}
	w := &webhook.Worker{Queue: q, Client: (&webhook.Guard{AllowPrivate: cfg.WebhookAllowPrivate}).Client(), OnError: onErr}
	return &webhooks{q: q, fanout: f, allowPrivate: cfg.WebhookAllowPrivate}, f, w
}

func (h *webhooks) CreateWebhook(ctx context.Context, url string, types []audit.Type, account int64) (*auth.Webhook, error) {
	u, err := webhook.CheckURL(url)
	if err != nil {
		return nil, auth.Errorf(auth.CodeInvalidInput, "%s", err.Error())
	}
	// A literal address is checked now, to refuse early; a name is checked at each dial.
	if a, err := netip.ParseAddr(u.Hostname()); err == nil && !h.allowPrivate && !webhook.Public(a) {
		return nil, auth.Errorf(auth.CodeInvalidInput, "the webhook's address is not public")
	}
	ep, err := h.q.CreateEndpoint(ctx, url, types, account)
	if err != nil {
		return nil, err
	}
	h.fanout.Forget()
	w := toWebhook(ep)
	w.Secret = ep.Secret
	return w, nil
}

func (h *webhooks) Webhooks(ctx context.Context) ([]*auth.Webhook, error) {
	eps, err := h.q.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*auth.Webhook, len(eps))
	for i, ep := range eps {
		out[i] = toWebhook(ep)
	}
	return out, nil
}

func (h *webhooks) DeleteWebhook(ctx context.Context, id int64) error {
	err := h.q.DeleteEndpoint(ctx, id)
	h.fanout.Forget()
	return notFound(err)
}

func (h *webhooks) RedeliverWebhookEvent(ctx context.Context, id int64, eventID string) error {
	return notFound(h.q.Redeliver(ctx, id, eventID))
}

func (h *webhooks) WebhookDeliveries(ctx context.Context, id int64, n int) ([]*auth.WebhookDelivery, error) {
	log, err := h.q.Deliveries(ctx, id, n)
	if err != nil {
		return nil, err
	}
	out := make([]*auth.WebhookDelivery, len(log))
	for i, a := range log {
		out[i] = &auth.WebhookDelivery{ID: a.ID, EventID: a.MsgID, Type: a.Type, Attempt: a.Attempt, At: a.At,
			Status: a.Status, Latency: a.Latency, Error: a.Error, Body: a.Body, Outcome: a.Outcome}
	}
	return out, nil
}

func notFound(err error) error {
	if errors.Is(err, webhook.ErrNotFound) {
		return auth.ErrNotFound
	}
	return err
}

func toWebhook(ep *webhook.Endpoint) *auth.Webhook {
	return &auth.Webhook{ID: ep.ID, URL: ep.URL, Types: ep.Types, AccountID: ep.Account, CreatedAt: ep.CreatedAt,
		DisabledAt: ep.DisabledAt, DisabledReason: ep.DisabledReason}
}
