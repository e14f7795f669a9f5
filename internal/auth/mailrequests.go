package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
)

// The public requests for a mail (a password reset, a sign-in code, a new verification) name
// an address that may or may not be a user's. They answer the same either way, in the same
// time: the request path validates, counts the request against the limits and queues one
// deferred mail (one write, whoever the address is); a mail worker then calls ExpandMail,
// which looks the address up, issues the token or code and answers the mail to send, or
// nothing for an address no user has. The durable queue keeps the request if the replica
// dies before the worker runs.

// RequestPasswordReset asks for a password-reset mail to email, for the user of account
// ("" the default) with that address; nothing is sent if there is none, or the user is
// disabled. Always the same answer.
func (s *Service) RequestPasswordReset(ctx context.Context, account, email string) (string, error) {
	return s.requestMail(ctx, MailResetPassword, account, email)
}

// RequestSignInCode asks for a mail with a sign-in code (and a link holding it) to email;
// see RequestPasswordReset.
func (s *Service) RequestSignInCode(ctx context.Context, account, email string) (string, error) {
	return s.requestMail(ctx, MailSignInCode, account, email)
}

// RequestEmailVerification asks for a new verification mail to email, if it is a user's
// unverified address; see RequestPasswordReset.
func (s *Service) RequestEmailVerification(ctx context.Context, account, email string) (string, error) {
	return s.requestMail(ctx, MailVerifyEmail, account, email)
}

func (s *Service) requestMail(ctx context.Context, kind MailKind, account, email string) (string, error) {
	addr, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	if account != "" {
		if err := checkSlug(account); err != nil {
			return "", err
		}
	}
	if err := s.checkLimit(ctx, AttemptMail, ClientFrom(ctx).IP, addr); err != nil {
		return "", err
	}
	m := Mail{ID: mailID(kind), To: addr, Kind: kind, Deferred: true, Data: map[string]string{"account": account}}
	if err := s.sendMail(ctx, m); err != nil {
		return "", err
	}
	return addr, nil
}

// ExpandMail completes a deferred mail (Mail.Deferred) in a mail worker: it answers the mail
// to send, with the request's ID, or ok false when nothing is to be sent (no such account or
// user, a disabled user, an address verified already). An error is an outage: the worker
// retries later. A retry issues a new token (the one of the failed try is never mailed and
// expires).
func (s *Service) ExpandMail(ctx context.Context, m Mail) (out Mail, ok bool, err error) {
	if !m.Deferred {
		return m, true, nil
	}
	a, err := s.accountNamed(ctx, m.Data["account"])
	if errors.Is(err, ErrNotFound) {
		return Mail{}, false, nil
	} else if err != nil {
		return Mail{}, false, err
	}
	u, err := s.emails.UserByEmail(ctx, a.ID, m.To)
	if errors.Is(err, ErrNotFound) {
		return Mail{}, false, nil
	} else if err != nil {
		return Mail{}, false, fmt.Errorf("expand mail: %w", err)
	}
	if u.Disabled || u.Email != m.To {
		return Mail{}, false, nil
	}
	out = Mail{ID: m.ID, To: u.Email, ToName: u.Username, Kind: m.Kind}
	switch m.Kind {
	case MailResetPassword:
		tok, err := s.issuePasswordReset(ctx, u)
		if err != nil {
			return Mail{}, false, err
		}
		out.Link = accountLink("reset", url.Values{"token": {tok}})
	case MailSignInCode:
		code, err := s.issueEmailCode(ctx, PurposeSignInCode, u.ID, u.Email)
		if err != nil {
			return Mail{}, false, err
		}
		out.Data = map[string]string{"code": code}
		out.Link = accountLink("code", url.Values{"account": {a.Slug}, "email": {u.Email}, "code": {code}})
	case MailVerifyEmail:
		if u.EmailVerified {
			return Mail{}, false, nil
		}
		tok, err := s.issueEmailVerification(ctx, u)
		if err != nil {
			return Mail{}, false, err
		}
		out.Link = accountLink("verify", url.Values{"token": {tok}})
	default:
		return Mail{}, false, fmt.Errorf("expand mail: no deferred mail of kind %q", m.Kind)
	}
	return out, true, nil
}

// codeRetryWindow is how long a right sign-in code stays good after it met OTP_REQUIRED:
// time to open the authenticator app and type its code.
const codeRetryWindow = 3 * time.Minute

// EmailCodeLogin is a sign-in with a code from a sign-in mail.
type EmailCodeLogin struct {
	Account string // slug; "" is the default account
	Email   string
	Code    string
	OTP     string // with TOTP on: a TOTP or recovery code (the mailbox is one factor)
	Name    string
}

// LoginEmailCode signs in the user of account with address email, with the code a
// RequestSignInCode mail held. The code is single use, lives 10 minutes (configurable) and
// dies after 5 wrong tries; a wrong, used or expired code, or an address no user has, is
// TOKEN_INVALID, after the same store work. The sign-in proves the user reads the address, so
// it becomes verified. Counted per address and per email as password sign-ins are.
func (s *Service) LoginEmailCode(ctx context.Context, in EmailCodeLogin, opts ...LoginOption) (*NewSession, error) {
	if err := checkLabel("name", in.Name); err != nil {
		return nil, err
	}
	addr, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if in.Account != "" {
		if err := checkSlug(in.Account); err != nil {
			return nil, err
		}
	}
	ip := ClientFrom(ctx).IP
	if err := s.checkLimit(ctx, AttemptEmailCode, ip, addr); err != nil {
		return nil, err
	}
	tr := signInTrace{method: MethodEmailCode, otp: in.OTP != ""}
	ns, err := s.loginEmailCode(ctx, in, addr, opts, &tr)
	s.noteSignIn(ctx, &tr, ns, err)
	if ErrorCode(err) == CodeTokenInvalid {
		if rerr := s.limiter().Record(ctx, AttemptEmailCode, ip, addr, false); rerr != nil {
			return nil, rerr
		}
	} else if err == nil {
		_ = s.limiter().Record(ctx, AttemptEmailCode, ip, addr, true)
	}
	return ns, err
}

func (s *Service) loginEmailCode(ctx context.Context, in EmailCodeLogin, addr string, opts []LoginOption, tr *signInTrace) (*NewSession, error) {
	if len(in.Code) != emailCodeDigits {
		return nil, errTokenInvalid()
	}
	var u *User
	a, err := s.accountNamed(ctx, in.Account)
	if err == nil {
		u, err = s.emails.UserByEmail(ctx, a.ID, addr)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		// The store work of a wrong code, for a user id that never exists.
		_ = s.emails.ConsumeEmailCode(ctx, 0, PurposeSignInCode, emailCodeDigest(PurposeSignInCode, 0, addr, in.Code), s.cfg.EmailTokens.codeTries())
		return nil, errTokenInvalid()
	case err != nil:
		return nil, fmt.Errorf("email code sign-in: %w", err)
	}
	// Bound to the address as well: a code mailed to an address the user had before (and
	// may have left because someone else reads it) is wrong for the one they have now.
	tr.user = u
	digest := emailCodeDigest(PurposeSignInCode, u.ID, addr, in.Code)
	err = s.emails.ConsumeEmailCode(ctx, u.ID, PurposeSignInCode, digest, s.cfg.EmailTokens.codeTries())
	if err != nil {
		return nil, tokenStoreError(err)
	}
	if u.Disabled {
		return nil, errTokenInvalid()
	}
	if err := s.checkSecondFactor(ctx, ClientFrom(ctx).IP, u.ID, in.OTP); err != nil {
		// The code was right: it is put back for a short while (codeRetryWindow, its tries
		// counted anew), so the client can send it again with the TOTP code, as a reset
		// keeps its token. Only the holder of the right code gets here, each TOTP try is
		// limited, and a code left without its TOTP code dies within the window.
		if ErrorCode(err) == CodeOTPRequired {
			exp := s.clock.Now().Add(min(codeRetryWindow, s.cfg.EmailTokens.TokenTTL(PurposeSignInCode)))
			if rerr := s.emails.SetEmailCode(ctx, u.ID, PurposeSignInCode, digest, exp); rerr != nil {
				return nil, fmt.Errorf("email code sign-in: keep the code: %w", rerr)
			}
		}
		return nil, err
	}
	if !u.EmailVerified {
		if _, err := s.users.UpdateUser(ctx, u.ID, func(cur *User) error {
			if cur.Email == addr {
				cur.EmailVerified = true
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("email code sign-in: verify address: %w", err)
		}
	}
	// Bound to the password version read with the user, as a password sign-in's session is:
	// a reset that runs meanwhile ends every session, and the store refuses this one if it
	// comes after the reset's sweep (see SessionStore.CreateSession).
	version := u.PasswordVersion
	return s.startSession(ctx, &Session{UserID: u.ID, Method: MethodEmailCode, Name: in.Name, PasswordVersion: &version}, opts)
}

// ChangeEmail starts a change of the current user's address: it needs the current password
// (counted as a sign-in's guess), queues a mail to the new address whose link confirms the
// change (VerifyEmail takes it) and a notice to the old one. Nothing changes until the link
// is followed. It answers the new address, normalized. account:write.
func (s *Service) ChangeEmail(ctx context.Context, newEmail, password string) (ret string, rerr error) {
	defer func() { s.noteSelf(ctx, audit.EmailChangeStarted, rerr, "") }()
	p, err := requireScope(ctx, ScopeAccountWrite)
	if err != nil {
		return "", err
	}
	addr, err := NormalizeEmail(newEmail)
	if err != nil {
		return "", err
	}
	if err := s.checkLimit(ctx, AttemptMail, ClientFrom(ctx).IP, addr); err != nil {
		return "", err
	}
	u, err := s.verifyCurrentPassword(ctx, p, password)
	if err != nil {
		return "", err
	}
	if u.Email == addr {
		return "", Errorf(CodeInvalidInput, "that is already your email address")
	}
	tok, addr, err := s.issueEmailChange(ctx, u, addr)
	if err != nil {
		return "", err
	}
	if err := s.sendMail(ctx, Mail{
		ID: mailID(MailVerifyEmail), To: addr, ToName: u.Username, Kind: MailVerifyEmail,
		Link: accountLink("verify", url.Values{"token": {tok}}),
	}); err != nil {
		return "", err
	}
	if u.Email != "" {
		if err := s.sendMail(ctx, Mail{ID: mailID(MailEmailChanged), To: u.Email, ToName: u.Username, Kind: MailEmailChanged}); err != nil {
			return "", err
		}
	}
	return addr, nil
}

// ConfirmEmail spends a token from a verification mail: one sent to verify a user's
// address (VerifyEmail), one confirming a change of address (ConfirmEmailChange), or one
// that completes a sign-up (completeSignUp: the user is made now). Public:
// the token is the proof. TOKEN_INVALID for anything but a live token of either kind.
func (s *Service) ConfirmEmail(ctx context.Context, tok string) (*User, error) {
	if err := s.checkLimit(ctx, AttemptEmailToken, ClientFrom(ctx).IP, ""); err != nil {
		return nil, err
	}
	u, err := s.VerifyEmail(ctx, tok)
	if ErrorCode(err) != CodeTokenInvalid {
		return u, err
	}
	if u, err = s.ConfirmEmailChange(ctx, tok); ErrorCode(err) != CodeTokenInvalid {
		return u, err
	}
	return s.completeSignUp(ctx, tok)
}

// SendPasswordReset queues a password-reset mail to a user's address, so that an admin
// never sets or sees a password. BAD_USER_INPUT for a user without an address. Admins and
// account admins (their account's users).
func (s *Service) SendPasswordReset(ctx context.Context, id int64) (ret *User, rerr error) {
	defer func() { s.noteUser(ctx, audit.PasswordResetSent, ret, rerr, "") }()
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.managedUser(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if u.Email == "" {
		return nil, Errorf(CodeInvalidInput, "the user has no email address")
	}
	if err := s.checkLimit(ctx, AttemptMail, ClientFrom(ctx).IP, u.Email); err != nil {
		return nil, err
	}
	tok, err := s.issuePasswordReset(ctx, u)
	if err != nil {
		return nil, err
	}
	return u, s.sendMail(ctx, Mail{
		ID: mailID(MailResetPassword), To: u.Email, ToName: u.Username, Kind: MailResetPassword,
		Link: accountLink("reset", url.Values{"token": {tok}}),
	})
}

// mailPasswordChanged tells a user their password changed. Best effort: the change is made,
// and a queue that cannot take the notice must not undo it or report it as failed.
func (s *Service) mailPasswordChanged(ctx context.Context, u *User) {
	if u.Email == "" {
		return
	}
	_ = s.sendMail(ctx, Mail{ID: mailID(MailPasswordChanged), To: u.Email, ToName: u.Username, Kind: MailPasswordChanged})
}
