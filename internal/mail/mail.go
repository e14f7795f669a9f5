// Package mail renders authgraph's mails from templates and delivers them through a durable
// queue, so that a request never waits on (or fails with) an SMTP server.
//
// A request calls Queue.Enqueue with a Message; a Worker, in every replica, takes messages
// from the queue, renders them and hands them to a Sender (SMTPSender, or LogSender when no
// SMTP server is configured). RedisQueue keeps the queue in a Redis Stream read by a consumer
// group shared by all replicas; MemQueue keeps it in the process, for the embedded store.
//
// Delivery is at least once. A message is acknowledged only after the SMTP server accepted
// it; a failed attempt is retried with exponential backoff and, after Policy.MaxAttempts
// failures, moved to a dead-letter list. Every message carries an idempotency key (Message.ID):
// a sent-marker under that key stops a second send of a message that was already delivered,
// and a claim under the same key stops two workers from sending it at once. The one window
// left is a worker that dies after the SMTP server accepted the mail and before the marker
// is written: the message is then sent again by another worker, with the same Message-ID
// header (derived from the key), which lets mail clients fold the two.
package mail

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind names a mail template.
type Kind string

// The kinds of mail authgraph sends. Each has a subject, a plain-text and an HTML template.
const (
	KindVerifyEmail     Kind = "verify-email"
	KindResetPassword   Kind = "reset-password"
	KindSignInCode      Kind = "sign-in-code"
	KindInvitation      Kind = "invitation"
	KindEmailChanged    Kind = "email-changed"
	KindPasswordChanged Kind = "password-changed"
	KindAccountExists   Kind = "account-exists"
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{KindVerifyEmail, KindResetPassword, KindSignInCode, KindInvitation,
	KindEmailChanged, KindPasswordChanged, KindAccountExists}

// Message is one mail to send, as it is queued: the template and its data, not the text, so
// that what is stored in the queue stays small and the text is rendered by the worker.
type Message struct {
	// ID is the idempotency key: two messages with the same ID are sent once. It should name
	// the event that caused the mail (e.g. "reset:<token digest>"), not be random per call.
	// It is stored in clear (in a Redis key name and the Message-ID header): never a secret.
	ID string `json:"id"`
	// To is the recipient's address (addr-spec, no display name).
	To string `json:"to"`
	// ToName is an optional display name for To.
	ToName string `json:"toName,omitempty"`
	// Template is the kind of mail.
	Template Kind `json:"template"`
	// Link is the path and query of the mail's link, relative to the public base URL the
	// Renderer was given (e.g. "/account/#view=reset&token=…"); empty for mails without a link.
	// It can never name another host.
	Link string `json:"link,omitempty"`
	// Data fills the template's other fields (e.g. "code", "account", "username").
	Data map[string]string `json:"data,omitempty"`
	// Deferred marks a request for a mail that the worker completes before sending it
	// (Worker.Expand): the mail may turn out not to be sent at all. It is queued like any
	// other, so the request is as durable as a mail; only its template fields are not
	// checked at enqueue time, since Expand fills them.
	Deferred bool `json:"deferred,omitempty"`
}

// Errors, wrapped with %w by the functions that return them.
var (
	// ErrInvalidMessage: a Message that can never be sent (bad address, unknown template, a
	// missing template field, a control character where a header could be forged).
	ErrInvalidMessage = errors.New("mail: invalid message")
	// ErrHeaderInjection: a value that ends up in a header holds a line break or another
	// control character. It wraps ErrInvalidMessage too.
	ErrHeaderInjection = fmt.Errorf("%w: control character in a header value", ErrInvalidMessage)
)

const (
	maxIDLen    = 200
	maxNameLen  = 200
	maxValueLen = 2000
	maxAddrLen  = 254 // RFC 5321's limit on a forward path
)

// Validate checks what can be checked without rendering: the ID (it becomes part of a Redis
// key and of the Message-ID header), the address, and that no value holds a control
// character. Values are refused rather than cleaned: a CR or LF in a name is an attack or a
// bug, and either way the mail must not go out half-trusted.
func (m *Message) Validate() error {
	if m.ID == "" || len(m.ID) > maxIDLen {
		return fmt.Errorf("%w: the ID must be 1 to %d characters", ErrInvalidMessage, maxIDLen)
	}
	for _, r := range m.ID {
		if !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._:-", r))) {
			return fmt.Errorf("%w: the ID may hold only ASCII letters, digits and . _ : -", ErrInvalidMessage)
		}
	}
	if err := checkHeaderValue("recipient", m.To, maxAddrLen); err != nil {
		return err
	}
	a, err := mail.ParseAddress(m.To)
	if err != nil || a.Name != "" || a.Address != m.To {
		return fmt.Errorf("%w: the recipient is not a plain email address", ErrInvalidMessage)
	}
	if err := checkHeaderValue("recipient name", m.ToName, maxNameLen); err != nil {
		return err
	}
	if !knownKind(m.Template) {
		return fmt.Errorf("%w: unknown template %q", ErrInvalidMessage, m.Template)
	}
	if err := checkHeaderValue("link", m.Link, maxValueLen); err != nil {
		return err
	}
	for k, v := range m.Data {
		// Any value may be used in a subject by an overriding template, so every value is
		// held to the header rule.
		if err := checkHeaderValue("field "+k, v, maxValueLen); err != nil {
			return err
		}
	}
	return nil
}

// checkHeaderValue refuses invalid UTF-8, overlong values and control characters (CR and LF
// above all, which would start a new header line).
func checkHeaderValue(what, v string, maxLen int) error {
	if len(v) > maxLen {
		return fmt.Errorf("%w: the %s is longer than %d bytes", ErrInvalidMessage, what, maxLen)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: the %s is not valid UTF-8", ErrInvalidMessage, what)
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("%w (the %s)", ErrHeaderInjection, what)
		}
	}
	return nil
}

func knownKind(k Kind) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}
