package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/token"
)

// SignUpPolicy says who may make a user in an account.
type SignUpPolicy string

// Sign-up policies.
const (
	// SignUpClosed: only admins make users (createUser). The default.
	SignUpClosed SignUpPolicy = "CLOSED"
	// SignUpInvite: an admin invites an address (CreateInvitation); its link sets the password.
	SignUpInvite SignUpPolicy = "INVITE"
	// SignUpOpen: anyone may sign up (SignUp), optionally only with addresses of
	// SignUpConfig.AllowedDomains.
	SignUpOpen SignUpPolicy = "OPEN"
)

// Valid reports whether p is a known policy.
func (p SignUpPolicy) Valid() bool {
	return p == SignUpClosed || p == SignUpInvite || p == SignUpOpen
}

// SignUpConfig is the deployment's sign-up rule (Config.SignUp).
type SignUpConfig struct {
	// Policy applies to every account that sets none of its own; "" means SignUpClosed.
	Policy SignUpPolicy
	// AllowedDomains, if not empty, are the only email domains an open sign-up accepts
	// (lower-case, exact: "example.com" does not admit "mail.example.com").
	AllowedDomains []string
}

// policyOf answers the sign-up policy that applies to account a.
func (s *Service) policyOf(a *Account) SignUpPolicy {
	if a.SignUp != "" {
		return a.SignUp
	}
	if s.cfg.SignUp.Policy != "" {
		return s.cfg.SignUp.Policy
	}
	return SignUpClosed
}

// SignUpRequest is a sign-up: a new user who names their own password and email.
type SignUpRequest struct {
	Account  string // slug; "" is the default account
	Username string
	Email    string
	Password string
}

// MsgSignUpClosed answers a sign-up the account's policy does not allow, and one naming an
// account that does not exist: a sign-up does not tell which accounts exist.
const MsgSignUpClosed = "Sign-up is not open for this account."

// SignUp makes a user with an unverified email and queues the verification mail, if the
// account's policy is OPEN (else FORBIDDEN). It answers the normalized address.
//
// An address that already belongs to a user of the account gets the same answer, and a
// mail saying so (with a link to recover the account) instead of a verification: a sign-up
// never tells whether an address is known. The username is checked first and a taken one is
// CONFLICT (usernames are what people sign in with, and a new user must pick a free one);
// since that check comes before the address's, a taken username says nothing about the
// address either. Both paths hash the password, so they take the same time.
//
// Counted per address and per email (AttemptSignUp) before any work.
func (s *Service) SignUp(ctx context.Context, in SignUpRequest) (string, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return "", err
	}
	if err := checkUsername(in.Username); err != nil {
		return "", err
	}
	// A sign-in tries the username first, then the address (see login): a stranger whose
	// username is someone's address would stop that someone signing in by it.
	if n, err := NormalizeEmail(in.Username); err == nil && n != email {
		return "", Errorf(CodeInvalidInput, "username must not be an email address other than yours")
	}
	if err := CheckPassword(in.Password, in.Username); err != nil {
		return "", err
	}
	if in.Account != "" {
		if err := checkSlug(in.Account); err != nil {
			return "", err
		}
	}
	if err := s.checkLimit(ctx, AttemptSignUp, ClientFrom(ctx).IP, email); err != nil {
		return "", err
	}
	a, err := s.accountNamed(ctx, in.Account)
	if errors.Is(err, ErrNotFound) || (err == nil && s.policyOf(a) != SignUpOpen) {
		return "", Errorf(CodeForbidden, MsgSignUpClosed)
	}
	if err != nil {
		return "", err
	}
	if d := s.cfg.SignUp.AllowedDomains; len(d) > 0 && !slices.Contains(d, domainOf(email)) {
		return "", Errorf(CodeInvalidInput, "sign-up is open only to addresses of certain domains")
	}
	if _, err := s.users.UserByUsername(ctx, a.ID, in.Username); err == nil {
		return "", Errorf(CodeConflict, "username is taken in this account")
	} else if !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("sign up: %w", err)
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return "", fmt.Errorf("sign up: hash password: %w", err)
	}
	owner, err := s.emails.UserByEmail(ctx, a.ID, email)
	switch {
	case err == nil:
		s.noteUser(ctx, audit.UserSignedUp, owner, Errorf(CodeConflict, ""), "")
		return email, s.mailAccountExists(ctx, a, owner)
	case !errors.Is(err, ErrNotFound):
		return "", fmt.Errorf("sign up: %w", err)
	}
	// Nothing is made but the token: the user exists only once the address is proven
	// (CompleteSignUp). So a sign-up leaves no trace a stranger can see (a username is not
	// claimed by a registration nobody confirmed), nobody can prepare an account in someone
	// else's name, and an unconfirmed registration expires with its token.
	extra, err := json.Marshal(pendingSignUp{Account: a.ID, Username: in.Username, Hash: hash, Email: email})
	if err != nil {
		return "", fmt.Errorf("sign up: %w", err)
	}
	tok, err := s.issueEmailToken(ctx, PurposeSignUp, 0, string(extra))
	if err != nil {
		return "", err
	}
	return email, s.sendMail(ctx, Mail{
		ID: mailID(MailVerifyEmail), To: email, ToName: in.Username, Kind: MailVerifyEmail,
		Link: accountLink("verify", url.Values{"token": {tok}}),
	})
}

// pendingSignUp is what a sign-up token carries: the registration to make once the address
// is proven. The hash is the password's argon2id hash, as a user record holds it.
type pendingSignUp struct {
	Account  int64  `json:"a"`
	Username string `json:"u"`
	Hash     string `json:"h"`
	Email    string `json:"e"`
}

// completeSignUp spends a sign-up token and makes its user, with the address verified. The
// account must still exist and still be open; a username or address taken since the sign-up
// is CONFLICT (sign up again). Anything else is TOKEN_INVALID.
func (s *Service) completeSignUp(ctx context.Context, plaintext string) (*User, error) {
	if token.Check(token.Emailed, plaintext) != nil {
		return nil, errTokenInvalid()
	}
	t, err := s.emails.ConsumeEmailToken(ctx, PurposeSignUp, token.Sum(plaintext))
	if err != nil {
		return nil, tokenStoreError(err)
	}
	var p pendingSignUp
	if err := json.Unmarshal([]byte(t.Extra), &p); err != nil || p.Username == "" || p.Email == "" {
		return nil, errTokenInvalid()
	}
	a, err := s.accounts.Account(ctx, p.Account)
	if errors.Is(err, ErrNotFound) || (err == nil && s.policyOf(a) != SignUpOpen) {
		return nil, Errorf(CodeForbidden, MsgSignUpClosed)
	} else if err != nil {
		return nil, fmt.Errorf("complete sign-up: %w", err)
	}
	u := &User{AccountID: a.ID, Username: p.Username, PasswordHash: p.Hash, Role: RoleMember, CreatedAt: s.clock.Now().UTC()}
	if err := s.users.CreateUser(ctx, u); errors.Is(err, ErrConflict) {
		return nil, Errorf(CodeConflict, "that username was taken since you signed up: sign up again with another")
	} else if err != nil {
		return nil, fmt.Errorf("complete sign-up: create user: %w", err)
	}
	// The id is kept apart: a failed SetEmail answers no user.
	id := u.ID
	// The account checked after the user is written, as createUserWith does: a DeleteAccount
	// racing this either sweeps the user or is seen here, and the user is taken back.
	if _, err := s.accounts.Account(ctx, a.ID); errors.Is(err, ErrNotFound) {
		if _, err := s.users.DeleteUser(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("complete sign-up: take back a user of a deleted account: %w", err)
		}
		return nil, Errorf(CodeForbidden, MsgSignUpClosed)
	} else if err != nil {
		return nil, fmt.Errorf("complete sign-up: check account: %w", err)
	}
	u, err = s.emails.SetEmail(ctx, id, p.Email, true)
	if err != nil {
		// Taken back in every case: a user without the address it signed up with would hold
		// its username with nobody able to recover it.
		if _, derr := s.users.DeleteUser(ctx, id); derr != nil && !errors.Is(derr, ErrNotFound) {
			return nil, fmt.Errorf("complete sign-up: take back user: %w", derr)
		}
		if errors.Is(err, ErrConflict) {
			return nil, Errorf(CodeConflict, "that address has an account already: sign in, or reset its password")
		}
		return nil, fmt.Errorf("complete sign-up: set email: %w", err)
	}
	s.noteUser(ctx, audit.UserSignedUp, u, nil, "")
	return u, nil
}

// accountLink is the link of a mail: the account page, with the view to open and its
// parameters in the fragment, which browsers never send to a server (so a token in it is in
// no request log, proxy log or Referer).
func accountLink(view string, params url.Values) string {
	if params == nil {
		params = url.Values{}
	}
	params.Set("view", view)
	return "/account/#" + params.Encode()
}

// domainOf answers the domain of a normalized address.
func domainOf(email string) string {
	_, d, _ := strings.Cut(email, "@")
	return d
}

// accountNamed answers the account with slug, the default one for "".
func (s *Service) accountNamed(ctx context.Context, slug string) (*Account, error) {
	if slug == "" {
		slug = DefaultAccountSlug
	}
	a, err := s.accounts.AccountBySlug(ctx, slug)
	if err != nil {
		return nil, fmt.Errorf("find account: %w", err)
	}
	return a, nil
}

// mailAccountExists tells the owner of an address that someone tried to sign up with it.
func (s *Service) mailAccountExists(ctx context.Context, a *Account, owner *User) error {
	return s.sendMail(ctx, Mail{
		ID: mailID(MailAccountExists), To: owner.Email, ToName: owner.Username, Kind: MailAccountExists,
		Link: accountLink("forgot", url.Values{"account": {a.Slug}, "email": {owner.Email}}),
	})
}

// SetAccountSignUpPolicy sets an account's own sign-up policy; "" makes it follow the
// deployment's again. Admins only.
func (s *Service) SetAccountSignUpPolicy(ctx context.Context, id int64, p SignUpPolicy) (ret *Account, rerr error) {
	defer func() { s.noteAccount(ctx, audit.AccountPolicySet, id, rerr, string(p)) }()
	if _, err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if p != "" && !p.Valid() {
		return nil, Errorf(CodeInvalidInput, "unknown sign-up policy")
	}
	a, err := s.accounts.UpdateAccount(ctx, id, func(a *Account) error {
		a.SignUp = p
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "account not found")
	}
	if err != nil {
		return nil, fmt.Errorf("set sign-up policy: %w", err)
	}
	return a, nil
}

// SignUpPolicyOf answers the policy that applies to an account, its own or the deployment's.
func (s *Service) SignUpPolicyOf(a *Account) SignUpPolicy { return s.policyOf(a) }
