// Package audit owns the audit trail's vocabulary: the Event the domain records at every
// security-relevant point, the Query that reads them back, the Store interface the trail's
// storage implements (internal/redisstore writes Redis Streams; Ring here keeps a bounded
// in-memory trail for the embedded store), and Writer, which takes events off the request's
// critical path. It knows nothing of users, HTTP or Redis, and imports no package of
// authgraph.
//
// An event never holds a token, a secret, a password or a code: only ids, names of what
// happened, and the client's address, user agent and name. Callers fill events from typed
// fields, never from request bodies, so that nothing secret can ride along.
package audit

import (
	"context"
	"errors"
	"time"
)

// Type names what happened, as "area.action". The set is open (a store keeps any), but the
// domain uses the constants below, and the API documents them.
type Type string

// The events the domain records.
const (
	SignIn             Type = "session.sign_in"          // a sign-in, any method; Reason says why one failed
	SignInRateLimited  Type = "session.rate_limited"     // a guarded attempt refused by the limits
	OTPRequired        Type = "session.otp_required"     // right password, second factor missing
	OTPFailed          Type = "session.otp_failed"       // a wrong TOTP or recovery code
	Refresh            Type = "session.refresh"          // a refresh token traded for a new pair
	RefreshReuse       Type = "session.refresh_reuse"    // a used refresh token presented again: the family ends
	FamilyRevoked      Type = "session.family_revoked"   // every session of a sign-in ended
	SessionEnded       Type = "session.ended"            // one session ended (logout, or by its owner)
	SessionsEnded      Type = "session.ended_many"       // several sessions ended at once
	KeyCreated         Type = "key.created"              // a user key made
	KeyRerolled        Type = "key.rerolled"             // a user key given a new secret
	KeyDeleted         Type = "key.deleted"              // a user key deleted
	PasswordChanged    Type = "password.changed"         // by the user, with the current one
	PasswordReset      Type = "password.reset"           // with an emailed token
	PasswordResetSent  Type = "password.reset_requested" // an admin mailed a reset link
	EmailChangeStarted Type = "email.change_requested"   // the user asked to change address
	EmailChanged       Type = "email.changed"            // the new address confirmed, or set by an admin
	EmailVerified      Type = "email.verified"           // an address proven
	TOTPEnrollStarted  Type = "totp.enroll_started"      // a pending TOTP secret made
	TOTPEnabled        Type = "totp.enabled"             // TOTP confirmed and on
	TOTPDisabled       Type = "totp.disabled"            // TOTP off
	UserCreated        Type = "user.created"             // by an admin, or at start-up
	UserSignedUp       Type = "user.signed_up"           // self-service sign-up
	UserDisabled       Type = "user.disabled"            // by an admin
	UserEnabled        Type = "user.enabled"             // by an admin
	UserDeleted        Type = "user.deleted"             // by an admin
	UserRoleSet        Type = "user.role_set"            // by an admin; Detail: the new role
	UserRenamed        Type = "user.renamed"             // by an admin; Detail: the new username
	UserSessionsEnded  Type = "user.sessions_ended"      // an admin ended every session of a user
	InvitationCreated  Type = "invitation.created"       // an admin invited a user
	InvitationAccepted Type = "invitation.accepted"      // the invited user set a password
	AccountCreated     Type = "account.created"          // by an admin
	AccountRenamed     Type = "account.renamed"          // by an admin
	AccountDeleted     Type = "account.deleted"          // by an admin
	AccountPolicySet   Type = "account.sign_up_policy"   // by an admin; Detail: the policy
	WebhookCreated     Type = "webhook.created"          // by an admin; Detail: its id
	WebhookDeleted     Type = "webhook.deleted"          // by an admin; Detail: its id
	PasskeyRegistered  Type = "passkey.registered"       // the user added a passkey; Detail: its id
	PasskeyDeleted     Type = "passkey.deleted"          // the user removed a passkey; Detail: its id
	PasskeyCloned      Type = "passkey.clone_suspected"  // a sign-in refused: the counter did not grow; Detail: its id

	ServiceAccountCreated  Type = "service_account.created"  // by an admin; Detail: its id and name
	ServiceAccountRenamed  Type = "service_account.renamed"  // by an admin
	ServiceAccountDisabled Type = "service_account.disabled" // by an admin: all its keys stop
	ServiceAccountEnabled  Type = "service_account.enabled"  // by an admin
	ServiceAccountDeleted  Type = "service_account.deleted"  // by an admin, with all its keys
	ServiceKeyCreated      Type = "service_key.created"      // by an admin; Detail: its id
	ServiceKeyRerolled     Type = "service_key.rerolled"     // by an admin: a new secret
	ServiceKeyDeleted      Type = "service_key.deleted"      // by an admin
	ServiceKeyRefused      Type = "service_key.refused"      // an x-api-key of an existing key refused; Reason: expired, disabled, old secret
)

// Outcome is whether the action happened.
type Outcome string

// The outcomes.
const (
	Success Outcome = "success" // it happened
	Failure Outcome = "failure" // refused: wrong credentials, not allowed, bad input…
	Error   Outcome = "error"   // could not be decided: an outage, a full queue
)

// ActorKind is who did it.
type ActorKind string

// The kinds of actor.
const (
	Anonymous  ActorKind = "anonymous" // no session: a sign-in, a public mutation
	ActorUser  ActorKind = "user"      // a user through a password, code or external session, acting on themselves
	ActorKey   ActorKind = "key"       // a user through a session made from one of their keys
	ActorAdmin ActorKind = "admin"     // an admin or account admin acting on someone else
	System     ActorKind = "system"    // the server itself (start-up, a background job)
	// ActorService: a service account through one of its keys (x-api-key); ActorID is the
	// service account, ActorKey the key.
	ActorService ActorKind = "service"
)

// Event is one entry of the trail. Ids are 0 when unknown or not concerned; strings empty.
type Event struct {
	// ID is the store's id of the entry, set when it is read back ("" when recording). It is
	// the entry's position in the stream it was read from, so the same event read through
	// its account and through its user may have different ids.
	ID      string
	Time    time.Time // from the service's clock
	Type    Type
	Outcome Outcome
	// Reason is a short machine word for a failure ("wrong_password", "unknown_user",
	// "OTP_REQUIRED"…), or empty.
	Reason string
	// Actor is who did it: its kind, the acting user, and the key their session came from.
	ActorKind ActorKind
	ActorID   int64
	ActorKey  int64
	// UserID is the subject (whose credentials, sessions or record), AccountID its account.
	UserID    int64
	AccountID int64
	// The client, as the transport reported it (bounded).
	IP         string
	UserAgent  string
	ClientName string
	// SessionID is the session concerned: made by a sign-in, ended, or acting.
	SessionID int64
	// Detail is a short non-secret value (a role, a username, a key id, a policy), or empty.
	Detail string
}

// Recorder records events. Record must not block on I/O: it is called on the request's
// path. It never fails: an event that cannot be kept is counted by the implementation.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

// Stream names one stream of the trail: an account's (every event of its users and of the
// account itself) or a user's (every event whose subject is that user). An event with
// neither an account nor a user (a sign-in that names nothing known) goes to account 0's.
type Stream struct {
	Account int64
	User    int64 // when not 0, the user's stream
}

// Query reads one stream, newest first.
type Query struct {
	Stream  Stream
	Types   []Type    // empty: every type
	Outcome Outcome   // empty: every outcome
	Since   time.Time // zero: no lower bound (inclusive)
	Until   time.Time // zero: no upper bound (exclusive)
	// After is the ID of the last event of the previous page ("" for the newest).
	After string
	// Limit is the most events answered (1 to MaxLimit).
	Limit int
}

// MaxLimit bounds a page; MaxScan bounds the entries a page reads to find them, so that a
// filter that matches nothing costs a bounded amount: the page then answers fewer events
// than Limit, with More set and Next where the scan stopped.
const (
	MaxLimit = 1000
	MaxScan  = 5000
)

// Page is the answer to a Query.
type Page struct {
	Events []Event
	// More is true if older entries may match; Next is the ID to pass as After for them.
	More bool
	Next string
}

// Store keeps the trail. Append writes each event to its account's stream and, if it has a
// subject, to the user's stream; it may drop events older than the store's retention.
type Store interface {
	Append(ctx context.Context, events []Event) error
	List(ctx context.Context, q Query) (*Page, error)
}

// ErrBadCursor is answered for an After that is no ID of the store's.
var ErrBadCursor = errors.New("audit: malformed cursor")

// Matches reports whether e passes q's filters (not its stream or cursor).
func (q *Query) Matches(e *Event) bool {
	if q.Outcome != "" && e.Outcome != q.Outcome {
		return false
	}
	if !q.Since.IsZero() && e.Time.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !e.Time.Before(q.Until) {
		return false
	}
	if len(q.Types) == 0 {
		return true
	}
	for _, t := range q.Types {
		if t == e.Type {
			return true
		}
	}
	return false
}
