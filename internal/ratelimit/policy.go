package ratelimit

import (
	"context"
	"strconv"
	"time"
)

// Policy applies authgraph's limits to the public credential mutations. Its methods return
// nil to let an attempt go ahead, a *LimitedError to refuse it (RATE_LIMITED), or an error
// wrapping auth.ErrUnavailable when the limiter cannot answer. doc.go gives the semantics
// and the calling contract. It is safe for concurrent use.
type Policy struct{ lim Limiter }

// NewPolicy returns a policy on lim, which must know the rules of DefaultRules (NewRedis and
// NewMemory see to that).
func NewPolicy(lim Limiter) *Policy { return &Policy{lim: lim} }

// CheckLogin decides whether a login attempt from ip on account (Username or UserKey) may
// go ahead. Call it before any lookup or hashing, and after the attempt call LoginFailed or
// LoginSucceeded; a refused attempt calls neither.
//
// It counts the attempt against ip (RuleLoginIP), then refuses it if ip has failed too often
// on account (RuleLoginIPAccount), or if the account has had too many failures from
// anywhere (RuleLoginAccount: it is under attack) and ip is not clean for it, that is, has
// failed on it since its RuleLoginIPAccount bucket was last full.
func (p *Policy) CheckLogin(ctx context.Context, ip, account string) error {
	addr := ipKey(ip)
	if err := p.take(ctx, RuleLoginIP, addr); err != nil {
		return err
	}
	pair, err := p.lim.Peek(ctx, RuleLoginIPAccount, pairKey(addr, account))
	if err != nil {
		return err
	}
	if !pair.Allowed {
		return limited(RuleLoginIPAccount, pair.RetryAfter)
	}
	acct, err := p.lim.Peek(ctx, RuleLoginAccount, account)
	if err != nil {
		return err
	}
	if !acct.Allowed && pair.ResetAfter > 0 {
		// Either the account calms down or this address becomes clean, whichever is first.
		return limited(RuleLoginAccount, min(acct.RetryAfter, pair.ResetAfter))
	}
	return nil
}

// LoginFailed records that an attempt CheckLogin let through found wrong credentials, or
// no such account: unknown accounts must count alike, or the limits would tell which exist.
//
// The failure counts against the account and against ip on the account. If the account had
// no failures left (it is under attack, and ip was clean, or CheckLogin would have refused),
// ip's bucket on the account is drained instead: under attack, each clean address gets one
// guess per full RuleLoginIPAccount period, not one per refill interval.
func (p *Policy) LoginFailed(ctx context.Context, ip, account string) error {
	pair := pairKey(ipKey(ip), account)
	acct, err := p.lim.Allow(ctx, RuleLoginAccount, account)
	if err != nil {
		return err
	}
	if acct.Allowed {
		_, err = p.lim.Allow(ctx, RuleLoginIPAccount, pair)
		return err
	}
	return p.lim.Drain(ctx, RuleLoginIPAccount, pair)
}

// LoginSucceeded records a successful login: ip's failures on the account are forgiven, as
// the typos of someone who has now shown the right secret. The account's own count is left
// alone, so a user signing in during an attack does not hand the attacker a fresh budget.
func (p *Policy) LoginSucceeded(ctx context.Context, ip, account string) error {
	return p.lim.Reset(ctx, RuleLoginIPAccount, pairKey(ipKey(ip), account))
}

// CheckRefresh counts a refreshSession call from ip. Refresh tokens cannot be guessed, so
// the limit only keeps one address from flooding the store.
func (p *Policy) CheckRefresh(ctx context.Context, ip string) error {
	return p.take(ctx, RuleRefreshIP, ipKey(ip))
}

// CheckExternalLogin counts an external (OIDC) login from ip: each one costs a call to the
// identity provider.
func (p *Policy) CheckExternalLogin(ctx context.Context, ip string) error {
	return p.take(ctx, RuleExternalIP, ipKey(ip))
}

// CheckPasskey counts a passkey sign-in step (begun or finished) from ip. A signature cannot
// be guessed, so only the address is counted: the bound is on the ceremonies one client
// keeps in the store and the signatures it has the server check.
func (p *Policy) CheckPasskey(ctx context.Context, ip string) error {
	return p.take(ctx, RulePasskeyIP, ipKey(ip))
}

// CheckTOTP counts a TOTP code check for the user userID from ip, against the address's
// login budget and the account's TOTP budget. Every check counts, right or wrong: only
// someone who has passed the password step can make one, and a six-digit code needs a
// tight per-account bound (the default allows one guess a minute after five).
func (p *Policy) CheckTOTP(ctx context.Context, ip string, userID int64) error {
	if err := p.take(ctx, RuleLoginIP, ipKey(ip)); err != nil {
		return err
	}
	return p.take(ctx, RuleTOTPAccount, "uid:"+strconv.FormatInt(userID, 10))
}

// CheckPersistedQueryLookup counts a persisted query lookup (a hash sent without its query)
// from ip. Call it before the lookup, so that guessing hashes is as slow as the limit.
func (p *Policy) CheckPersistedQueryLookup(ctx context.Context, ip string) error {
	return p.take(ctx, RuleAPQLookupIP, ipKey(ip))
}

// CheckPersistedQueryRegistration counts a persisted query that ip asks to have kept. Call
// it only for a document that would be stored (valid, new, no inline credential).
func (p *Policy) CheckPersistedQueryRegistration(ctx context.Context, ip string) error {
	return p.take(ctx, RuleAPQRegisterIP, ipKey(ip))
}

// CheckSignUp counts a sign-up from ip naming the address email, against the address
// (RuleSignUpIP) and the recipient (RuleMailTo: a sign-up mails it).
func (p *Policy) CheckSignUp(ctx context.Context, ip, email string) error {
	if err := p.take(ctx, RuleSignUpIP, ipKey(ip)); err != nil {
		return err
	}
	return p.take(ctx, RuleMailTo, Recipient(email))
}

// CheckMail counts a request from ip for a mail to the address email, against the address
// (RuleMailIP) and the recipient (RuleMailTo).
func (p *Policy) CheckMail(ctx context.Context, ip, email string) error {
	if err := p.take(ctx, RuleMailIP, ipKey(ip)); err != nil {
		return err
	}
	return p.take(ctx, RuleMailTo, Recipient(email))
}

// CheckEmailCode decides whether a sign-in with an emailed code for the address email may go
// ahead: CheckLogin's rules (the address as the account), and none at all once the address
// has had too many wrong codes (RuleEmailCodeID), whoever asks. Record the outcome with
// EmailCodeFailed or LoginSucceeded.
func (p *Policy) CheckEmailCode(ctx context.Context, ip, email string) error {
	if err := p.CheckLogin(ctx, ip, Recipient(email)); err != nil {
		return err
	}
	res, err := p.lim.Peek(ctx, RuleEmailCodeID, Recipient(email))
	if err != nil {
		return err
	}
	if !res.Allowed {
		return limited(RuleEmailCodeID, res.RetryAfter)
	}
	return nil
}

// EmailCodeFailed records a wrong emailed code: LoginFailed's counts, and the address's
// RuleEmailCodeID.
func (p *Policy) EmailCodeFailed(ctx context.Context, ip, email string) error {
	if err := p.LoginFailed(ctx, ip, Recipient(email)); err != nil {
		return err
	}
	_, err := p.lim.Allow(ctx, RuleEmailCodeID, Recipient(email))
	return err
}

// CheckEmailToken counts a use of an emailed token from ip (RuleEmailTokenIP).
func (p *Policy) CheckEmailToken(ctx context.Context, ip string) error {
	return p.take(ctx, RuleEmailTokenIP, ipKey(ip))
}

// CheckIntrospection counts a token introspection request from ip. Call it before the caller
// is authenticated, so that guessing the shared secret is as slow as the limit.
func (p *Policy) CheckIntrospection(ctx context.Context, ip string) error {
	return p.take(ctx, RuleIntrospectIP, ipKey(ip))
}

// CheckSSO counts a step of sign-in through an identity provider from ip (RuleSSOIP).
func (p *Policy) CheckSSO(ctx context.Context, ip string) error {
	return p.take(ctx, RuleSSOIP, ipKey(ip))
}

// take counts one attempt under rule, refusing it when the bucket is empty.
func (p *Policy) take(ctx context.Context, rule, key string) error {
	res, err := p.lim.Allow(ctx, rule, key)
	if err != nil {
		return err
	}
	if !res.Allowed {
		return limited(rule, res.RetryAfter)
	}
	return nil
}

// pairKey is the key of an address on an account. The address's length comes first, so that
// no two pairs share a key whatever bytes an unparsable address holds.
func pairKey(addr, account string) string {
	return strconv.Itoa(len(addr)) + ":" + addr + "|" + account
}

func limited(rule string, d time.Duration) error { return &LimitedError{Rule: rule, Delay: d} }
