package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
)

// Webhooks: admins register HTTP endpoints that receive the audit trail's events, signed
// (internal/webhook delivers them). An ADMIN registers endpoints for any account or for all;
// an ACCOUNT_ADMIN for their own account only, and sees and manages only those: any other
// endpoint is NOT_FOUND to them. The signing secret is shown once, in the creation's answer.

// Webhook is a registered endpoint.
type Webhook struct {
	ID        int64
	URL       string
	Types     []audit.Type // empty: every type
	AccountID int64        // 0: every account (ADMINs only)
	CreatedAt time.Time
	// DisabledAt and DisabledReason are set once deliveries failed for a day.
	DisabledAt     *time.Time
	DisabledReason string
	// Secret is set only in CreateWebhook's answer.
	Secret string
}

// WebhookDelivery is one attempt of an endpoint's delivery log.
type WebhookDelivery struct {
	ID      string // the log entry
	EventID string // the webhook-id header: the same for every attempt of one event
	Type    audit.Type
	Attempt int
	At      time.Time
	Status  int // 0: no answer
	Latency time.Duration
	Error   string
	Body    string // a prefix of the answer
	Outcome string // delivered, retry, disabled
}

// WebhookStore keeps the endpoints and their deliveries (Config.Webhooks; nil: webhooks are
// off, as with the embedded store). Create refuses a URL that is malformed or names an
// address deliveries may not reach with an *Error (BAD_USER_INPUT); the others answer
// ErrNotFound for an unknown id.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, url string, types []audit.Type, account int64) (*Webhook, error)
	Webhooks(ctx context.Context) ([]*Webhook, error)
	DeleteWebhook(ctx context.Context, id int64) error
	RedeliverWebhookEvent(ctx context.Context, id int64, eventID string) error
	WebhookDeliveries(ctx context.Context, id int64, n int) ([]*WebhookDelivery, error)
}

// MsgWebhooksOff answers the webhook mutations of a deployment without them.
const MsgWebhooksOff = "Webhooks need the Redis store (AUTHGRAPH_REDIS_URL)."

const maxWebhookTypes = 64

// CreateWebhook registers an endpoint; the answer holds its signing secret, shown only once.
// account 0: an ADMIN's endpoint gets every account's events; an ACCOUNT_ADMIN's is for
// their own account.
func (s *Service) CreateWebhook(ctx context.Context, url string, types []audit.Type, account int64) (ret *Webhook, rerr error) {
	defer func() { s.noteAccount(ctx, audit.WebhookCreated, account, rerr, webhookDetail(ret)) }()
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if p.User.Role != RoleAdmin {
		if account != 0 && account != p.User.AccountID {
			return nil, Errorf(CodeNotFound, "account not found")
		}
		account = p.User.AccountID
	}
	if len(types) > maxWebhookTypes {
		return nil, Errorf(CodeInvalidInput, "at most %d types", maxWebhookTypes)
	}
	for _, t := range types {
		if len(t) == 0 || len(t) > 64 {
			return nil, Errorf(CodeInvalidInput, "an event type is 1 to 64 characters")
		}
	}
	if account != 0 {
		if _, err := s.accounts.Account(ctx, account); errors.Is(err, ErrNotFound) {
			return nil, Errorf(CodeNotFound, "account not found")
		} else if err != nil {
			return nil, fmt.Errorf("find account: %w", err)
		}
	}
	if s.cfg.Webhooks == nil {
		return nil, Errorf(CodeInvalidInput, MsgWebhooksOff)
	}
	w, err := s.cfg.Webhooks.CreateWebhook(ctx, url, slices.Clone(types), account)
	if err != nil {
		return nil, webhookErr("create webhook", err)
	}
	return w, nil
}

// Webhooks lists the endpoints the caller manages, oldest first.
func (s *Service) Webhooks(ctx context.Context) ([]*Webhook, error) {
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if s.cfg.Webhooks == nil {
		return nil, nil
	}
	all, err := s.cfg.Webhooks.Webhooks(ctx)
	if err != nil {
		return nil, webhookErr("list webhooks", err)
	}
	mine := all[:0]
	for _, w := range all {
		if mayManageWebhook(p, w) {
			mine = append(mine, w)
		}
	}
	return mine, nil
}

func mayManageWebhook(p *Principal, w *Webhook) bool {
	return p.User.Role == RoleAdmin || (w.AccountID != 0 && w.AccountID == p.User.AccountID)
}

// managedWebhook answers the endpoint p manages with that id; NOT_FOUND otherwise.
func (s *Service) managedWebhook(ctx context.Context, id int64) (*Webhook, error) {
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if s.cfg.Webhooks != nil {
		all, err := s.cfg.Webhooks.Webhooks(ctx)
		if err != nil {
			return nil, webhookErr("find webhook", err)
		}
		for _, w := range all {
			if w.ID == id && mayManageWebhook(p, w) {
				return w, nil
			}
		}
	}
	return nil, Errorf(CodeNotFound, "webhook not found")
}

// DeleteWebhook deletes an endpoint and its delivery log; deliveries still queued are
// dropped.
func (s *Service) DeleteWebhook(ctx context.Context, id int64) (rerr error) {
	var w *Webhook
	defer func() { s.noteAccount(ctx, audit.WebhookDeleted, webhookAccount(w), rerr, webhookDetail(w)) }()
	w, err := s.managedWebhook(ctx, id)
	if err != nil {
		return err
	}
	return webhookErr("delete webhook", s.cfg.Webhooks.DeleteWebhook(ctx, id))
}

// RedeliverWebhookEvent queues again the event of an endpoint's delivery log with that
// webhook-id (eventID), with the same id.
func (s *Service) RedeliverWebhookEvent(ctx context.Context, id int64, eventID string) error {
	if _, err := s.managedWebhook(ctx, id); err != nil {
		return err
	}
	if len(eventID) > 64 {
		return Errorf(CodeNotFound, "event not found")
	}
	return webhookErr("redeliver", s.cfg.Webhooks.RedeliverWebhookEvent(ctx, id, eventID))
}

// WebhookDeliveries answers an endpoint's latest n attempts, newest first.
func (s *Service) WebhookDeliveries(ctx context.Context, id int64, n int) ([]*WebhookDelivery, error) {
	if _, err := s.managedWebhook(ctx, id); err != nil {
		return nil, err
	}
	if n < 1 || n > 1000 {
		return nil, Errorf(CodeInvalidInput, "first must be from 1 to 1000")
	}
	d, err := s.cfg.Webhooks.WebhookDeliveries(ctx, id, n)
	return d, webhookErr("webhook deliveries", err)
}

func webhookErr(what string, err error) error {
	var de *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de):
		return err
	case errors.Is(err, ErrNotFound):
		return Errorf(CodeNotFound, "not found")
	}
	return fmt.Errorf("%s: %w", what, err)
}

func webhookDetail(w *Webhook) string {
	if w == nil {
		return ""
	}
	return "webhook " + fmt.Sprint(w.ID)
}

func webhookAccount(w *Webhook) int64 {
	if w == nil {
		return 0
	}
	return w.AccountID
}
