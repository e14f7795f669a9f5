package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	gomail "github.com/wneessen/go-mail"
)

// Sender delivers one rendered mail. It returns nil only once the mail has been handed over
// (accepted by the SMTP server, or written to the log); any error makes the worker retry.
type Sender interface {
	Send(ctx context.Context, m Rendered) error
}

// SMTPSender sends through an SMTP server with go-mail, one connection per mail: a mail is
// rare enough (sign-up, reset, verification) that a kept-open connection would mostly be a
// connection to keep alive.
type SMTPSender struct {
	cfg  SMTPConfig
	opts []gomail.Option
}

// SMTPOptions adjusts an SMTPSender.
type SMTPOptions struct {
	// TLSConfig replaces the default TLS configuration (system roots, TLS 1.2 at least,
	// server name from the URL), e.g. to trust a private CA.
	TLSConfig *tls.Config
	// Timeout bounds dialling and each SMTP command; 0 means 15 s.
	Timeout time.Duration
}

// NewSMTPSender builds a sender for cfg (from ParseSMTPURL).
func NewSMTPSender(cfg SMTPConfig, o SMTPOptions) (*SMTPSender, error) {
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Second
	}
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(o.Timeout)}
	switch cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("mail: unknown TLS mode %q", cfg.TLS)
	}
	if o.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(o.TLSConfig))
	}
	if cfg.Username != "" {
		// Auto-discovery picks the strongest mechanism the server offers and, on an
		// unencrypted connection, only challenge-response ones: the password never goes in clear.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	// Built once to check the options; Send builds its own client per mail.
	if _, err := gomail.NewClient(cfg.Host, opts...); err != nil {
		return nil, fmt.Errorf("mail: SMTP client: %w", err)
	}
	return &SMTPSender{cfg: cfg, opts: opts}, nil
}

// Send implements Sender.
func (s *SMTPSender) Send(ctx context.Context, r Rendered) error {
	msg, err := buildMsg(s.cfg.From, r)
	if err != nil {
		return err
	}
	c, err := gomail.NewClient(s.cfg.Host, s.opts...)
	if err != nil {
		return fmt.Errorf("mail: SMTP client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		if msg.IsDelivered() {
			// The server accepted DATA; only the goodbye (QUIT, close) failed. Retrying would
			// send the mail twice.
			return nil
		}
		// go-mail's errors name the server and the failing command, never the password.
		err = fmt.Errorf("mail: send through %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
		if permanentSMTP(err) {
			return fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		return err
	}
	return nil
}

// ErrPermanent wraps a send error that no retry can cure: the worker moves the message to
// the dead letters at once.
var ErrPermanent = errors.New("mail: permanent failure")

// permanentSMTP tells a 5xx answer to RCPT (no such mailbox) or to DATA (content refused),
// which concern this message, from everything else: a refused connection, a 4xx, a failed
// login or a refused sender are the configuration's or the moment's, and are retried, so
// that fixing them delivers the mail.
func permanentSMTP(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose, gomail.ErrWriteContent:
		return se.ErrorCode() >= 500 && se.ErrorCode() < 600
	}
	return false
}

// buildMsg lets go-mail write every header: it encodes non-ASCII names and subjects, so the
// values (already refused if they hold a control character) cannot start a header line.
func buildMsg(from string, r Rendered) (*gomail.Msg, error) {
	if err := checkHeaderValue("subject", r.Subject, maxValueLen); err != nil {
		return nil, err
	}
	if err := checkHeaderValue("recipient name", r.ToName, maxNameLen); err != nil {
		return nil, err
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(from); err != nil {
		return nil, fmt.Errorf("%w: sender: %v", ErrInvalidMessage, err)
	}
	if r.ToName != "" {
		if err := m.AddToFormat(r.ToName, r.To); err != nil {
			return nil, fmt.Errorf("%w: recipient: %v", ErrInvalidMessage, err)
		}
	} else if err := m.To(r.To); err != nil {
		return nil, fmt.Errorf("%w: recipient: %v", ErrInvalidMessage, err)
	}
	m.Subject(r.Subject)
	m.SetDate()
	// The same key gives the same Message-ID, so a mail sent twice (the at-least-once
	// window) can be recognised as one by the receiving side.
	m.SetMessageIDWithValue(r.ID + "@authgraph")
	m.SetBodyString(gomail.TypeTextPlain, r.Text)
	if r.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, r.HTML)
	}
	return m, nil
}

// NewSender returns the sender for AUTHGRAPH_SMTP_URL: an SMTPSender, or, when the URL is
// empty, a LogSender, announced by a warning (mails, links included, go to the log).
func NewSender(smtpURL string, log zerolog.Logger) (Sender, error) {
	if smtpURL == "" {
		log.Warn().Msg("no SMTP server configured (AUTHGRAPH_SMTP_URL): mails are written to the log, links included; do not run like this in production")
		return LogSender{Log: log}, nil
	}
	cfg, err := ParseSMTPURL(smtpURL)
	if err != nil {
		return nil, err
	}
	s, err := NewSMTPSender(cfg, SMTPOptions{})
	if err != nil {
		return nil, err
	}
	log.Info().Stringer("smtp", cfg).Msg("mail goes through SMTP")
	return s, nil
}

// LogSender writes each mail to the log as a warning instead of sending it: the development
// default when no SMTP server is configured. The text, links and codes included, goes to the
// log, which is the point (a developer can follow the link) and also why it must not be used
// in production.
type LogSender struct {
	Log zerolog.Logger
}

// Send implements Sender.
func (s LogSender) Send(_ context.Context, r Rendered) error {
	s.Log.Warn().Str("mail_id", r.ID).Str("to", r.To).Str("subject", r.Subject).Str("text", r.Text).
		Msg("mail written to the log, not sent: no SMTP server is configured (AUTHGRAPH_SMTP_URL)")
	return nil
}
