package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// MailKind names a mail the service sends. The values are the template names of the mail
// component (internal/mail), which the server's adapter passes on unchanged.
type MailKind string

// The mails the service sends.
const (
	MailVerifyEmail     MailKind = "verify-email"
	MailResetPassword   MailKind = "reset-password"
	MailSignInCode      MailKind = "sign-in-code"
	MailInvitation      MailKind = "invitation"
	MailEmailChanged    MailKind = "email-changed"
	MailPasswordChanged MailKind = "password-changed"
	MailAccountExists   MailKind = "account-exists"
)

// Mail is one mail to send: its template, recipient, link and fields, never rendered text.
type Mail struct {
	// ID is the idempotency key: two mails with one ID are sent once. It names the event
	// (never a secret: it is stored in clear).
	ID     string
	To     string // a normalized address
	ToName string
	Kind   MailKind
	// Link is the path and query of the mail's link, joined by the mail component to the
	// configured public URL (never to a request's Host).
	Link string
	Data map[string]string
	// Deferred marks a request whose mail is decided later, by ExpandMail in a mail worker,
	// off the request path: see RequestPasswordReset. Kind then names the mail asked for and
	// Data holds what the request named ("account"); nothing secret is in it.
	Deferred bool
}

// Mailer queues mail durably. The request that calls it never waits for an SMTP server: the
// mail component's queue (a Redis Stream, or in process for the embedded store) delivers at
// least once, retrying, and ExpandMail completes the deferred ones.
type Mailer interface {
	Enqueue(ctx context.Context, m Mail) error
}

// noMail is the Mailer of a service configured without one: every mail is refused, so an
// operation that must send one fails loudly instead of pretending.
type noMail struct{}

func (noMail) Enqueue(context.Context, Mail) error {
	return fmt.Errorf("auth: no mailer configured: %w", ErrUnavailable)
}

func (s *Service) mailer() Mailer {
	if s.cfg.Mailer == nil {
		return noMail{}
	}
	return s.cfg.Mailer
}

// sendMail queues m, wrapping a failure: the caller answers it as an outage.
func (s *Service) sendMail(ctx context.Context, m Mail) error {
	if err := s.mailer().Enqueue(ctx, m); err != nil {
		return fmt.Errorf("auth: queue %s mail: %w", m.Kind, err)
	}
	return nil
}

// mailID makes an idempotency key for a mail about an event that has no id of its own.
func mailID(kind MailKind) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return string(kind) + ":" + hex.EncodeToString(b)
}
