package auth

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Attempt names a public credential mutation that a Limiter guards: one where a caller who
// holds no session presents a secret (or a code, or a token) that could be guessed.
type Attempt string

// The guarded attempts, and the identifier each one is counted by.
//
// Every public credential mutation of the service must go through the Limiter, whichever
// branch adds it:
//
//	ip := ClientFrom(ctx).IP // the address the transport put in the context
//	if err := s.checkLimit(ctx, AttemptX, ip, identifier); err != nil {
//		return nil, err // RATE_LIMITED (429 + Retry-After) or SERVICE_UNAVAILABLE
//	}
//	... look up, hash, compare ...
//	return s.recordLogin(ctx, AttemptX, ip, identifier, result, err)
//
// before any lookup or hashing (so that a refused attempt costs no argon2 work), and report
// the outcome after it (so that failures count against the account and a success forgives
// the address's typos). Login (and LoginPassword), LoginUserKey, Refresh, the login's TOTP
// step and verifyCurrentPassword (the current-password check of ChangePassword, EnableTOTP
// and DisableTOTP, which a stolen session could guess at) are written that way;
// LoginExternal calls checkLimit before it asks the provider.
const (
	// AttemptPassword is createSessionUsingUsername, and the current-password check of the
	// sensitive changes (verifyCurrentPassword); identifier: the username as given, or for
	// one that is an email address, the address normalized (loginIdentifier).
	AttemptPassword Attempt = "password"
	// AttemptUserKey is createSessionUsingUserKey; identifier: the key id in decimal.
	AttemptUserKey Attempt = "user_key"
	// AttemptRefresh is refreshSession; identifier: "" (a refresh token cannot be guessed,
	// so only the address is counted, to keep one client from flooding the store).
	AttemptRefresh Attempt = "refresh"
	// AttemptExternal is a login through an external identity provider (OIDC); identifier:
	// "" (each one costs a call to the provider, so the address is counted).
	AttemptExternal Attempt = "external"
	// AttemptTOTP is a TOTP code check; identifier: the user id in decimal. Every check
	// counts, right or wrong: a six-digit code needs a tight bound per account.
	AttemptTOTP Attempt = "totp"
	// AttemptSignUp is signUp; identifier: the normalized email. Every one counts.
	AttemptSignUp Attempt = "sign_up"
	// AttemptMail is a request that sends mail to an address (requestPasswordReset,
	// requestSignInCode, requestEmailVerification, changeEmail, sendPasswordReset,
	// createInvitation); identifier: the normalized recipient address. Every one counts,
	// so nobody can mail-bomb an address or exhaust the sender.
	AttemptMail Attempt = "mail"
	// AttemptEmailCode is createSessionUsingEmailCode; identifier: the normalized email.
	// Counted and recorded as a password sign-in is.
	AttemptEmailCode Attempt = "email_code"
	// AttemptEmailToken is a use of an emailed token (verifyEmail, resetPassword,
	// acceptInvitation); identifier: "" (a 256-bit token cannot be guessed: only the
	// address is counted, to keep one client from flooding the store).
	AttemptEmailToken Attempt = "email_token"
	// AttemptPasskey is beginPasskeySignIn and createSessionUsingPasskey; identifier: ""
	// (a passkey's signature cannot be guessed: only the address is counted, which bounds
	// the ceremonies one client keeps in the store and the signatures it has checked).
	AttemptPasskey Attempt = "passkey"
	// AttemptSSO is a step of the authorization code flow (its start, which writes a flow,
	// its callback and createSessionUsingAuthorizationCode, which ask the provider);
	// identifier: "".
	AttemptSSO Attempt = "sso"
)

// Limiter decides whether a guarded attempt may go ahead. The server gives the service one
// built on internal/ratelimit (Redis when the store is Redis, so that every replica counts
// against the same limits); Config.Limiter nil means no limits (tests of other rules).
//
// ip is the client's address as the transport determined it (through trusted proxies);
// identifier is what the attempt targets, as documented on each Attempt. Neither is ever
// logged by an implementation in clear: a username is personal data.
type Limiter interface {
	// Check is called before the attempt does any work. It answers nil to let it go ahead,
	// a *RateLimitedError to refuse it, or an error wrapping ErrUnavailable when the limits
	// cannot be read (the attempt is then refused with SERVICE_UNAVAILABLE: limits fail
	// closed).
	Check(ctx context.Context, a Attempt, ip, identifier string) error
	// Record reports the outcome of an attempt Check let through: ok is true when the
	// credentials were right. It is not called for attempts that failed for another reason
	// (an outage, a full hashing queue), which say nothing about the credentials.
	Record(ctx context.Context, a Attempt, ip, identifier string, ok bool) error
}

// NoLimits is a Limiter that allows everything.
type NoLimits struct{}

// Check implements Limiter.
func (NoLimits) Check(context.Context, Attempt, string, string) error { return nil }

// Record implements Limiter.
func (NoLimits) Record(context.Context, Attempt, string, string, bool) error { return nil }

// CodeRateLimited is the code of a refusal by a Limiter: HTTP 429 with Retry-After.
const CodeRateLimited Code = "RATE_LIMITED"

// MsgRateLimited is the message of every refusal. It never says which limit was reached
// (the address's or the account's): that would tell an attacker which of his addresses to
// rotate and which accounts exist.
const MsgRateLimited = "Too many attempts. Please retry later."

// RateLimitedError is a Limiter's refusal. It matches *Error (code RATE_LIMITED, message
// MsgRateLimited) with errors.As, so every transport that understands domain errors
// answers it correctly; a transport that can should also send RetryAfter (HTTP:
// Retry-After, in whole seconds rounded up).
type RateLimitedError struct {
	// RetryAfter is how long until an attempt may be allowed; at least a second.
	RetryAfter time.Duration
	// Rule names the limit that refused, for logs only. Never show it to a client.
	Rule string
}

func (e *RateLimitedError) Error() string {
	return string(CodeRateLimited) + ": " + e.Rule + ": retry after " + e.RetryAfter.String()
}

// As lets errors.As(err, &target) with target an *Error see a refusal as the domain error
// it is, so ErrorCode and ErrorMessage need no special case.
func (e *RateLimitedError) As(target any) bool {
	if t, ok := target.(**Error); ok {
		*t = &Error{Code: CodeRateLimited, Message: MsgRateLimited}
		return true
	}
	return false
}

// RetryAfterSeconds is the Retry-After header's value for a refusal: the wait in whole
// seconds, rounded up, at least 1, so that a client who honours it is never early.
func (e *RateLimitedError) RetryAfterSeconds() int {
	d := max(e.RetryAfter, time.Second)
	return int((d + time.Second - 1) / time.Second)
}

func (s *Service) limiter() Limiter {
	if s.cfg.Limiter == nil {
		return NoLimits{}
	}
	return s.cfg.Limiter
}

// checkLimit asks the Limiter whether an attempt may go ahead; see Attempt for the contract.
func (s *Service) checkLimit(ctx context.Context, a Attempt, ip, identifier string) error {
	err := s.limiter().Check(ctx, a, ip, identifier)
	if err != nil {
		s.noteLimited(ctx, a, identifier, err)
	}
	return err
}

// recordLogin reports the outcome of a login attempt to the Limiter and answers what the
// login answers. Wrong credentials count as a failure; if that cannot be recorded (the
// limiter's store is down), the answer is the limiter's error, so that no guess goes
// uncounted. A success is recorded on a best-effort basis: the session exists, and the only
// thing lost if the record fails is the forgiveness of the address's earlier typos.
// Other errors (an outage, a full hashing queue) are not recorded: they say nothing about
// the credentials.
func (s *Service) recordLogin(ctx context.Context, a Attempt, ip, identifier string, ns *NewSession, err error) (*NewSession, error) {
	switch {
	case err == nil:
		_ = s.limiter().Record(ctx, a, ip, identifier, true)
		return ns, nil
	case ErrorCode(err) == CodeInvalidCredentials:
		if rerr := s.limiter().Record(ctx, a, ip, identifier, false); rerr != nil {
			return nil, rerr
		}
	}
	return nil, err
}

// keyIdentifier is the identifier of a user-key login.
func keyIdentifier(id int64) string { return strconv.FormatInt(id, 10) }

// dummyVerifier is a Hasher whose dummy verification can fail as a real one can (a bounded
// pool that is full answers ErrBusy). Its error must be answered where Verify's would be,
// or a full pool would answer 503 for known ids and INVALID_CREDENTIALS for unknown ones.
type dummyVerifier interface {
	VerifyDummyErr(ctx context.Context, secret string) error
}

// verifyDummy spends the work of a Verify on nothing, and answers the error a Verify would
// have answered (when the hasher can tell: see dummyVerifier).
func (s *Service) verifyDummy(ctx context.Context, secret string) error {
	if d, ok := s.hasher.(dummyVerifier); ok {
		return d.VerifyDummyErr(ctx, secret)
	}
	s.hasher.VerifyDummy(ctx, secret)
	return ctx.Err()
}

// IsRateLimited reports whether err is a Limiter's refusal, and returns it.
func IsRateLimited(err error) (*RateLimitedError, bool) {
	var rl *RateLimitedError
	ok := errors.As(err, &rl)
	return rl, ok
}
