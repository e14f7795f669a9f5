package auth

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/token"
)

// TOTP second factor (RFC 6238, through github.com/pquerna/otp): the `otp` field of a
// password sign-in.
//
// Enrolment is two steps: EnableTOTP makes a secret and keeps it pending for enrolmentTTL;
// ConfirmTOTP checks a code made from it, turns TOTP on and answers the one-time recovery
// codes. From then on a password login needs a valid code (or a recovery code) as well; a
// user key login does not (the key is itself a high-entropy credential meant for programs,
// which cannot answer a TOTP prompt). EnableTOTP needs the password, DisableTOTP a current
// code or the password: a session alone can neither add nor remove the second factor.
//
// Codes: 6 digits, SHA-1, 30-second steps, as every authenticator app understands. A code is
// accepted for the current step and one step either side (±30 s of clock skew between phone
// and server, RFC 6238 §5.2), and only once: the store records the last accepted step per
// user, atomically, and refuses any step at or before it, so a code seen over a shoulder or
// in a proxy log cannot be replayed, not even by a concurrent request.

// TOTP is a user's active second factor.
type TOTP struct {
	// Secret is the shared secret, sealed (internal/seal): AES-256-GCM when the operator
	// configured AUTHGRAPH_SECRET_KEY, plaintext otherwise.
	Secret []byte
	// LastStep is the last 30-second time step a code was accepted for.
	LastStep int64
	// RecoveryCodes is how many unused recovery codes remain.
	RecoveryCodes int
}

// PendingTOTP is a secret being enrolled, until ConfirmTOTP or ExpiresAt.
type PendingTOTP struct {
	Secret    []byte // sealed, as TOTP.Secret
	ExpiresAt time.Time
}

// TOTPStore keeps second factors. Every method of one user is atomic with the others.
type TOTPStore interface {
	// SetPendingTOTP saves an enrolment until p.ExpiresAt, replacing any earlier one.
	SetPendingTOTP(ctx context.Context, userID int64, p *PendingTOTP) error
	// PendingTOTP answers the enrolment under way; ErrNotFound if none or expired.
	PendingTOTP(ctx context.Context, userID int64) (*PendingTOTP, error)
	// EnableTOTP turns TOTP on with the pending secret, if the pending secret is still
	// secret (else ErrNotFound: it expired or was replaced). It records step as the last
	// accepted step, keeps the recovery code digests and drops the enrolment. ErrConflict if
	// TOTP is on already. Of concurrent calls, at most one succeeds.
	EnableTOTP(ctx context.Context, userID int64, secret []byte, step int64, recovery []token.Digest) error
	// TOTP answers the user's second factor; ErrNotFound if TOTP is off.
	TOTP(ctx context.Context, userID int64) (*TOTP, error)
	// UseTOTPStep records step as the last accepted one if it is after the last accepted one;
	// ErrConflict if it is not (a replay), ErrNotFound if TOTP is off. Of concurrent calls
	// with one step, exactly one succeeds.
	UseTOTPStep(ctx context.Context, userID int64, step int64) error
	// UseRecoveryCode removes the recovery code with digest d; ErrNotFound if the user has no
	// such code (or TOTP is off). Of concurrent calls with one code, exactly one succeeds.
	UseRecoveryCode(ctx context.Context, userID int64, d token.Digest) error
	// DisableTOTP turns TOTP off: secret, last step, recovery codes and any enrolment go.
	// ErrNotFound if TOTP was off.
	DisableTOTP(ctx context.Context, userID int64) error
}

const (
	totpIssuer     = "authgraph"
	totpPeriod     = 30 // seconds per step
	totpSkew       = 1  // steps accepted either side of the current one
	totpSecretSize = 20 // bytes: 160 bits, RFC 4226's recommended key length for HMAC-SHA1
	enrolmentTTL   = 15 * time.Minute

	recoveryCodeCount = 10
	recoveryCodeBytes = 10 // 80 bits each: 16 base32 characters
	maxOTPLen         = 64 // longer input is no code of ours, whatever it holds
)

// totpOpts checks one step exactly: the skew is applied by matchingSteps, which needs to know
// which step matched.
var totpOpts = totp.ValidateOpts{Period: totpPeriod, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// MsgOTPRequired is the one answer for a missing, wrong or expired code: telling them apart
// would only help someone guessing.
const MsgOTPRequired = "A valid one-time password is required: the otp was missing or invalid."

// MsgOTPReused adds to MsgOTPRequired when the code was right but its time step was used
// already, the usual case being a person who signs in twice within 30 seconds. It tells a
// guesser nothing: it is given only after the password was verified, and only for a code
// that is right for a step nobody can use any more.
const MsgOTPReused = MsgOTPRequired + " This code was used already: wait for the next code."

func otpRequired() error { return &Error{Code: CodeOTPRequired, Message: MsgOTPRequired} }

func otpReused() error { return &Error{Code: CodeOTPRequired, Message: MsgOTPReused} }

// TOTPEnrollment is what EnableTOTP answers: the secret to put in an authenticator app, by
// hand or as an otpauth:// URI (usually shown as a QR code).
type TOTPEnrollment struct {
	Secret    string // base32
	URI       string // otpauth://totp/authgraph:<username>?secret=…&issuer=authgraph&…
	ExpiresAt time.Time
}

// EnableTOTP starts enrolling the current user: it makes a new secret and keeps it pending
// until ConfirmTOTP (or enrolmentTTL). Calling it again replaces the pending secret. If TOTP
// is on already, it must be disabled first.
//
// Like every sensitive change it needs the account:write scope (never on a key's session) and
// a recent sign-in (RequireRecentAuthentication), and, as ChangePassword and DisableTOTP, the
// current password (verifyCurrentPassword: INVALID_CREDENTIALS if wrong, each guess counted
// as a login's). A session alone, stolen within the reauthentication window, could otherwise
// enrol an authenticator of its own and lock the owner out of every later password sign-in.
// No other factor can stand in for the password: TOTP is off while enrolling, and the
// sign-in behind the session (a password, or an external provider) is exactly what a stolen
// session already carries. ConfirmTOTP needs no password: its code proves knowledge of the
// secret that only this password-checked call answered.
func (s *Service) EnableTOTP(ctx context.Context, password string) (ret *TOTPEnrollment, rerr error) {
	defer func() { s.noteSelf(ctx, audit.TOTPEnrollStarted, rerr, "") }()
	p, err := requireScope(ctx, ScopeAccountWrite)
	if err != nil {
		return nil, err
	}
	if err := s.RequireRecentAuthentication(ctx); err != nil {
		return nil, err
	}
	if password == "" {
		return nil, Errorf(CodeInvalidInput, "enableTotp needs the current password in password")
	}
	uid := p.User.ID
	if _, err := s.factors.TOTP(ctx, uid); err == nil {
		return nil, Errorf(CodeConflict, "TOTP is already enabled; disable it first to enrol a new authenticator")
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("read totp: %w", err)
	}
	// Checked before the pending secret is replaced: a wrong password changes nothing.
	if _, err := s.verifyCurrentPassword(ctx, p, password); err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: totpIssuer, AccountName: p.User.Username, Period: totpPeriod,
		SecretSize: totpSecretSize, Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm, Rand: rand.Reader,
	})
	if err != nil {
		return nil, fmt.Errorf("generate totp secret: %w", err)
	}
	sealed, err := s.box.Seal([]byte(key.Secret()), totpAD(uid))
	if err != nil {
		return nil, fmt.Errorf("seal totp secret: %w", err)
	}
	expires := s.clock.Now().UTC().Add(enrolmentTTL)
	if err := s.factors.SetPendingTOTP(ctx, uid, &PendingTOTP{Secret: sealed, ExpiresAt: expires}); err != nil {
		return nil, fmt.Errorf("save totp enrolment: %w", err)
	}
	return &TOTPEnrollment{Secret: key.Secret(), URI: key.URL(), ExpiresAt: expires}, nil
}

// ConfirmTOTP finishes enrolment with a code from the pending secret: TOTP is on from now, and
// the answer holds the recovery codes, shown this once (only their SHA-256 digests are kept).
func (s *Service) ConfirmTOTP(ctx context.Context, code string) (ret []string, rerr error) {
	defer func() { s.noteSelf(ctx, audit.TOTPEnabled, rerr, "") }()
	p, err := requireScope(ctx, ScopeAccountWrite)
	if err != nil {
		return nil, err
	}
	uid := p.User.ID
	pending, err := s.factors.PendingTOTP(ctx, uid)
	if errors.Is(err, ErrNotFound) {
		if _, err := s.factors.TOTP(ctx, uid); err == nil {
			return nil, Errorf(CodeConflict, "TOTP is already enabled")
		}
		return nil, Errorf(CodeConflict, "no TOTP enrolment is under way (or it expired): call enableTotp first")
	}
	if err != nil {
		return nil, fmt.Errorf("read totp enrolment: %w", err)
	}
	secret, err := s.openSecret(uid, pending.Secret)
	if err != nil {
		return nil, err
	}
	steps := s.matchingSteps(secret, code)
	if len(steps) == 0 {
		return nil, otpRequired()
	}
	codes, digests, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	// The latest matching step is used up by the confirmation, so the code just typed cannot
	// also sign in.
	switch err := s.factors.EnableTOTP(ctx, uid, pending.Secret, steps[len(steps)-1], digests); {
	case errors.Is(err, ErrConflict):
		return nil, Errorf(CodeConflict, "TOTP is already enabled")
	case errors.Is(err, ErrNotFound):
		return nil, Errorf(CodeConflict, "the TOTP enrolment was replaced or expired: call enableTotp again")
	case err != nil:
		return nil, fmt.Errorf("enable totp: %w", err)
	}
	return codes, nil
}

// DisableTOTP turns the current user's TOTP off. It needs exactly one proof: a current code
// (a TOTP code or a recovery code, which is used up), or the password. A stolen session alone
// thus cannot remove the second factor. It also needs the account:write scope and a recent
// sign-in (RequireRecentAuthentication).
func (s *Service) DisableTOTP(ctx context.Context, code, password string) (rerr error) {
	defer func() { s.noteSelf(ctx, audit.TOTPDisabled, rerr, "") }()
	p, err := requireScope(ctx, ScopeAccountWrite)
	if err != nil {
		return err
	}
	if err := s.RequireRecentAuthentication(ctx); err != nil {
		return err
	}
	if (code == "") == (password == "") {
		return Errorf(CodeInvalidInput, "give either a code or the password")
	}
	uid := p.User.ID
	t, err := s.factors.TOTP(ctx, uid)
	if errors.Is(err, ErrNotFound) {
		return Errorf(CodeConflict, "TOTP is not enabled")
	}
	if err != nil {
		return fmt.Errorf("read totp: %w", err)
	}
	// A stolen session may guess here: the guesses count as the logins' do.
	if password != "" {
		if _, err := s.verifyCurrentPassword(ctx, p, password); err != nil {
			return err
		}
	} else {
		if err := s.checkLimit(ctx, AttemptTOTP, ClientFrom(ctx).IP, strconv.FormatInt(uid, 10)); err != nil {
			return err
		}
		ok, err := s.verifyOTP(ctx, uid, t, code)
		if err != nil {
			return err
		}
		if !ok {
			return otpRequired()
		}
	}
	if err := s.factors.DisableTOTP(ctx, uid); errors.Is(err, ErrNotFound) {
		return Errorf(CodeConflict, "TOTP is not enabled")
	} else if err != nil {
		return fmt.Errorf("disable totp: %w", err)
	}
	return nil
}

// TOTPEnabled reports whether a user has TOTP on. The caller may ask about themselves, or
// about anyone as an admin.
func (s *Service) TOTPEnabled(ctx context.Context, userID int64) (bool, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return false, err
	}
	if !canSee(p, userID) {
		return false, Errorf(CodeNotFound, "user not found")
	}
	_, err = s.factors.TOTP(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read totp: %w", err)
	}
	return true, nil
}

// checkSecondFactor is the login's second step, run only once the password has been verified:
// nil if the user has no TOTP, or otp is a valid, unused TOTP or recovery code, or (with no
// otp) passkey is a valid passkey assertion of the user; OTP_REQUIRED otherwise.
//
// Every code checked counts against the Limiter (AttemptTOTP, by ip and user), right or
// wrong; a missing code (the prompt) does not.
func (s *Service) checkSecondFactor(ctx context.Context, ip string, userID int64, code string, passkey ...[]byte) error {
	t, err := s.factors.TOTP(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read totp: %w", err)
	}
	// A passkey of the user stands in for the code (passkeys.go): it is a second factor of
	// its own, and a stronger one.
	if code == "" && len(passkey) > 0 && len(passkey[0]) > 0 {
		return s.passkeyFactor(ctx, ip, userID, passkey[0])
	}
	if code == "" {
		return otpRequired()
	}
	if err := s.checkLimit(ctx, AttemptTOTP, ip, strconv.FormatInt(userID, 10)); err != nil {
		return err
	}
	ok, err := s.verifyOTP(ctx, userID, t, code)
	if err != nil {
		return err
	}
	if !ok {
		return otpRequired()
	}
	return nil
}

// verifyOTP reports whether code is a valid, unused TOTP code or recovery code of the user, and
// uses it up. A TOTP code that is right but whose steps were all used already answers the
// otpReused error. Callers run it only after the password (or the session) was checked.
func (s *Service) verifyOTP(ctx context.Context, userID int64, t *TOTP, code string) (bool, error) {
	if len(code) > maxOTPLen {
		return false, nil
	}
	if digits := stripSpaces(code); isTOTPCode(digits) {
		secret, err := s.openSecret(userID, t.Secret)
		if err != nil {
			return false, err
		}
		// Of the steps the code is right for, oldest first, the first that the store accepts
		// as newer than the last used one. Each acceptance is one atomic store operation.
		steps := s.matchingSteps(secret, digits)
		reused := 0
		for _, step := range steps {
			err := s.factors.UseTOTPStep(ctx, userID, step)
			switch {
			case err == nil:
				return true, nil
			case errors.Is(err, ErrConflict): // used already (a replay)
				reused++
			case errors.Is(err, ErrNotFound): // TOTP was turned off meanwhile
			default:
				return false, fmt.Errorf("use totp step: %w", err)
			}
		}
		if reused > 0 && reused == len(steps) {
			return false, otpReused()
		}
		return false, nil
	}
	rc, ok := normalizeRecoveryCode(code)
	if !ok {
		return false, nil
	}
	err := s.factors.UseRecoveryCode(ctx, userID, token.Sum(rc))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("use recovery code: %w", err)
}

// matchingSteps answers, ascending, the time steps within the allowed skew of now for which
// code is the right TOTP code. The codes are computed by pquerna/otp, one step at a time.
func (s *Service) matchingSteps(secret, code string) []int64 {
	code = stripSpaces(code)
	if !isTOTPCode(code) {
		return nil
	}
	current := floorDiv(s.clock.Now().Unix(), totpPeriod)
	var steps []int64
	for step := current - totpSkew; step <= current+totpSkew; step++ {
		ok, err := totp.ValidateCustom(code, secret, time.Unix(step*totpPeriod, 0).UTC(), totpOpts)
		if err == nil && ok {
			steps = append(steps, step)
		}
	}
	return steps
}

func (s *Service) openSecret(userID int64, sealed []byte) (string, error) {
	b, err := s.box.Open(sealed, totpAD(userID))
	if err != nil {
		// An encrypted secret and no (or another) AUTHGRAPH_SECRET_KEY: an operator error,
		// logged as internal, never shown.
		return "", fmt.Errorf("open totp secret of user %d: %w", userID, err)
	}
	return string(b), nil
}

// totpAD binds a sealed secret to its owner: copied onto another user, it does not open.
func totpAD(userID int64) []byte {
	return []byte("authgraph totp secret of user " + strconv.FormatInt(userID, 10))
}

// Recovery codes are 80 random bits (crypto/rand), shown as 16 lowercase base32 characters in
// groups of four ("abcd-efgh-ijkl-mnop"). They are stored as SHA-256 digests, not argon2id:
// a slow hash protects low-entropy secrets (passwords) from offline guessing, but guessing an
// 80-bit random value against even a fast hash is out of reach (2^80 SHA-256 computations),
// and a plain digest lets a code be found and removed by value in one atomic store operation,
// instead of running argon2 against each of the user's ten codes at every use.
var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newRecoveryCodes() ([]string, []token.Digest, error) {
	codes := make([]string, recoveryCodeCount)
	digests := make([]token.Digest, recoveryCodeCount)
	for i := range codes {
		var raw [recoveryCodeBytes]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, nil, fmt.Errorf("recovery code: %w", err)
		}
		c := strings.ToLower(recoveryEncoding.EncodeToString(raw[:]))
		codes[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
		digests[i] = token.Sum(c)
	}
	return codes, digests, nil
}

// normalizeRecoveryCode answers the canonical form of a recovery code as typed (any case,
// with or without hyphens and spaces), and whether it can be one.
func normalizeRecoveryCode(code string) (string, bool) {
	c := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	if len(c) != 16 {
		return "", false
	}
	if _, err := recoveryEncoding.DecodeString(strings.ToUpper(c)); err != nil {
		return "", false
	}
	return c, true
}

// isTOTPCode reports whether s is six ASCII digits.
func isTOTPCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// stripSpaces drops the spaces authenticator apps show in the middle of a code ("123 456").
func stripSpaces(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), " ", "") }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
