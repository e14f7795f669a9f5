package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authgraph/authgraph/internal/token"
)

// NewSession is a session just made, with the token that only this answer carries. A
// refreshable one also carries its refresh token; for the others RefreshToken is empty.
type NewSession struct {
	Session          *Session
	Token            string
	RefreshToken     string
	RefreshExpiresAt time.Time
}

func invalidCredentials() error {
	return &Error{Code: CodeInvalidCredentials, Message: MsgInvalidCredentials}
}

// PasswordLogin is a sign-in with a username and password.
type PasswordLogin struct {
	// Account is the slug of the user's account; "" picks it from the username (see
	// loginUser).
	Account  string
	Username string
	Password string
	// OTP is a TOTP code or a recovery code, needed when the user has TOTP on.
	OTP string
	// Passkey, in place of OTP, is a response to BeginPasskeySignIn by one of the user's
	// passkeys (JSON).
	Passkey []byte
	// Name is an optional label for the session.
	Name string
}

// LoginPassword signs a user in by username and password alone (no account, no code).
func (s *Service) LoginPassword(ctx context.Context, username, password, name string, opts ...LoginOption) (*NewSession, error) {
	return s.Login(ctx, PasswordLogin{Username: username, Password: password, Name: name}, opts...)
}

// Login signs a user in with a password, and a second factor if the user has TOTP on. An
// unknown account or username costs the same argon2 work as a wrong password and answers the
// same error. OTP_REQUIRED comes only after the password was verified, so it never answers a
// wrong password.
//
// The attempt is counted by the service's Limiter (per address and per username) before
// any lookup or hashing, and may be refused with RATE_LIMITED; a TOTP code is counted too
// (AttemptTOTP), right or wrong. The username alone names the account for the limits, whatever account
// slug is given: a slug chosen per attempt must not buy a fresh budget.
func (s *Service) Login(ctx context.Context, in PasswordLogin, opts ...LoginOption) (*NewSession, error) {
	ip := ClientFrom(ctx).IP
	if err := checkLabel("name", in.Name); err != nil {
		return nil, err
	}
	if in.Account != "" {
		if err := checkSlug(in.Account); err != nil {
			return nil, err
		}
	}
	id := loginIdentifier(in.Username)
	if err := s.checkLimit(ctx, AttemptPassword, ip, id); err != nil {
		return nil, err
	}
	tr := signInTrace{method: MethodPassword, otp: in.OTP != ""}
	ns, err := s.login(ctx, in, ip, opts, &tr)
	s.noteSignIn(ctx, &tr, ns, err)
	return s.recordLogin(ctx, AttemptPassword, ip, id, ns, err)
}

// loginIdentifier is what a password sign-in is counted by: the username as given, or, for
// one that is an email address, the address normalized. A sign-in by address reaches the
// user whatever the case, the spaces around it or the full-width forms of its letters
// (NormalizeEmail), so each spelling must not get a fresh budget of guesses on that user. A
// username that happens to read as the address shares its bucket, which only limits it more.
func loginIdentifier(username string) string {
	if strings.Contains(username, "@") && len(username) <= 4*MaxEmailLen {
		if addr, err := NormalizeEmail(username); err == nil {
			return addr
		}
	}
	return username
}

func (s *Service) login(ctx context.Context, in PasswordLogin, ip string, opts []LoginOption, tr *signInTrace) (*NewSession, error) {
	if len(in.Username) > 4*maxUsernameLen || len(in.Password) > 4*maxPasswordLen {
		tr.reason = reasonOversized
		// Longer than any account's could be: answer as for a wrong password, without the
		// hashing work an attacker would like us to do on megabytes.
		if err := s.verifyDummy(ctx, ""); err != nil {
			return nil, fmt.Errorf("verify password: %w", err)
		}
		return nil, invalidCredentials()
	}
	u, err := s.loginUser(ctx, in.Account, in.Username)
	if errors.Is(err, ErrNotFound) && strings.Contains(in.Username, "@") {
		u, err = s.loginUserByEmail(ctx, in.Account, in.Username)
	}
	if errors.Is(err, ErrNotFound) {
		tr.reason = reasonUnknownUser
		if err := s.verifyDummy(ctx, in.Password); err != nil {
			return nil, fmt.Errorf("verify password: %w", err)
		}
		return nil, invalidCredentials()
	}
	if err != nil {
		return nil, err
	}
	tr.user = u
	ok, rehash, err := s.hasher.Verify(ctx, in.Password, u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("verify password: %w", err)
	}
	if !ok || u.Disabled {
		// A disabled user gets the answer of a wrong password: whether an account exists,
		// or is disabled, is not told to whoever tries a password.
		tr.reason = reasonWrongSecret
		if ok {
			tr.reason = reasonUserDisabled
		}
		return nil, invalidCredentials()
	}
	if err := s.checkSecondFactor(ctx, ip, u.ID, in.OTP, in.Passkey); err != nil {
		return nil, err
	}
	if err := s.checkEmailVerified(u); err != nil {
		return nil, err
	}
	if rehash {
		s.rehashPassword(ctx, u, in.Password)
	}
	// Bound to the password version verified above: if the password changes before the
	// session is saved, the store refuses it (see SessionStore.CreateSession). A rehash
	// keeps the version, so it does not refuse a concurrent sign-in.
	version := u.PasswordVersion
	return s.startSession(ctx, &Session{UserID: u.ID, Method: MethodPassword, Name: in.Name, PasswordVersion: &version}, opts)
}

// loginUserByEmail finds the user a password login names by email address: the user of
// the named account (the default one if none is named) whose address it is. A username is
// tried first, so a username that looks like an address still signs in as itself.
func (s *Service) loginUserByEmail(ctx context.Context, slug, email string) (*User, error) {
	addr, err := NormalizeEmail(email)
	if err != nil {
		return nil, fmt.Errorf("find user by email: %w", ErrNotFound)
	}
	a, err := s.accountNamed(ctx, slug)
	if err != nil {
		return nil, err
	}
	u, err := s.emails.UserByEmail(ctx, a.ID, addr)
	if err != nil {
		return nil, fmt.Errorf("find user by email: %w", err)
	}
	return u, nil
}

// checkEmailVerified refuses a sign-in whose credentials were right when the deployment
// requires a verified email and u's is not (Config.RequireVerifiedEmail).
func (s *Service) checkEmailVerified(u *User) error {
	if s.cfg.RequireVerifiedEmail && u.Email != "" && !u.EmailVerified {
		return Errorf(CodeEmailNotVerified, "Verify your email address first: follow the link in the mail we sent, or ask for a new one.")
	}
	return nil
}

// rehashPassword replaces u's hash, made with old parameters, by one with the current ones.
// Best effort: a failure leaves the old hash, which still verifies, and the next login tries
// again. It is a compare-and-set, so it cannot undo a password change that happened since
// the password was verified.
func (s *Service) rehashPassword(ctx context.Context, u *User, password string) {
	h, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return
	}
	_, _ = s.users.UpdateUser(ctx, u.ID, func(cur *User) error {
		if cur.PasswordHash != u.PasswordHash {
			return errStale
		}
		cur.PasswordHash = h
		return nil
	})
}

// errStale aborts a compare-and-set whose record changed meanwhile.
var errStale = errors.New("record changed meanwhile")

// LoginUserKey trades a user key's secret for a session. An unknown key, a wrong secret, an
// expired key and a disabled user all answer the same error after the same argon2 work: one
// verify. During a reroll's grace period the secret's checksum suffix (SecretHint) says
// which of the two hashes to verify, so a key in its grace period costs no more than another.
//
// The session carries the key's scopes, and never outlives the key. TOTP does not apply: the
// key is a 256-bit credential made for programs, which cannot answer a code prompt; a user
// with TOTP on who makes keys accepts that each key stands in for both factors.
//
// The attempt is counted by the service's Limiter (per address and per key id) before any
// lookup or hashing, and may be refused with RATE_LIMITED.
func (s *Service) LoginUserKey(ctx context.Context, keyID int64, secret, name string, opts ...LoginOption) (*NewSession, error) {
	ip := ClientFrom(ctx).IP
	if err := checkLabel("name", name); err != nil {
		return nil, err
	}
	id := keyIdentifier(keyID)
	if err := s.checkLimit(ctx, AttemptUserKey, ip, id); err != nil {
		return nil, err
	}
	tr := signInTrace{method: MethodUserKey, keyID: keyID}
	ns, err := s.loginUserKey(ctx, keyID, secret, name, opts, &tr)
	s.noteSignIn(ctx, &tr, ns, err)
	return s.recordLogin(ctx, AttemptUserKey, ip, id, ns, err)
}

func (s *Service) loginUserKey(ctx context.Context, keyID int64, secret, name string, opts []LoginOption, tr *signInTrace) (*NewSession, error) {
	if len(secret) > maxSecretLen {
		tr.reason = reasonOversized
		if err := s.verifyDummy(ctx, ""); err != nil {
			return nil, fmt.Errorf("verify key secret: %w", err)
		}
		return nil, invalidCredentials()
	}
	k, err := s.keys.Key(ctx, keyID)
	if errors.Is(err, ErrNotFound) {
		tr.reason = reasonUnknownKey
		if err := s.verifyDummy(ctx, secret); err != nil {
			return nil, fmt.Errorf("verify key secret: %w", err)
		}
		return nil, invalidCredentials()
	}
	if err != nil {
		return nil, fmt.Errorf("find user key: %w", err)
	}
	now := s.clock.Now()
	hash, previous := k.SecretHash, k.previousSecretFor(secret, now)
	if previous {
		hash = k.PreviousSecretHash
	}
	ok, rehash, err := s.hasher.Verify(ctx, secret, hash)
	if err != nil {
		return nil, fmt.Errorf("verify key secret: %w", err)
	}
	tr.user = &User{ID: k.UserID}
	if !ok || k.Expired(now) {
		tr.reason = reasonWrongSecret
		if ok {
			tr.reason = reasonKeyExpired
		}
		return nil, invalidCredentials()
	}
	u, err := s.users.User(ctx, k.UserID)
	if errors.Is(err, ErrNotFound) || (err == nil && u.Disabled) {
		tr.reason = reasonUserDisabled
		return nil, invalidCredentials()
	}
	if err == nil {
		tr.user = u
	}
	if err != nil {
		return nil, fmt.Errorf("find key owner: %w", err)
	}
	s.afterKeyUse(ctx, k, secret, hash, previous, rehash, now)
	sess := &Session{
		UserID: k.UserID, Method: MethodUserKey, UserKeyID: k.ID, Name: name,
		Scopes: k.EffectiveScopes(u.Role),
	}
	if k.ExpiresAt != nil {
		sess.ExpiresAt = *k.ExpiresAt // startSession keeps the earlier of this and the TTL
	}
	return s.startSession(ctx, sess, opts)
}

// previousSecretFor reports whether secret should be checked against the previous hash: the
// key is in a reroll's grace period and secret ends with the previous secret's checksum.
func (k *UserKey) previousSecretFor(secret string, now time.Time) bool {
	return k.PreviousSecretHash != "" && k.PreviousSecretExpiresAt != nil && now.Before(*k.PreviousSecretExpiresAt) &&
		k.PreviousSecretHint != "" && SecretHint(secret) == k.PreviousSecretHint
}

// afterKeyUse records the key's lastUsedAt (at most once per LastUsedPrecision) and upgrades
// a hash made with old parameters, in one update. Best effort, like the password's rehash,
// and a compare-and-set on the hash for the same reason: it must not undo a reroll.
func (s *Service) afterKeyUse(ctx context.Context, k *UserKey, secret, hash string, previous, rehash bool, now time.Time) {
	touch := s.touch.due(touchID{touchKey, k.ID}, k.LastUsedAt, now)
	var newHash string
	if rehash {
		if h, err := s.hasher.Hash(ctx, secret); err == nil {
			newHash = h
		}
	}
	if !touch && newHash == "" {
		return
	}
	_, _ = s.keys.UpdateKey(ctx, k.ID, func(cur *UserKey) error {
		if touch {
			t := now.UTC()
			cur.LastUsedAt = &t
		}
		switch {
		case newHash == "":
		case previous && cur.PreviousSecretHash == hash:
			cur.PreviousSecretHash = newHash
		case !previous && cur.SecretHash == hash:
			cur.SecretHash = newHash
		}
		return nil
	})
}

// startSession fills in and saves a session, and answers it with its token. A preset
// ExpiresAt (the key's expiry) is kept if it comes before the end of the session's TTL.
//
// The store saves the session only if its credentials still hold once it is saved (the
// user, the key, the password version: see SessionStore.CreateSession); a credential
// revoked while the sign-in ran answers INVALID_CREDENTIALS, as a sign-in that started
// after the revocation would. The session records the client that the transport put in
// ctx (see WithClient).
func (s *Service) startSession(ctx context.Context, sess *Session, opts []LoginOption) (*NewSession, error) {
	if loginOptionsOf(opts).refreshable {
		return s.startFamily(ctx, sess)
	}
	tok, err := token.New(token.Session)
	if err != nil {
		return nil, fmt.Errorf("new session token: %w", err)
	}
	now := s.clock.Now().UTC()
	sess.TokenDigest = token.Sum(tok)
	setSessionTimes(sess, now, now, s.cfg.SessionTTL)
	setClient(sess, ClientFrom(ctx))
	if err := s.sessions.CreateSession(ctx, sess); errors.Is(err, ErrNotFound) {
		return nil, invalidCredentials()
	} else if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return &NewSession{Session: sess, Token: tok}, nil
}

// setSessionTimes sets the times of a session made at now by a sign-in that happened at
// signedIn: it lasts ttl, or less if ExpiresAt is preset earlier (the expiry of the key it
// comes from), and counts as used at its creation.
func setSessionTimes(sess *Session, now, signedIn time.Time, ttl time.Duration) {
	sess.CreatedAt = now
	sess.AuthenticatedAt = signedIn
	sess.LastUsedAt = &now
	if end := now.Add(ttl); sess.ExpiresAt.IsZero() || end.Before(sess.ExpiresAt) {
		sess.ExpiresAt = end
	} else {
		sess.ExpiresAt = sess.ExpiresAt.UTC()
	}
}

// setClient records the requesting client on a session, bounded.
func setClient(sess *Session, client ClientInfo) {
	sess.ClientName = clip(client.Name, 256)
	sess.ClientVersion = clip(client.Version, 64)
	sess.UserAgent = clip(client.UserAgent, 512)
	sess.IP = clip(client.IP, 64)
}

// Authenticate resolves a session token to its principal. A malformed, unknown, expired or
// idle token, or one whose user is gone or disabled, answers UNAUTHENTICATED; a store failure
// answers an error wrapping ErrUnavailable, which must never be shown as a 401.
//
// Its cost in the store: SessionByDigest and User (two reads), plus one TouchSession per
// session and LastUsedPrecision.
func (s *Service) Authenticate(ctx context.Context, tok string) (*Principal, error) {
	return s.authenticate(ctx, tok, true)
}

// Introspect is Authenticate without a write: it answers the same principal for the same
// token, or the same UNAUTHENTICATED, but never touches the session's lastUsedAt nor deletes
// an idle session, so that asking about a token (token introspection, a proxy's check) never
// extends or changes it. Its cost in the store: the same two reads.
func (s *Service) Introspect(ctx context.Context, tok string) (*Principal, error) {
	return s.authenticate(ctx, tok, false)
}

func (s *Service) authenticate(ctx context.Context, tok string, write bool) (*Principal, error) {
	// The error is made only when needed: this runs on every request, and the common
	// answer is a success that should not pay an allocation for it.
	unauth := func() error { return &Error{Code: CodeUnauthenticated, Message: MsgUnauthenticated} }
	if token.Check(token.Session, tok) != nil {
		return nil, unauth()
	}
	sess, err := s.sessions.SessionByDigest(ctx, token.Sum(tok))
	if errors.Is(err, ErrNotFound) {
		return nil, unauth()
	}
	if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	now := s.clock.Now()
	if sess.Expired(now) {
		return nil, unauth()
	}
	if s.idleExpired(sess, now) {
		if write {
			// Best effort: the session is refused either way; deleting it drops it from lists.
			_, _ = s.sessions.DeleteSession(ctx, sess.UserID, sess.ID)
		}
		return nil, unauth()
	}
	u, err := s.users.User(ctx, sess.UserID)
	if errors.Is(err, ErrNotFound) || (err == nil && !UserMayUseSessions(u)) {
		return nil, unauth()
	}
	if err != nil {
		return nil, fmt.Errorf("find session user: %w", err)
	}
	if write {
		s.touchSession(ctx, sess, now)
	}
	return &Principal{User: u, Session: sess, Token: tok}, nil
}

// UserMayUseSessions reports whether the sessions of u are accepted: every check Authenticate
// makes of the user once it is found. The embeddable verifier calls it too, so that a
// product refuses exactly the users authgraph refuses.
func UserMayUseSessions(u *User) bool { return !u.Disabled }
