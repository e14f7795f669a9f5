package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
)

// Auditor keeps the audit trail (Config.Auditor; nil: no trail). Record must not block: it
// is called on the request's path, once per security event, with fields the service fills
// from typed values only (never a token, secret, password or code). audit.Writer
// implements it over an audit.Store.
type Auditor interface {
	audit.Recorder
	List(ctx context.Context, q audit.Query) (*audit.Page, error)
}

// Sign-in failure reasons in the trail. The public answer to all of them is the same
// INVALID_CREDENTIALS; the trail tells them apart because its readers are the user concerned
// and the admins of their account, who need to know whether someone is guessing at a real
// user's password (wrong_password, recorded in that user's stream) or spraying usernames
// (unknown_user, which names no user and so stays in the unattributed stream, readable by
// ADMINs only: it cannot tell an account admin which names exist elsewhere). The username
// tried is never recorded for an unknown user: people type their password there.
const (
	reasonUnknownUser   = "unknown_user"
	reasonUnknownKey    = "unknown_key"
	reasonWrongSecret   = "wrong_secret"
	reasonUserDisabled  = "user_disabled"
	reasonKeyExpired    = "key_expired"
	reasonOversized     = "oversized_input"
	reasonCredsChanged  = "credentials_changed"
	reasonUnavailable   = "unavailable"
	reasonInternalError = "internal"
)

// record completes e with what the context says (time, client, actor, acting session) and
// hands it to the Auditor. It never fails.
func (s *Service) record(ctx context.Context, e audit.Event) {
	if s.cfg.Auditor == nil {
		return
	}
	e.Time = s.clock.Now().UTC()
	c := ClientFrom(ctx)
	e.IP, e.UserAgent, e.ClientName = clip(c.IP, 64), clip(c.UserAgent, 512), clip(c.Name, 256)
	if p := PrincipalFrom(ctx); p != nil && p.Service != nil && e.ActorKind == "" {
		e.ActorKind, e.ActorID, e.ActorKey = audit.ActorService, p.Service.ServiceAccountID, p.Service.KeyID
		if e.AccountID == 0 && e.UserID == 0 {
			e.AccountID = p.Service.AccountID
		}
	} else if p != nil && e.ActorKind == "" {
		e.ActorID = p.User.ID
		switch {
		case e.UserID != 0 && e.UserID != p.User.ID:
			e.ActorKind = audit.ActorAdmin
		case p.Session != nil && p.Session.UserKeyID != 0:
			e.ActorKind = audit.ActorKey
		default:
			e.ActorKind = audit.ActorUser
		}
		if p.Session != nil {
			e.ActorKey = p.Session.UserKeyID
			if e.SessionID == 0 {
				e.SessionID = p.Session.ID
			}
		}
		if e.AccountID == 0 && e.UserID == 0 {
			e.AccountID = p.User.AccountID
		}
	} else if e.ActorKind == "" {
		e.ActorKind = audit.Anonymous
	}
	s.cfg.Auditor.Record(ctx, e)
}

// outcomeOf sets e's outcome and reason from the error an operation answered: a domain
// refusal is a failure named by its code, anything else (an outage) an error.
func outcomeOf(e *audit.Event, err error) {
	switch code := ErrorCode(err); {
	case err == nil:
		e.Outcome = audit.Success
	case code == CodeUnavailable:
		e.Outcome, e.Reason = audit.Error, reasonUnavailable
	case code == CodeInternal:
		e.Outcome, e.Reason = audit.Error, reasonInternalError
	default:
		e.Outcome = audit.Failure
		if e.Reason == "" {
			e.Reason = string(code)
		}
	}
}

// noteUser records an operation on user u (nil: unknown) that answered err. Nothing is
// recorded for an operation refused before it found its subject for lack of rights
// (UNAUTHENTICATED, FORBIDDEN, a missing scope): those are the transport's to count, and
// they say nothing about the subject.
func (s *Service) noteUser(ctx context.Context, t audit.Type, u *User, err error, detail string) {
	if s.cfg.Auditor == nil || refusedBeforeSubject(err) {
		return
	}
	e := audit.Event{Type: t, Detail: detail}
	if u != nil {
		e.UserID, e.AccountID = u.ID, u.AccountID
	}
	outcomeOf(&e, err)
	s.record(ctx, e)
}

// noteSelf records an operation of the principal on themselves.
func (s *Service) noteSelf(ctx context.Context, t audit.Type, err error, detail string) {
	p := PrincipalFrom(ctx)
	if p == nil || p.User == nil {
		return
	}
	s.noteUser(ctx, t, p.User, err, detail)
}

// noteAccount records an operation on account id.
func (s *Service) noteAccount(ctx context.Context, t audit.Type, accountID int64, err error, detail string) {
	if s.cfg.Auditor == nil || refusedBeforeSubject(err) {
		return
	}
	e := audit.Event{Type: t, AccountID: accountID, Detail: detail}
	outcomeOf(&e, err)
	s.record(ctx, e)
}

func refusedBeforeSubject(err error) bool {
	switch ErrorCode(err) {
	case CodeUnauthenticated, CodeForbidden, CodeNotFound:
		return true
	}
	return false
}

// signInTrace is what a sign-in learned on its way, for its event: the user it found (if
// any) and why it failed.
type signInTrace struct {
	user    *User
	reason  string
	otp     bool // a second-factor code was given
	method  SessionMethod
	keyID   int64
	account int64
}

// noteSignIn records the outcome of a sign-in. An OTP_REQUIRED is its own event: OTPRequired
// when no code was given, OTPFailed when a wrong one was.
func (s *Service) noteSignIn(ctx context.Context, tr *signInTrace, ns *NewSession, err error) {
	if s.cfg.Auditor == nil {
		return
	}
	e := audit.Event{Type: audit.SignIn, Reason: tr.reason, Detail: string(tr.method), ActorKind: audit.Anonymous, ActorKey: tr.keyID}
	if tr.user != nil {
		e.UserID, e.AccountID = tr.user.ID, tr.user.AccountID
	} else {
		e.AccountID = tr.account
	}
	if ns != nil && ns.Session != nil {
		e.SessionID = ns.Session.ID
		e.UserID = ns.Session.UserID
	}
	if tr.keyID != 0 {
		e.ActorKind = audit.ActorKey
	}
	if ErrorCode(err) == CodeOTPRequired {
		e.Type = audit.OTPRequired
		if tr.otp {
			e.Type = audit.OTPFailed
		}
	}
	if _, limited := IsRateLimited(err); limited {
		return // checkLimit recorded it
	}
	if err != nil && e.Reason == "" && ErrorCode(err) == CodeInvalidCredentials {
		e.Reason = reasonCredsChanged // the store refused the session: a credential changed meanwhile
	}
	outcomeOf(&e, err)
	s.record(ctx, e)
}

// noteLimited records a guarded attempt the limits refused. Only the TOTP attempt's
// identifier (a user id, as its subject) and the user key's id are kept: the others are
// usernames and addresses typed by whoever asks, personal data or worse.
func (s *Service) noteLimited(ctx context.Context, a Attempt, identifier string, err error) {
	if s.cfg.Auditor == nil {
		return
	}
	if _, limited := IsRateLimited(err); !limited {
		return
	}
	e := audit.Event{Type: audit.SignInRateLimited, Outcome: audit.Failure, Reason: string(CodeRateLimited), Detail: string(a)}
	if a == AttemptTOTP {
		// The account is filled in off the request path (CompleteAuditEvents): a refusal
		// costs no read.
		if id, perr := strconv.ParseInt(identifier, 10, 64); perr == nil {
			e.UserID = id
		}
	}
	if a == AttemptUserKey {
		if id, perr := strconv.ParseInt(identifier, 10, 64); perr == nil {
			e.ActorKey = id
		}
	}
	s.record(ctx, e)
}

// noteSessionEnded records a session ended by its owner (or logged out).
func (s *Service) noteSessionEnded(ctx context.Context, ended *EndedSession, err error) {
	if s.cfg.Auditor == nil || refusedBeforeSubject(err) {
		return
	}
	p := PrincipalFrom(ctx)
	if p == nil {
		return
	}
	e := audit.Event{Type: audit.SessionEnded, UserID: p.User.ID, AccountID: p.User.AccountID}
	if ended != nil && ended.Session != nil {
		e.SessionID = ended.Session.ID
		if ended.Session.ID == p.Session.ID {
			e.Detail = "logout"
		}
		if ended.Session.Refreshable() {
			e.Detail += " family ended"
		}
	}
	outcomeOf(&e, err)
	s.record(ctx, e)
}

// noteToken records an operation proven by an emailed token: a failure names no subject
// (the token was unknown), and only a TOKEN_INVALID or worse is kept, not a refusal before
// the token was read.
func (s *Service) noteToken(ctx context.Context, t audit.Type, u *User, err error) {
	if s.cfg.Auditor == nil {
		return
	}
	if _, limited := IsRateLimited(err); limited {
		return
	}
	e := audit.Event{Type: t}
	if u != nil {
		e.UserID, e.AccountID = u.ID, u.AccountID
	}
	outcomeOf(&e, err)
	s.record(ctx, e)
}

// orID answers u, or a user known only by id when the operation answered none.
func orID(u *User, id int64) *User {
	if u != nil {
		return u
	}
	return &User{ID: id}
}

func accountID(a *Account) int64 {
	if a == nil {
		return 0
	}
	return a.ID
}

func roleDetail(u *User) string {
	if u == nil {
		return ""
	}
	return string(u.Role)
}

func keyDetail(k *NewUserKey) string {
	if k == nil || k.Key == nil {
		return ""
	}
	return "key " + strconv.FormatInt(k.Key.ID, 10)
}

// CompleteAuditEvents fills in the account of events that know their user only by id (a
// wrong key secret, an admin action on a user it did not read): the audit writer calls it
// off the request path, so the request pays no read for it. A user gone since keeps
// account 0.
func (s *Service) CompleteAuditEvents(ctx context.Context, events []audit.Event) {
	var known map[int64]int64
	for i := range events {
		e := &events[i]
		if e.UserID == 0 || e.AccountID != 0 {
			continue
		}
		if a, ok := known[e.UserID]; ok {
			e.AccountID = a
			continue
		}
		if u, err := s.users.User(ctx, e.UserID); err == nil {
			e.AccountID = u.AccountID
		}
		if known == nil {
			known = map[int64]int64{}
		}
		known[e.UserID] = e.AccountID
	}
}

// EventPage is a page of the trail, newest first.
type EventPage = audit.Page

// EventFilter narrows AuditEvents. Account and User are ids (0: not given).
type EventFilter struct {
	Account, User int64
	Types         []audit.Type
	Outcome       audit.Outcome
	Since, Until  time.Time
}

// SecurityEvents answers the current user's own trail, newest first: every event whose
// subject they are. Needs the read scope.
func (s *Service) SecurityEvents(ctx context.Context, f EventFilter, after string, limit int) (*EventPage, error) {
	p, err := requireScope(ctx, ScopeRead)
	if err != nil {
		return nil, err
	}
	return s.listEvents(ctx, audit.Stream{User: p.User.ID}, f, after, limit)
}

// AuditEvents answers the trail of an account or of a user, newest first. ADMINs read any;
// an ACCOUNT_ADMIN reads their own account's, and the trails of the users they manage (any
// other account or user is NOT_FOUND, as in the user-management operations). With neither
// account nor user, an ADMIN reads the unattributed stream (sign-ins that named no known
// user, refused attempts) and an ACCOUNT_ADMIN their account's. A service key holding admin
// reads as an ACCOUNT_ADMIN of its account does (serviceReadAudit).
func (s *Service) AuditEvents(ctx context.Context, f EventFilter, after string, limit int) (*EventPage, error) {
	p, err := requireManager(ctx, serviceReadAudit)
	if err != nil {
		return nil, err
	}
	platform, own := false, int64(0)
	if p.Service != nil {
		own = p.Service.AccountID
	} else {
		platform, own = p.User.Role == RoleAdmin, p.User.AccountID
	}
	var st audit.Stream
	switch {
	case f.User != 0:
		if _, err := s.managedUser(ctx, p, f.User); err != nil {
			return nil, err
		}
		st.User = f.User
	case f.Account != 0:
		if !platform && f.Account != own {
			return nil, Errorf(CodeNotFound, "account not found")
		}
		st.Account = f.Account
	case !platform:
		st.Account = own
	}
	return s.listEvents(ctx, st, f, after, limit)
}

func (s *Service) listEvents(ctx context.Context, st audit.Stream, f EventFilter, after string, limit int) (*EventPage, error) {
	if s.cfg.Auditor == nil {
		return &EventPage{}, nil
	}
	if limit < 1 || limit > audit.MaxLimit {
		return nil, Errorf(CodeInvalidInput, "first must be from 1 to %d", audit.MaxLimit)
	}
	page, err := s.cfg.Auditor.List(ctx, audit.Query{Stream: st, Types: f.Types, Outcome: f.Outcome,
		Since: f.Since, Until: f.Until, After: after, Limit: limit})
	if errors.Is(err, audit.ErrBadCursor) {
		return nil, Errorf(CodeInvalidInput, "malformed cursor")
	}
	if err != nil {
		return nil, fmt.Errorf("read audit trail: %w", err)
	}
	return page, nil
}
