package auth

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
)

// Passkeys (WebAuthn credentials): a user registers one from a signed-in session, and from
// then on can sign in with it alone, without a username (discoverable credentials).
//
// The protocol work (options, attestation, assertion signatures, origins, the RP ID) is done
// by a PasskeyVerifier, which the server builds on github.com/go-webauthn/webauthn
// (internal/passkey); the domain keeps the rules:
//
//   - A ceremony's state is kept in the store for passkeyCeremonyTTL under its challenge and
//     taken (removed) by the one finish call that answers it: a challenge is single-use, and
//     any replica can finish what another began. A registration's state is bound to the user
//     who began it.
//   - Registering needs the account:write scope and a recent sign-in, as every factor change
//     does (RequireRecentAuthentication). Deleting a passkey does too; renaming does not.
//   - User verification (a PIN or a biometric on the authenticator) is required at both
//     registration and sign-in, so a passkey sign-in proves possession and verification:
//     it stands for both factors, and TOTP is not asked (method PASSKEY).
//   - The signature counter must grow: a counter at or below the stored one (both zero is
//     the exception, for authenticators without a counter, such as synced passkeys) means a
//     clone may exist. The sign-in is refused and the passkey marked (CloneSuspectedAt), so
//     its owner sees it and can delete it. The counter is updated with a compare-and-set, so
//     two assertions with one counter value cannot both sign in.
//   - The user handle is the user id as 8 big-endian bytes: it names no person, and ids are
//     never reused.

// Passkey is a user's WebAuthn credential.
type Passkey struct {
	ID     int64
	UserID int64
	// CredentialID is the authenticator's id for the credential, unique over all users.
	CredentialID []byte
	// PublicKey is the credential's public key, COSE-encoded, as the authenticator gave it.
	PublicKey []byte
	// AAGUID names the authenticator model (16 bytes; all zero when it does not say).
	AAGUID []byte
	// SignCount is the last signature counter accepted.
	SignCount uint32
	// Transports are the authenticator's hints ("internal", "usb", "hybrid", ...).
	Transports []string
	// BackupEligible: the credential may be synced to other devices (never changes);
	// BackupState: it is backed up now (as of the last use).
	BackupEligible, BackupState bool
	// Name is the owner's label for it.
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	// CloneSuspectedAt is when a sign-in was refused because the counter went backwards.
	CloneSuspectedAt *time.Time
}

// PasskeyCeremonyKind says which ceremony a challenge was made for.
type PasskeyCeremonyKind string

// Ceremony kinds.
const (
	PasskeyRegistration PasskeyCeremonyKind = "registration"
	PasskeySignIn       PasskeyCeremonyKind = "sign_in"
)

// PasskeyCeremony is a begun registration or sign-in, kept until its finish or ExpiresAt.
type PasskeyCeremony struct {
	// Challenge is the challenge as the client echoes it in clientDataJSON (base64url).
	Challenge string
	Kind      PasskeyCeremonyKind
	// UserID is who began a registration; 0 for a sign-in.
	UserID int64
	// AccountID, for a sign-in, is the account the client named (0: any).
	AccountID int64
	// State is the verifier's own record of the ceremony, opaque to the domain.
	State     []byte
	ExpiresAt time.Time
}

// PasskeyStore keeps passkeys and ceremonies. DeleteUser removes the user's passkeys.
type PasskeyStore interface {
	// SavePasskeyCeremony keeps c until c.ExpiresAt; ErrConflict if its challenge is taken.
	SavePasskeyCeremony(ctx context.Context, c *PasskeyCeremony) error
	// TakePasskeyCeremony removes the ceremony with that challenge and answers it;
	// ErrNotFound if there is none or it expired. Of concurrent calls, exactly one succeeds.
	TakePasskeyCeremony(ctx context.Context, challenge string) (*PasskeyCeremony, error)
	// CreatePasskey assigns p.ID and saves p; ErrConflict if its CredentialID is any user's
	// already, ErrNotFound (leaving nothing behind) if the user does not exist.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// PasskeysOf lists a user's passkeys in ascending id order.
	PasskeysOf(ctx context.Context, userID int64) ([]*Passkey, error)
	// PasskeyByCredentialID finds a passkey by its credential id.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error)
	// UpdatePasskey is UpdateUser for the passkey id of userID (ErrNotFound if it is not
	// theirs).
	UpdatePasskey(ctx context.Context, userID, id int64, edit func(*Passkey) error) (*Passkey, error)
	// DeletePasskey removes the passkey if it belongs to userID and answers it; else
	// ErrNotFound. Of concurrent calls, exactly one succeeds.
	DeletePasskey(ctx context.Context, userID, id int64) (*Passkey, error)
}

// PasskeyUser is a user as the verifier sees it.
type PasskeyUser struct {
	Handle      []byte
	Name        string // the username
	DisplayName string
	Passkeys    []*Passkey
}

// PasskeyOptions is what a Begin call of the verifier answers: the options for the
// browser, the state to keep, and the challenge the state is kept under.
type PasskeyOptions struct {
	Options   []byte // JSON: {"publicKey": {...}}
	State     []byte
	Challenge string
}

// PasskeyAssertion is a verified sign-in: which credential, and what its authenticator
// data said.
type PasskeyAssertion struct {
	CredentialID []byte
	SignCount    uint32
	// CloneWarning: the counter did not grow (see the rules above).
	CloneWarning bool
	BackupState  bool
}

// PasskeyVerifier does the WebAuthn protocol work. Errors that refuse a response wrap
// ErrPasskeyRejected; others are internal. No error may contain the response.
type PasskeyVerifier interface {
	BeginRegistration(u PasskeyUser) (*PasskeyOptions, error)
	// FinishRegistration verifies an attestation response against the kept state, and
	// answers the new credential (without ID, UserID, Name or times).
	FinishRegistration(u PasskeyUser, state, response []byte) (*Passkey, error)
	BeginSignIn() (*PasskeyOptions, error)
	// FinishSignIn verifies an assertion response against the kept state; lookup answers the
	// owner of a credential id, who must have that user handle.
	FinishSignIn(state, response []byte, lookup func(credentialID, userHandle []byte) (PasskeyUser, error)) (*PasskeyAssertion, error)
	// Challenge reads the challenge a response answers (not yet verified), to find its state.
	Challenge(response []byte) (string, error)
}

// ErrPasskeyRejected is what a PasskeyVerifier wraps when it refuses a response.
var ErrPasskeyRejected = errors.New("passkey response rejected")

// MsgPasskeysOff answers the passkey operations when the server has no verifier.
const MsgPasskeysOff = "Passkeys are not configured."

const (
	// passkeyCeremonyTTL bounds a ceremony: the browser's own timeout is 5 minutes.
	passkeyCeremonyTTL = 5 * time.Minute
	// maxPasskeyResponseLen bounds a response: real ones are 1-2 KiB.
	maxPasskeyResponseLen = 64 << 10
	// MaxPasskeysPerUser bounds what one account can store.
	MaxPasskeysPerUser = 20
)

// PasskeyHandle is the WebAuthn user handle of a user.
func PasskeyHandle(userID int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(userID))
}

func (s *Service) passkeyVerifier() (PasskeyVerifier, error) {
	if s.cfg.Passkeys == nil {
		return nil, &Error{Code: CodeInvalidInput, Message: MsgPasskeysOff}
	}
	return s.cfg.Passkeys, nil
}

func passkeyUser(u *User, keys []*Passkey) PasskeyUser {
	return PasskeyUser{Handle: PasskeyHandle(u.ID), Name: u.Username, DisplayName: u.Username, Passkeys: keys}
}

// BeginPasskeyRegistration starts registering a passkey for the current user and answers
// the options for navigator.credentials.create, as JSON.
func (s *Service) BeginPasskeyRegistration(ctx context.Context) ([]byte, error) {
	v, err := s.passkeyVerifier()
	if err != nil {
		return nil, err
	}
	p, err := requireScope(ctx, ScopeAccountWrite)
	if err != nil {
		return nil, err
	}
	if err := s.RequireRecentAuthentication(ctx); err != nil {
		return nil, err
	}
	keys, err := s.passkeys.PasskeysOf(ctx, p.User.ID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	if len(keys) >= MaxPasskeysPerUser {
		return nil, Errorf(CodeConflict, "at most %d passkeys per user: delete one first", MaxPasskeysPerUser)
	}
	// The user's passkeys are listed as excluded, so an authenticator that holds one
	// already says so instead of making a second.
	o, err := v.BeginRegistration(passkeyUser(p.User, keys))
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	c := &PasskeyCeremony{Challenge: o.Challenge, Kind: PasskeyRegistration, UserID: p.User.ID, State: o.State,
		ExpiresAt: s.clock.Now().UTC().Add(passkeyCeremonyTTL)}
	if err := s.passkeys.SavePasskeyCeremony(ctx, c); err != nil {
		return nil, fmt.Errorf("save passkey ceremony: %w", err)
	}
	return o.Options, nil
}

// FinishPasskeyRegistration verifies the browser's answer to BeginPasskeyRegistration's
// options and saves the passkey under name. A response that does not verify, answers no
// ceremony of this user, or answers one used already or expired, is BAD_USER_INPUT.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, name string, response []byte) (pk *Passkey, rerr error) {
	defer func() { s.notePasskey(ctx, audit.PasskeyRegistered, pk, rerr) }()
	v, err := s.passkeyVerifier()
	if err != nil {
		return nil, err
	}
	p, err := requireScope(ctx, ScopeAccountWrite)
	if err != nil {
		return nil, err
	}
	if err := s.RequireRecentAuthentication(ctx); err != nil {
		return nil, err
	}
	if err := checkPasskeyName(name); err != nil {
		return nil, err
	}
	c, err := s.takeCeremony(ctx, v, response)
	if err != nil {
		return nil, err
	}
	if c == nil || c.Kind != PasskeyRegistration || c.UserID != p.User.ID {
		return nil, passkeyRefused("registration", "no registration under way for this response (expired, used, or another user's)")
	}
	keys, err := s.passkeys.PasskeysOf(ctx, p.User.ID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	pk, err = v.FinishRegistration(passkeyUser(p.User, keys), c.State, response)
	if errors.Is(err, ErrPasskeyRejected) {
		return nil, passkeyRefused("registration", err.Error())
	}
	if err != nil {
		return nil, fmt.Errorf("finish passkey registration: %w", err)
	}
	now := s.clock.Now().UTC()
	pk.UserID, pk.Name, pk.CreatedAt = p.User.ID, name, now
	switch err := s.passkeys.CreatePasskey(ctx, pk); {
	case errors.Is(err, ErrConflict):
		return nil, Errorf(CodeConflict, "this passkey is registered already")
	case errors.Is(err, ErrNotFound):
		return nil, Errorf(CodeUnauthenticated, "the user no longer exists")
	case err != nil:
		return nil, fmt.Errorf("save passkey: %w", err)
	}
	return pk, nil
}

// takeCeremony takes the ceremony a response answers; nil if there is none (used,
// expired, or never made). A response whose challenge cannot be read is BAD_USER_INPUT.
func (s *Service) takeCeremony(ctx context.Context, v PasskeyVerifier, response []byte) (*PasskeyCeremony, error) {
	if len(response) == 0 || len(response) > maxPasskeyResponseLen {
		return nil, Errorf(CodeInvalidInput, "response: give the credential as JSON, at most %d bytes", maxPasskeyResponseLen)
	}
	challenge, err := v.Challenge(response)
	if err != nil {
		return nil, Errorf(CodeInvalidInput, "response: not a WebAuthn credential: %v", err)
	}
	c, err := s.passkeys.TakePasskeyCeremony(ctx, challenge)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("take passkey ceremony: %w", err)
	}
	return c, nil
}

// passkeyRefused is a refused registration: BAD_USER_INPUT, the reason in the message (it
// holds nothing secret: the user's own browser made the response).
func passkeyRefused(what, why string) error {
	return Errorf(CodeInvalidInput, "passkey %s refused: %s", what, why)
}

// BeginPasskeySignIn starts a usernameless sign-in and answers the options for
// navigator.credentials.get, as JSON. account, if not "", is the slug of the account the
// sign-in must land in. It is public and counted per address (AttemptPasskey): each call
// keeps a ceremony in the store for passkeyCeremonyTTL.
func (s *Service) BeginPasskeySignIn(ctx context.Context, account string) ([]byte, error) {
	v, err := s.passkeyVerifier()
	if err != nil {
		return nil, err
	}
	var accountID int64
	if account != "" {
		if err := checkSlug(account); err != nil {
			return nil, err
		}
	}
	if err := s.checkLimit(ctx, AttemptPasskey, ClientFrom(ctx).IP, ""); err != nil {
		return nil, err
	}
	if account != "" {
		a, err := s.accounts.AccountBySlug(ctx, account)
		switch {
		case errors.Is(err, ErrNotFound):
			// Told apart nowhere: the sign-in that follows fails as for an unknown passkey.
			accountID = -1
		case err != nil:
			return nil, fmt.Errorf("find account: %w", err)
		default:
			accountID = a.ID
		}
	}
	o, err := v.BeginSignIn()
	if err != nil {
		return nil, fmt.Errorf("begin passkey sign-in: %w", err)
	}
	c := &PasskeyCeremony{Challenge: o.Challenge, Kind: PasskeySignIn, AccountID: accountID, State: o.State,
		ExpiresAt: s.clock.Now().UTC().Add(passkeyCeremonyTTL)}
	if err := s.passkeys.SavePasskeyCeremony(ctx, c); err != nil {
		return nil, fmt.Errorf("save passkey ceremony: %w", err)
	}
	return o.Options, nil
}

// LoginPasskey signs in with the browser's answer to BeginPasskeySignIn's options. Every
// refusal (no such ceremony, unknown or deleted passkey, bad signature, wrong origin or RP
// ID, no user verification, a counter that went backwards, a disabled user) answers
// INVALID_CREDENTIALS, with the reason in the error text for logs.
func (s *Service) LoginPasskey(ctx context.Context, response []byte, name string, opts ...LoginOption) (*NewSession, error) {
	v, err := s.passkeyVerifier()
	if err != nil {
		return nil, err
	}
	if err := checkLabel("name", name); err != nil {
		return nil, err
	}
	ip := ClientFrom(ctx).IP
	if err := s.checkLimit(ctx, AttemptPasskey, ip, ""); err != nil {
		return nil, err
	}
	tr := signInTrace{method: MethodPasskey}
	ns, err := s.loginPasskey(ctx, v, response, name, opts, &tr)
	s.noteSignIn(ctx, &tr, ns, err)
	return s.recordLogin(ctx, AttemptPasskey, ip, "", ns, err)
}

func (s *Service) loginPasskey(ctx context.Context, v PasskeyVerifier, response []byte, name string, opts []LoginOption, tr *signInTrace) (*NewSession, error) {
	owner, err := s.checkAssertion(ctx, v, response, 0)
	if err != nil {
		return nil, err
	}
	tr.user = owner
	if err := s.checkEmailVerified(owner); err != nil {
		return nil, err
	}
	return s.startSession(ctx, &Session{UserID: owner.ID, Method: MethodPasskey, Name: name}, opts)
}

// checkAssertion verifies a sign-in response: the ceremony it answers (taken, so used up),
// the signature, origin and RP ID (the verifier), the owner (not disabled, in the account
// the ceremony names; userID's own passkey when userID is not 0), and the counter, which it
// records. It answers the owner, or an INVALID_CREDENTIALS error saying why.
func (s *Service) checkAssertion(ctx context.Context, v PasskeyVerifier, response []byte, userID int64) (*User, error) {
	c, err := s.takeCeremony(ctx, v, response)
	if err != nil {
		return nil, err
	}
	if c == nil || c.Kind != PasskeySignIn {
		return nil, rejectedPasskey("no sign-in under way for this challenge (expired, used, or never begun)")
	}
	var (
		owner *User
		key   *Passkey
	)
	lookup := func(credentialID, handle []byte) (PasskeyUser, error) {
		pk, err := s.passkeys.PasskeyByCredentialID(ctx, credentialID)
		if errors.Is(err, ErrNotFound) {
			return PasskeyUser{}, fmt.Errorf("%w: unknown credential", ErrPasskeyRejected)
		}
		if err != nil {
			return PasskeyUser{}, err
		}
		if !bytes.Equal(handle, PasskeyHandle(pk.UserID)) {
			return PasskeyUser{}, fmt.Errorf("%w: user handle of another user", ErrPasskeyRejected)
		}
		if userID != 0 && pk.UserID != userID {
			return PasskeyUser{}, fmt.Errorf("%w: a passkey of another user", ErrPasskeyRejected)
		}
		u, err := s.users.User(ctx, pk.UserID)
		if errors.Is(err, ErrNotFound) {
			return PasskeyUser{}, fmt.Errorf("%w: the user is gone", ErrPasskeyRejected)
		}
		if err != nil {
			return PasskeyUser{}, err
		}
		owner, key = u, pk
		return passkeyUser(u, []*Passkey{pk}), nil
	}
	a, err := v.FinishSignIn(c.State, response, lookup)
	if errors.Is(err, ErrPasskeyRejected) {
		return nil, rejectedPasskey(err.Error())
	}
	if err != nil {
		return nil, fmt.Errorf("finish passkey sign-in: %w", err)
	}
	if owner == nil || key == nil || !bytes.Equal(a.CredentialID, key.CredentialID) {
		return nil, fmt.Errorf("finish passkey sign-in: the verifier answered a credential it did not look up")
	}
	if owner.Disabled {
		return nil, rejectedPasskey("user is disabled")
	}
	if c.AccountID != 0 && c.AccountID != owner.AccountID {
		return nil, rejectedPasskey("the passkey's user is not in the account named")
	}
	now := s.clock.Now().UTC()
	if a.CloneWarning {
		s.markClone(ctx, owner, key, now)
		return nil, rejectedPasskey("signature counter did not grow: the credential may be cloned")
	}
	// Compare-and-set on the counter: of two assertions carrying one counter value (a clone
	// racing the original), one signs in.
	_, err = s.passkeys.UpdatePasskey(ctx, key.UserID, key.ID, func(pk *Passkey) error {
		if !counterGrows(pk.SignCount, a.SignCount) {
			return errPasskeyCounter
		}
		pk.SignCount, pk.BackupState, pk.LastUsedAt = a.SignCount, a.BackupState, &now
		return nil
	})
	switch {
	case errors.Is(err, errPasskeyCounter):
		s.markClone(ctx, owner, key, now)
		return nil, rejectedPasskey("signature counter did not grow: the credential may be cloned")
	case errors.Is(err, ErrNotFound):
		return nil, rejectedPasskey("the passkey was deleted")
	case err != nil:
		return nil, fmt.Errorf("update passkey: %w", err)
	}
	return owner, nil
}

// passkeyFactor checks a passkey given in place of a TOTP code at a password sign-in: the
// response to a beginPasskeySignIn by one of userID's passkeys. A refusal is OTP_REQUIRED,
// as a wrong code is. It is counted per address (AttemptPasskey), as a passkey sign-in is.
func (s *Service) passkeyFactor(ctx context.Context, ip string, userID int64, response []byte) error {
	v, err := s.passkeyVerifier()
	if err != nil {
		return err
	}
	if err := s.checkLimit(ctx, AttemptPasskey, ip, ""); err != nil {
		return err
	}
	_, err = s.checkAssertion(ctx, v, response, userID)
	if ErrorCode(err) == CodeInvalidCredentials {
		return fmt.Errorf("%w (%w)", otpRequired(), err)
	}
	return err
}

var errPasskeyCounter = errors.New("passkey counter did not grow")

// counterGrows is the WebAuthn rule (§6.1.1): a new counter must exceed the stored one,
// unless both are zero (an authenticator that keeps no counter).
func counterGrows(stored, got uint32) bool {
	return got > stored || (got == 0 && stored == 0)
}

// markClone records a clone suspicion on the passkey; a failure to record it is not the
// sign-in's concern (it is refused either way).
func (s *Service) markClone(ctx context.Context, owner *User, key *Passkey, now time.Time) {
	_, _ = s.passkeys.UpdatePasskey(ctx, key.UserID, key.ID, func(pk *Passkey) error {
		pk.CloneSuspectedAt = &now
		return nil
	})
	// In the owner's trail, as a refused attempt on them: they and their admins see it.
	s.noteUser(ctx, audit.PasskeyCloned, owner, rejectedPasskey("cloned"), strconv.FormatInt(key.ID, 10))
}

// notePasskey records a change of the principal's passkeys.
func (s *Service) notePasskey(ctx context.Context, t audit.Type, pk *Passkey, err error) {
	detail := ""
	if pk != nil {
		detail = strconv.FormatInt(pk.ID, 10)
	}
	s.noteSelf(ctx, t, err, detail)
}

func rejectedPasskey(why string) error {
	return fmt.Errorf("%w (passkey sign-in: %s)", invalidCredentials(), why)
}

// Passkeys lists a user's passkeys, oldest first: the caller's own, or anyone's for an
// admin.
func (s *Service) Passkeys(ctx context.Context, userID int64) ([]*Passkey, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	if !canSee(p, userID) {
		return nil, Errorf(CodeNotFound, "user not found")
	}
	keys, err := s.passkeys.PasskeysOf(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	return keys, nil
}

// RenamePasskey gives one of the current user's passkeys a new name. Someone else's
// passkey is NOT_FOUND.
func (s *Service) RenamePasskey(ctx context.Context, id int64, name string) (*Passkey, error) {
	p, err := requireScope(ctx, ScopeAccountWrite)
	if err != nil {
		return nil, err
	}
	if err := checkPasskeyName(name); err != nil {
		return nil, err
	}
	pk, err := s.passkeys.UpdatePasskey(ctx, p.User.ID, id, func(pk *Passkey) error {
		pk.Name = name
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "passkey not found")
	}
	if err != nil {
		return nil, fmt.Errorf("rename passkey: %w", err)
	}
	return pk, nil
}

// DeletePasskey removes one of the current user's passkeys: it signs in no more. It needs
// a recent sign-in, as every factor change does. Sessions made with it go on (end them
// with deleteSessions). Someone else's passkey is NOT_FOUND.
func (s *Service) DeletePasskey(ctx context.Context, id int64) (deleted *Passkey, rerr error) {
	defer func() { s.notePasskey(ctx, audit.PasskeyDeleted, deleted, rerr) }()
	p, err := requireScope(ctx, ScopeAccountWrite)
	if err != nil {
		return nil, err
	}
	if err := s.RequireRecentAuthentication(ctx); err != nil {
		return nil, err
	}
	pk, err := s.passkeys.DeletePasskey(ctx, p.User.ID, id)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "passkey not found")
	}
	if err != nil {
		return nil, fmt.Errorf("delete passkey: %w", err)
	}
	return pk, nil
}

// checkPasskeyName: 1 to 100 characters, as other labels, but required.
func checkPasskeyName(name string) error {
	if name == "" {
		return Errorf(CodeInvalidInput, "name: give the passkey a name")
	}
	return checkLabel("name", name)
}
