package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/authgraph/authgraph/internal/token"
)

// CodeTokenInvalid: an emailed token or code is unknown, used, expired, of another purpose or
// of a user who no longer exists. One code and one message for all of them, so that an answer
// never tells which (a guesser learns nothing about the tokens that exist).
const CodeTokenInvalid Code = "TOKEN_INVALID"

// MsgTokenInvalid is the one message of CodeTokenInvalid.
const MsgTokenInvalid = "The token or code is invalid or has expired."

func errTokenInvalid() *Error { return &Error{Code: CodeTokenInvalid, Message: MsgTokenInvalid} }

// TokenPurpose is what an emailed token or code may be used for. A token is stored under its
// purpose, so one made for one purpose is never found when consumed for another.
type TokenPurpose string

// Purposes.
const (
	PurposeVerifyEmail   TokenPurpose = "VERIFY_EMAIL"
	PurposeResetPassword TokenPurpose = "RESET_PASSWORD"
	PurposeInvite        TokenPurpose = "INVITE"
	PurposeSignInCode    TokenPurpose = "SIGN_IN_CODE"
	PurposeChangeEmail   TokenPurpose = "CHANGE_EMAIL"
	// PurposeSignUp: a sign-up waiting for its address to be proven (signup.go); the token
	// carries the registration, and no user exists until it is spent.
	PurposeSignUp TokenPurpose = "SIGN_UP"
)

// Valid reports whether p is a known purpose.
func (p TokenPurpose) Valid() bool {
	_, ok := defaultTokenTTLs[p]
	return ok
}

// defaultTokenTTLs: long enough for a mail to arrive and be read, short enough that an old
// mailbox is not a key to the account. A sign-in code guards a session, so it lives least.
var defaultTokenTTLs = map[TokenPurpose]time.Duration{
	PurposeVerifyEmail:   24 * time.Hour,
	PurposeResetPassword: time.Hour,
	PurposeInvite:        7 * 24 * time.Hour,
	PurposeSignInCode:    10 * time.Minute,
	PurposeChangeEmail:   24 * time.Hour,
	PurposeSignUp:        24 * time.Hour,
}

// DefaultEmailCodeTries is how many wrong codes a short emailed code survives: a 6-digit
// code then falls to a guesser with a chance of 5 in a million per code sent.
const DefaultEmailCodeTries = 5

// EmailTokenConfig tunes emailed tokens (Config.EmailTokens).
type EmailTokenConfig struct {
	// TTL overrides the lifetime of a purpose's tokens and codes; a purpose absent or ≤ 0
	// keeps its default (verify 24 h, reset 1 h, invite 7 d, sign-in 10 min, change 24 h).
	TTL map[TokenPurpose]time.Duration
	// CodeTries is how many wrong short codes void one; 0 means DefaultEmailCodeTries.
	CodeTries int
}

// TokenTTL answers the lifetime of p's tokens under c.
func (c EmailTokenConfig) TokenTTL(p TokenPurpose) time.Duration {
	if d := c.TTL[p]; d > 0 {
		return d
	}
	return defaultTokenTTLs[p]
}

func (c EmailTokenConfig) codeTries() int {
	if c.CodeTries > 0 {
		return c.CodeTries
	}
	return DefaultEmailCodeTries
}

// EmailToken is what a store keeps of an emailed token: never the token, only its digest.
type EmailToken struct {
	Digest  token.Digest
	Purpose TokenPurpose
	UserID  int64
	// Extra is what the token binds besides its user: the address a verification was sent
	// to, the new address of an email change. The consumer checks it is still current.
	Extra     string
	ExpiresAt time.Time
}

// EmailTokenStore keeps emailed tokens and short codes, and the users' email addresses.
//
// Tokens and codes are never tied to a user's other records: their consumer checks that the
// user still exists (ids are never reused, so a token of a deleted user finds no one) and
// that what the token binds is still current. They expire on the store's clock.
type EmailTokenStore interface {
	// CreateEmailToken saves t until t.ExpiresAt; ErrConflict if a token of t's purpose with
	// t's digest exists (which 256 random bits make impossible short of a bug).
	CreateEmailToken(ctx context.Context, t *EmailToken) error
	// ConsumeEmailToken removes the token of purpose p with digest d and answers it, if it
	// exists and has not expired; else ErrNotFound. Of concurrent calls for one token exactly
	// one answers it. A token of another purpose is neither found nor removed.
	ConsumeEmailToken(ctx context.Context, p TokenPurpose, d token.Digest) (*EmailToken, error)
	// EmailToken answers the live token of purpose p with digest d without spending it;
	// else ErrNotFound. For the checks a flow makes before it spends its token (a second
	// factor that may be missing), never instead of ConsumeEmailToken.
	EmailToken(ctx context.Context, p TokenPurpose, d token.Digest) (*EmailToken, error)

	// SetEmailCode saves the digest of a short code for (userID, p) until expiresAt,
	// replacing the code saved before (and its count of wrong tries).
	SetEmailCode(ctx context.Context, userID int64, p TokenPurpose, d token.Digest, expiresAt time.Time) error
	// ConsumeEmailCode removes the code of (userID, p) and answers nil if it is d and has
	// not expired. Else it answers ErrNotFound, and a wrong d counts a try: the maxTries-th
	// wrong try removes the code. Atomic: of concurrent calls with the right code exactly one
	// succeeds, and no number of concurrent wrong ones gets more than maxTries tries.
	ConsumeEmailCode(ctx context.Context, userID int64, p TokenPurpose, d token.Digest, maxTries int) error

	// UserByEmail finds the user whose email is email (normalized, see NormalizeEmail) in an
	// account; ErrNotFound if none.
	UserByEmail(ctx context.Context, accountID int64, email string) (*User, error)
	// SetEmail sets the user's email (normalized; "" removes it) and EmailVerified, and
	// answers the user. It claims the address in the user's account first (ErrConflict if
	// another user has it, also one whose SetEmail is under way) and releases the user's
	// previous one after. CreateUser saves no email and UpdateUser keeps it: only SetEmail
	// changes it, and DeleteUser releases it.
	SetEmail(ctx context.Context, userID int64, email string, verified bool) (*User, error)
}

// issueEmailToken makes a token for purpose, bound to userID and extra, saves its digest
// until its purpose's TTL, and answers the plaintext to put in the mail (and nowhere else).
func (s *Service) issueEmailToken(ctx context.Context, purpose TokenPurpose, userID int64, extra string) (string, error) {
	if !purpose.Valid() {
		return "", fmt.Errorf("auth: issue email token: unknown purpose %q", purpose)
	}
	plain, err := token.New(token.Emailed)
	if err != nil {
		return "", fmt.Errorf("auth: issue email token: %w", err)
	}
	t := &EmailToken{
		Digest:    token.Sum(plain),
		Purpose:   purpose,
		UserID:    userID,
		Extra:     extra,
		ExpiresAt: s.clock.Now().Add(s.cfg.EmailTokens.TokenTTL(purpose)),
	}
	if err := s.emails.CreateEmailToken(ctx, t); err != nil {
		return "", fmt.Errorf("auth: issue email token: %w", err)
	}
	return plain, nil
}

// consumeEmailToken spends the token plaintext of purpose and answers its user (read now)
// and its Extra. Anything but a live token of that purpose whose user exists is
// CodeTokenInvalid with one message; an outage stays an outage (the token is then unspent
// or spent, as the store got it, and the caller may retry).
//
// The caller checks that Extra is still current (a verification's address is still the
// user's) and whether a disabled user may go on.
func (s *Service) consumeEmailToken(ctx context.Context, purpose TokenPurpose, plaintext string) (*User, string, error) {
	// A malformed string is refused before the store: it cannot be a token.
	if !purpose.Valid() || token.Check(token.Emailed, plaintext) != nil {
		return nil, "", errTokenInvalid()
	}
	t, err := s.emails.ConsumeEmailToken(ctx, purpose, token.Sum(plaintext))
	if err != nil {
		return nil, "", tokenStoreError(err)
	}
	// The store removed the token, so whatever follows it is spent: a token is single use
	// even when its user has gone.
	u, err := s.users.User(ctx, t.UserID)
	if err != nil {
		return nil, "", tokenStoreError(err)
	}
	return u, t.Extra, nil
}

// emailCodeDigits is the length of a short emailed code.
const emailCodeDigits = 6

// issueEmailCode makes a 6-digit code for (userID, purpose), mailed to addr, replacing any
// earlier one, and answers it. Only a digest bound to the user, purpose and address is stored.
func (s *Service) issueEmailCode(ctx context.Context, purpose TokenPurpose, userID int64, addr string) (string, error) {
	if !purpose.Valid() {
		return "", fmt.Errorf("auth: issue email code: unknown purpose %q", purpose)
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("auth: issue email code: %w", err)
	}
	code := fmt.Sprintf("%0*d", emailCodeDigits, n.Int64())
	exp := s.clock.Now().Add(s.cfg.EmailTokens.TokenTTL(purpose))
	if err := s.emails.SetEmailCode(ctx, userID, purpose, emailCodeDigest(purpose, userID, addr, code), exp); err != nil {
		return "", fmt.Errorf("auth: issue email code: %w", err)
	}
	return code, nil
}

// consumeEmailCode spends the code of (userID, purpose) mailed to addr if code is it.
// Anything else is CodeTokenInvalid with one message, and a wrong code uses up one of the
// code's tries.
func (s *Service) consumeEmailCode(ctx context.Context, purpose TokenPurpose, userID int64, addr, code string) error {
	if !purpose.Valid() || !isEmailCode(code) {
		// Not counted as a try: it cannot be the code, so it guesses nothing.
		return errTokenInvalid()
	}
	err := s.emails.ConsumeEmailCode(ctx, userID, purpose, emailCodeDigest(purpose, userID, addr, code), s.cfg.EmailTokens.codeTries())
	if err != nil {
		return tokenStoreError(err)
	}
	return nil
}

func isEmailCode(code string) bool {
	if len(code) != emailCodeDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// emailCodeDigest binds a code to its user, purpose and the address it was mailed to (so a
// code sent to an address the user no longer has is wrong: see LoginEmailCode). A million
// codes are quickly hashed, so the digest hides a code only from a glance: what protects it
// is its short life and the tries limit, which the store enforces.
func emailCodeDigest(purpose TokenPurpose, userID int64, addr, code string) token.Digest {
	return sha256.Sum256([]byte(string(purpose) + "\x00" + strconv.FormatInt(userID, 10) + "\x00" + addr + "\x00" + code))
}

// tokenStoreError turns a store's answer to a token or code lookup into the service's: not
// found is the one invalid-token answer; an outage stays one.
func tokenStoreError(err error) error {
	if errors.Is(err, ErrNotFound) {
		return errTokenInvalid()
	}
	return fmt.Errorf("auth: email token: %w", err)
}
