package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/token"
)

// Service accounts are the machines of an account (tenant): they belong to the account, not
// to a person, and act through service keys, whose secret a program sends on every request
// in x-api-key, with no sign-in step. A request so authenticated carries a Principal with a
// ServiceCaller and neither user nor session.
//
// Rights. A service principal holds its key's scopes (a subset of its service account's),
// confined to its own account. Only the scopes that mean something without a person may be
// given: read, and admin. It may do the part of what an ACCOUNT_ADMIN of its account may that
// a serviceRight opens (reading, and suspending members) — never an ADMIN's powers, whichever
// account it belongs to. It may never create, reroll or delete a credential (service
// accounts, service keys, user keys): a machine mints nothing, so no caller ends up holding
// more than it was given. Every operation that needs a person (me, their keys, sessions,
// second factor, passkeys, password, email) refuses a service principal with FORBIDDEN:
// requirePrincipal and requireUserAdmin do, so an operation written for people is closed to
// machines unless it opens itself (requireCaller, requireManager).
//
// Managing. An ADMIN manages the service accounts of every account, an ACCOUNT_ADMIN those
// of their own, both with a session holding the admin scope; the scopes given to a service
// account, to its keys, and held by a key rerolled or deleted, must be covered by the
// session (covers): no session obtains or controls a credential wider than itself.
//
// Secrets. A service key's secret is a token of kind token.ServiceKeySecret: 256 random bits
// with a scanner-friendly prefix and a CRC32 checksum. It is kept only as its SHA-256 digest,
// and checked by that digest, not by argon2id: argon2 makes a guess at a low-entropy secret
// (a password) expensive, while guessing 256 random bits is hopeless at any speed, so a slow
// hash would only cost every request its time.

// CodeQuotaExceeded refuses a request of a service key whose quota is spent (HTTP 403).
const CodeQuotaExceeded Code = "QUOTA_EXCEEDED"

// MsgQuotaExceeded is its message.
const MsgQuotaExceeded = "This key's request quota is spent."

// ServiceScopes are the scopes a service account may hold.
var ServiceScopes = []Scope{ScopeRead, ScopeAdmin}

// MaxServiceKeyPeriod bounds a rate limit's or a quota's period.
const MaxServiceKeyPeriod = 366 * 24 * time.Hour

// ServiceAccount is a machine of an account.
type ServiceAccount struct {
	ID        int64
	AccountID int64
	Name      string
	// Scopes bound those of the account's keys.
	Scopes    []Scope
	Disabled  bool
	CreatedAt time.Time
}

// ServiceKey is a credential of a service account: an id, and a secret shown once.
type ServiceKey struct {
	ID               int64
	ServiceAccountID int64
	AccountID        int64
	Name             string
	Digest           token.Digest // SHA-256 of the secret
	// Hint is the secret's checksum suffix (SecretHint): it tells a listing which secret is
	// which, and gives away nothing of the 256 random bits.
	Hint      string
	Scopes    []Scope
	CreatedAt time.Time
	ExpiresAt *time.Time
	// RateLimit allows Rate requests per RatePeriod (GCRA, a burst of Rate); Rate 0: none.
	Rate       int
	RatePeriod time.Duration
	// Quota is how many requests the key may make in all (QuotaPeriod 0), or per
	// QuotaPeriod, refilled at the start of each; 0: no quota.
	Quota       int64
	QuotaPeriod time.Duration
	// After RerollServiceKey, the previous secret keeps working until PreviousExpiresAt.
	PreviousDigest    token.Digest
	PreviousExpiresAt *time.Time
}

// Expired reports whether the key no longer authenticates at now.
func (k *ServiceKey) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// Matches reports whether d is the digest of the key's secret at now: the current one, or
// the previous one during a reroll's grace period.
func (k *ServiceKey) Matches(d token.Digest, now time.Time) bool {
	if subtle.ConstantTimeCompare(d[:], k.Digest[:]) == 1 {
		return true
	}
	return k.PreviousExpiresAt != nil && now.Before(*k.PreviousExpiresAt) &&
		subtle.ConstantTimeCompare(d[:], k.PreviousDigest[:]) == 1
}

// Digests answers the digests under which the key can be found at now.
func (k *ServiceKey) Digests(now time.Time) []token.Digest {
	out := []token.Digest{k.Digest}
	if k.PreviousExpiresAt != nil && now.Before(*k.PreviousExpiresAt) {
		out = append(out, k.PreviousDigest)
	}
	return out
}

// ServiceCredential is what a secret's digest leads to: the key and its service account.
type ServiceCredential struct {
	Key     *ServiceKey
	Account *ServiceAccount
}

// ServiceKeyStore keeps service accounts and their keys.
//
// DeleteServiceAccount removes the service account with all its keys, and the digest index
// entries of all their secrets, atomically: once it answers, no secret of the account is
// found by ServiceKeyByDigest. CreateServiceKey answers ErrNotFound and leaves nothing
// behind if the service account does not exist, also when it is deleted while the key is
// made. UpdateServiceKey and DeleteServiceKey keep the digest index in step with the key
// in the same atomic step, so no secret outlives its key's deletion, whatever the
// interleaving with a reroll.
type ServiceKeyStore interface {
	// CreateServiceAccount assigns sa.ID from a counter and saves sa.
	CreateServiceAccount(ctx context.Context, sa *ServiceAccount) error
	ServiceAccount(ctx context.Context, id int64) (*ServiceAccount, error)
	// ServiceAccountsOf lists an account's service accounts in ascending id order.
	ServiceAccountsOf(ctx context.Context, accountID int64) ([]*ServiceAccount, error)
	// UpdateServiceAccount is UpdateUser for service accounts (its id and account stay).
	UpdateServiceAccount(ctx context.Context, id int64, edit func(*ServiceAccount) error) (*ServiceAccount, error)
	// DeleteServiceAccount removes it and all its keys, and answers it.
	DeleteServiceAccount(ctx context.Context, id int64) (*ServiceAccount, error)
	// CreateServiceKey assigns k.ID from a counter and saves k, indexed by k.Digest.
	CreateServiceKey(ctx context.Context, k *ServiceKey) error
	ServiceKey(ctx context.Context, id int64) (*ServiceKey, error)
	// ServiceKeysOf lists a service account's keys in ascending id order.
	ServiceKeysOf(ctx context.Context, serviceAccountID int64) ([]*ServiceKey, error)
	// UpdateServiceKey is UpdateUser for service keys; the digest index follows the
	// record's Digest and (until PreviousExpiresAt) PreviousDigest.
	UpdateServiceKey(ctx context.Context, id int64, edit func(*ServiceKey) error) (*ServiceKey, error)
	// DeleteServiceKey removes the key if it belongs to serviceAccountID, and answers it.
	DeleteServiceKey(ctx context.Context, serviceAccountID, id int64) (*ServiceKey, error)
	// ServiceKeyByDigest finds the key whose current or previous secret has digest d (the
	// caller checks the previous one's deadline: Matches), with its service account.
	ServiceKeyByDigest(ctx context.Context, d token.Digest) (*ServiceCredential, error)
}

// ServiceCaller is the machine behind a request authenticated by a service key.
type ServiceCaller struct {
	AccountID        int64
	ServiceAccountID int64
	KeyID            int64
	// Name is the service account's, as it was when the key was verified (a rename drops
	// cached keys, so it is at most a cache TTL old): for introspection's username.
	Name string
	// Scopes are the key's, within its service account's.
	Scopes []Scope
}

// requireCaller answers the principal in ctx, a person's or a machine's, for the operations
// open to both; UNAUTHENTICATED without one.
func requireCaller(ctx context.Context) (*Principal, error) {
	if p := PrincipalFrom(ctx); p != nil {
		return p, nil
	}
	return nil, &Error{Code: CodeUnauthenticated, Message: MsgUnauthenticated}
}

// serviceRight names an operation a service key may use: every operation written for people
// refuses service keys (requirePrincipal, requireUserAdmin), and one opens itself to them only
// by asking for its right (requireManager), which names the scope the key must hold. The set
// is what an ACCOUNT_ADMIN of the key's account may do that mints, changes or reveals no
// credential and gives no role: reading, and revoking a member's access. Creating users,
// setting an email, password or role, invitations, resets, renaming and deleting users,
// webhooks and account changes stay closed: each either makes or changes a credential (a
// reset or an address is a way to one), gives a role, or cannot be undone.
type serviceRight int

const (
	// serviceReadUsers: user(id:) and the account of its own account's users (read).
	serviceReadUsers serviceRight = iota + 1
	// serviceReadAccount: its own account (read).
	serviceReadAccount
	// serviceReadAudit: its account's audit trail (admin).
	serviceReadAudit
	// serviceSuspendUsers: disable and enable a member of its account, end their sessions
	// (admin). Revoking only: a disabled user gets back exactly what they had.
	serviceSuspendUsers
)

// scope is the scope a key must hold for the right.
func (r serviceRight) scope() Scope {
	if r == serviceReadUsers || r == serviceReadAccount {
		return ScopeRead
	}
	return ScopeAdmin
}

// requireManager answers the principal in ctx for an operation of account admins that is open
// to service keys with right: a service principal holding the right's scope, or a person as
// requireUserAdmin answers them.
func requireManager(ctx context.Context, right serviceRight) (*Principal, error) {
	if p := PrincipalFrom(ctx); p != nil && p.Service != nil {
		if !p.HasScope(right.scope()) {
			return nil, missingScope(right.scope())
		}
		return p, nil
	}
	return requireUserAdmin(ctx)
}

// serviceActsOn refuses a service key an action on u unless u is a member (mayManage has
// already confined it to its own account without ADMINs): a machine never acts on a
// person who manages others, so a leaked key cannot lock an account out of its admins.
func serviceActsOn(p *Principal, u *User) error {
	if p.Service != nil && u.Role != RoleMember {
		return Errorf(CodeForbidden, "A service key acts on members only; this user is an account admin.")
	}
	return nil
}

// errNeedsPerson refuses a service key an operation that needs a person.
func errNeedsPerson() error {
	return Errorf(CodeForbidden, "This operation needs a user's session; a service key cannot use it.")
}

// errNoMinting refuses a service key the making or control of a credential.
func errNoMinting() error {
	return Errorf(CodeForbidden, "A service key cannot create, reroll or delete credentials; use a user's session.")
}

// ServiceKeyLimits are a new key's rate limit and quota (zero: none).
type ServiceKeyLimits struct {
	Rate        int
	RatePeriod  time.Duration
	Quota       int64
	QuotaPeriod time.Duration
}

// NewServiceKey is a service key just made or rerolled, with the secret only this answer
// carries.
type NewServiceKey struct {
	Key    *ServiceKey
	Secret string
}

// manageableAccount checks that p may manage the service accounts of accountID: an ADMIN
// any account's, an ACCOUNT_ADMIN their own (another is NOT_FOUND), both with the admin
// scope. Service principals never (no minting).
func (s *Service) manageableAccount(ctx context.Context, accountID int64) (*Principal, error) {
	if p := PrincipalFrom(ctx); p != nil && p.Service != nil {
		return nil, errNoMinting()
	}
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if p.User.Role != RoleAdmin && p.User.AccountID != accountID {
		return nil, Errorf(CodeNotFound, "account not found")
	}
	if _, err := s.accounts.Account(ctx, accountID); errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "account not found")
	} else if err != nil {
		return nil, fmt.Errorf("find account: %w", err)
	}
	return p, nil
}

// managedServiceAccount loads service account id for p to manage: NOT_FOUND if it is in an
// account p does not manage, FORBIDDEN if it holds scopes p's session does not.
func (s *Service) managedServiceAccount(ctx context.Context, id int64) (*Principal, *ServiceAccount, error) {
	if p := PrincipalFrom(ctx); p != nil && p.Service != nil {
		return nil, nil, errNoMinting()
	}
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, nil, err
	}
	sa, err := s.serviceKeys.ServiceAccount(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && p.User.Role != RoleAdmin && sa.AccountID != p.User.AccountID) {
		return nil, nil, Errorf(CodeNotFound, "service account not found")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("find service account: %w", err)
	}
	if !p.covers(sa.Scopes) {
		return nil, nil, Errorf(CodeForbidden, "this session cannot manage a service account wider than itself: it holds %s, the session only %s",
			scopeList(sa.Scopes), scopeList(p.Session.Scopes))
	}
	return p, sa, nil
}

// serviceScopesFor validates requested scopes against allowed (the service scopes, or the
// service account's for a key) and p's session; nil requested means all of allowed, which p's
// session must then cover.
func serviceScopesFor(p *Principal, requested, allowed []Scope, what string) ([]Scope, error) {
	if requested == nil {
		requested = allowed
	}
	if len(requested) == 0 {
		return nil, Errorf(CodeInvalidInput, "scopes must name at least one scope")
	}
	out := make([]Scope, 0, len(requested))
	for _, sc := range requested {
		switch {
		case !sc.Valid():
			return nil, Errorf(CodeInvalidInput, "unknown scope %q", clip(string(sc), 32))
		case !slices.Contains(ServiceScopes, sc):
			return nil, Errorf(CodeInvalidInput, "a service account cannot hold %q: only read and admin mean something without a person", string(sc))
		case !slices.Contains(allowed, sc):
			return nil, Errorf(CodeInvalidInput, "the %s cannot hold %q, which its service account does not", what, string(sc))
		case !p.covers([]Scope{sc}):
			return nil, Errorf(CodeForbidden, "this session cannot give a %s the %q scope, which it does not hold", what, string(sc))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return sortScopes(out), nil
}

// CreateServiceAccount makes a service account in an account.
func (s *Service) CreateServiceAccount(ctx context.Context, accountID int64, name string, scopes []Scope) (ret *ServiceAccount, rerr error) {
	defer func() { s.noteService(ctx, audit.ServiceAccountCreated, accountID, rerr, serviceDetail(ret, nil)) }()
	p, err := s.manageableAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if err := checkServiceName(name); err != nil {
		return nil, err
	}
	sc, err := serviceScopesFor(p, scopes, ServiceScopes, "service account")
	if err != nil {
		return nil, err
	}
	sa := &ServiceAccount{AccountID: accountID, Name: name, Scopes: sc, CreatedAt: s.clock.Now().UTC()}
	if err := s.serviceKeys.CreateServiceAccount(ctx, sa); err != nil {
		return nil, fmt.Errorf("create service account: %w", err)
	}
	// The account was checked before the write: if it was deleted meanwhile, its deletion
	// may have listed its service accounts before this one was written, and this one would
	// outlive it (an admin could still give it working keys). Written first and checked
	// after, either the deletion's listing sees it or this check sees the account gone.
	if _, err := s.accounts.Account(ctx, accountID); errors.Is(err, ErrNotFound) {
		if _, derr := s.serviceKeys.DeleteServiceAccount(ctx, sa.ID); derr != nil && !errors.Is(derr, ErrNotFound) {
			return nil, fmt.Errorf("delete service account of a deleted account: %w", derr)
		}
		return nil, Errorf(CodeNotFound, "account not found")
	} else if err != nil {
		return nil, fmt.Errorf("find account: %w", err)
	}
	return sa, nil
}

func checkServiceName(name string) error {
	if name == "" {
		return Errorf(CodeInvalidInput, "name must not be empty")
	}
	return checkLabel("name", name)
}

// ServiceAccounts lists an account's service accounts: for its managers (as
// manageableAccount, read scope suffices), and for a service key of that account with the
// read scope. Another account is NOT_FOUND.
func (s *Service) ServiceAccounts(ctx context.Context, accountID int64) ([]*ServiceAccount, error) {
	p, err := requireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !p.HasScope(ScopeRead) {
		return nil, missingScope(ScopeRead)
	}
	switch {
	case p.Service != nil:
		if p.Service.AccountID != accountID {
			return nil, Errorf(CodeNotFound, "account not found")
		}
	case p.User.Role == RoleAdmin && p.HasScope(ScopeAdmin):
	case p.User.Role == RoleAccountAdmin && p.HasScope(ScopeAdmin) && p.User.AccountID == accountID:
	case p.User.Role.AtLeast(RoleAccountAdmin) && !p.HasScope(ScopeAdmin):
		return nil, missingScope(ScopeAdmin)
	case p.User.Role == RoleMember:
		return nil, Errorf(CodeForbidden, "This operation needs the ADMIN or ACCOUNT_ADMIN role.")
	default:
		return nil, Errorf(CodeNotFound, "account not found")
	}
	list, err := s.serviceKeys.ServiceAccountsOf(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("list service accounts: %w", err)
	}
	return list, nil
}

// ServiceKeysOf lists the keys of a service account the caller may see (one listed by
// ServiceAccounts).
func (s *Service) ServiceKeysOf(ctx context.Context, sa *ServiceAccount) ([]*ServiceKey, error) {
	p, err := requireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if p.Service != nil && p.Service.AccountID != sa.AccountID {
		return nil, nil
	}
	if p.Service == nil && !(p.User.Role == RoleAdmin || p.User.Role == RoleAccountAdmin && p.User.AccountID == sa.AccountID) {
		return nil, nil
	}
	return s.serviceKeys.ServiceKeysOf(ctx, sa.ID)
}

// RenameServiceAccount gives a service account a new name.
func (s *Service) RenameServiceAccount(ctx context.Context, id int64, name string) (ret *ServiceAccount, rerr error) {
	var accountID int64
	defer func() { s.noteService(ctx, audit.ServiceAccountRenamed, accountID, rerr, serviceDetail(ret, nil)) }()
	_, sa, err := s.managedServiceAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	accountID = sa.AccountID
	if err := checkServiceName(name); err != nil {
		return nil, err
	}
	return s.updateServiceAccount(ctx, id, func(sa *ServiceAccount) { sa.Name = name })
}

// SetServiceAccountDisabled disables a service account, which stops all its keys at once
// on every replica (the session cache drops them), or enables it again.
func (s *Service) SetServiceAccountDisabled(ctx context.Context, id int64, disabled bool) (ret *ServiceAccount, rerr error) {
	var accountID int64
	t := audit.ServiceAccountEnabled
	if disabled {
		t = audit.ServiceAccountDisabled
	}
	defer func() { s.noteService(ctx, t, accountID, rerr, serviceDetail(ret, nil)) }()
	_, sa, err := s.managedServiceAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	accountID = sa.AccountID
	return s.updateServiceAccount(ctx, id, func(sa *ServiceAccount) { sa.Disabled = disabled })
}

func (s *Service) updateServiceAccount(ctx context.Context, id int64, edit func(*ServiceAccount)) (*ServiceAccount, error) {
	sa, err := s.serviceKeys.UpdateServiceAccount(ctx, id, func(sa *ServiceAccount) error { edit(sa); return nil })
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "service account not found")
	}
	if err != nil {
		return nil, fmt.Errorf("update service account: %w", err)
	}
	return sa, nil
}

// DeleteServiceAccount deletes a service account and all its keys, which stop working at
// once on every replica, and forgets their usage.
func (s *Service) DeleteServiceAccount(ctx context.Context, id int64) (ret *ServiceAccount, rerr error) {
	var accountID int64
	defer func() { s.noteService(ctx, audit.ServiceAccountDeleted, accountID, rerr, serviceDetail(ret, nil)) }()
	_, sa, err := s.managedServiceAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	accountID = sa.AccountID
	keys, _ := s.serviceKeys.ServiceKeysOf(ctx, id) // only to forget their usage below
	sa, err = s.serviceKeys.DeleteServiceAccount(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "service account not found")
	}
	if err != nil {
		return nil, fmt.Errorf("delete service account: %w", err)
	}
	for _, k := range keys {
		s.forgetUsage(ctx, k.ID)
	}
	return sa, nil
}

// deleteServiceAccountsOf deletes every service account of an account (DeleteAccount).
func (s *Service) deleteServiceAccountsOf(ctx context.Context, accountID int64) error {
	list, err := s.serviceKeys.ServiceAccountsOf(ctx, accountID)
	if err != nil {
		return err
	}
	for _, sa := range list {
		if _, err := s.serviceKeys.DeleteServiceAccount(ctx, sa.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// CreateServiceKey makes a key for a service account, with scopes within the service
// account's (nil: all of them) and the session's, and answers its secret, once.
func (s *Service) CreateServiceKey(ctx context.Context, serviceAccountID int64, name string, scopes []Scope, expiresAt *time.Time, limits ServiceKeyLimits) (ret *NewServiceKey, rerr error) {
	var accountID int64
	defer func() {
		var k *ServiceKey
		if ret != nil {
			k = ret.Key
		}
		s.noteService(ctx, audit.ServiceKeyCreated, accountID, rerr, serviceDetail(nil, k))
	}()
	p, sa, err := s.managedServiceAccount(ctx, serviceAccountID)
	if err != nil {
		return nil, err
	}
	accountID = sa.AccountID
	if err := checkServiceName(name); err != nil {
		return nil, err
	}
	sc, err := serviceScopesFor(p, scopes, sa.Scopes, "service key")
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	if expiresAt != nil {
		if !expiresAt.After(now) {
			return nil, Errorf(CodeInvalidInput, "The key's expiry must be in the future.")
		}
		t := expiresAt.UTC()
		expiresAt = &t
	}
	if err := checkServiceLimits(limits); err != nil {
		return nil, err
	}
	secret, err := token.New(token.ServiceKeySecret)
	if err != nil {
		return nil, fmt.Errorf("new service key secret: %w", err)
	}
	k := &ServiceKey{
		ServiceAccountID: sa.ID, AccountID: sa.AccountID, Name: name, Digest: token.Sum(secret), Hint: SecretHint(secret),
		Scopes: sc, CreatedAt: now, ExpiresAt: expiresAt,
		Rate: limits.Rate, RatePeriod: limits.RatePeriod, Quota: limits.Quota, QuotaPeriod: limits.QuotaPeriod,
	}
	if err := s.serviceKeys.CreateServiceKey(ctx, k); errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "service account not found")
	} else if err != nil {
		return nil, fmt.Errorf("create service key: %w", err)
	}
	return &NewServiceKey{Key: k, Secret: secret}, nil
}

func checkServiceLimits(l ServiceKeyLimits) error {
	switch {
	case l.Rate < 0 || l.Quota < 0:
		return Errorf(CodeInvalidInput, "a rate limit or quota cannot be negative")
	case l.Rate > 0 && (l.RatePeriod < time.Second || l.RatePeriod > MaxServiceKeyPeriod):
		return Errorf(CodeInvalidInput, "a rate limit's period must be from 1 second to %s", humanDuration(MaxServiceKeyPeriod))
	case l.Rate == 0 && l.RatePeriod != 0:
		return Errorf(CodeInvalidInput, "a rate limit's period needs its number of requests")
	case l.Quota > 0 && l.QuotaPeriod != 0 && (l.QuotaPeriod < time.Second || l.QuotaPeriod > MaxServiceKeyPeriod):
		return Errorf(CodeInvalidInput, "a quota's period must be from 1 second to %s, or none", humanDuration(MaxServiceKeyPeriod))
	case l.Quota == 0 && l.QuotaPeriod != 0:
		return Errorf(CodeInvalidInput, "a quota's period needs its number of requests")
	}
	return nil
}

// managedServiceKey loads key id for p to act on: NOT_FOUND outside what p manages,
// FORBIDDEN for a key wider than p's session (control of a credential).
func (s *Service) managedServiceKey(ctx context.Context, id int64) (*Principal, *ServiceKey, error) {
	if p := PrincipalFrom(ctx); p != nil && p.Service != nil {
		return nil, nil, errNoMinting()
	}
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, nil, err
	}
	k, err := s.serviceKeys.ServiceKey(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !managesServiceKey(p, k)) {
		return nil, nil, Errorf(CodeNotFound, "service key not found")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("find service key: %w", err)
	}
	if err := checkServiceKeyCovered(p, k); err != nil {
		return nil, nil, err
	}
	return p, k, nil
}

func managesServiceKey(p *Principal, k *ServiceKey) bool {
	return p.User.Role == RoleAdmin || k.AccountID == p.User.AccountID
}

func checkServiceKeyCovered(p *Principal, k *ServiceKey) error {
	if !p.covers(k.Scopes) {
		return Errorf(CodeForbidden, "this session cannot act on a service key wider than itself: the key holds %s, the session only %s",
			scopeList(k.Scopes), scopeList(p.Session.Scopes))
	}
	return nil
}

// RerollServiceKey gives a service key a new secret, answered once; the old one keeps
// working for grace (0: stops at once), as rerollUserKey. The session must cover the key.
func (s *Service) RerollServiceKey(ctx context.Context, id int64, grace time.Duration) (ret *NewServiceKey, rerr error) {
	var accountID int64
	defer func() {
		var k *ServiceKey
		if ret != nil {
			k = ret.Key
		}
		s.noteService(ctx, audit.ServiceKeyRerolled, accountID, rerr, "service key "+strconv.FormatInt(id, 10)+serviceDetail(nil, k))
	}()
	p, k, err := s.managedServiceKey(ctx, id)
	if err != nil {
		return nil, err
	}
	accountID = k.AccountID
	if grace < 0 || grace > MaxRerollGrace {
		return nil, Errorf(CodeInvalidInput, "The grace period of the old secret must be from 0 to %s.", humanDuration(MaxRerollGrace))
	}
	secret, err := token.New(token.ServiceKeySecret)
	if err != nil {
		return nil, fmt.Errorf("new service key secret: %w", err)
	}
	now := s.clock.Now().UTC()
	k, err = s.serviceKeys.UpdateServiceKey(ctx, id, func(k *ServiceKey) error {
		if !managesServiceKey(p, k) {
			return Errorf(CodeNotFound, "service key not found")
		}
		if err := checkServiceKeyCovered(p, k); err != nil {
			return err
		}
		k.PreviousDigest, k.PreviousExpiresAt = token.Digest{}, nil
		if grace > 0 {
			until := now.Add(grace)
			k.PreviousDigest, k.PreviousExpiresAt = k.Digest, &until
		}
		k.Digest, k.Hint = token.Sum(secret), SecretHint(secret)
		return nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, Errorf(CodeNotFound, "service key not found")
	case errors.As(err, new(*Error)):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("reroll service key: %w", err)
	}
	return &NewServiceKey{Key: k, Secret: secret}, nil
}

// DeleteServiceKey deletes a service key: it stops working at once on every replica.
func (s *Service) DeleteServiceKey(ctx context.Context, id int64) (ret *ServiceKey, rerr error) {
	var accountID int64
	defer func() {
		s.noteService(ctx, audit.ServiceKeyDeleted, accountID, rerr, "service key "+strconv.FormatInt(id, 10))
	}()
	_, k, err := s.managedServiceKey(ctx, id)
	if err != nil {
		return nil, err
	}
	accountID = k.AccountID
	k, err = s.serviceKeys.DeleteServiceKey(ctx, k.ServiceAccountID, id)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "service key not found")
	}
	if err != nil {
		return nil, fmt.Errorf("delete service key: %w", err)
	}
	s.forgetUsage(ctx, id)
	return k, nil
}

// AuthenticateServiceKey answers the principal of a request that sent secret in x-api-key.
// Every refusal (malformed, unknown, expired, disabled, deleted, an old secret past its
// grace) is the same UNAUTHENTICATED; for a key that exists, which one it was goes to its
// account's audit trail only. A malformed secret (wrong prefix, length or checksum) is refused without a store lookup.
func (s *Service) AuthenticateServiceKey(ctx context.Context, secret string) (*Principal, error) {
	if token.Check(token.ServiceKeySecret, secret) != nil {
		return nil, &Error{Code: CodeUnauthenticated, Message: MsgUnauthenticated}
	}
	d := token.Sum(secret)
	cred, err := s.serviceKeys.ServiceKeyByDigest(ctx, d)
	if errors.Is(err, ErrNotFound) {
		// Not recorded: a made-up secret names no account, and a request with a bad key
		// writes nothing (so a flood of them fills nothing).
		return nil, &Error{Code: CodeUnauthenticated, Message: MsgUnauthenticated}
	}
	if err != nil {
		return nil, fmt.Errorf("find service key: %w", err)
	}
	now := s.clock.Now()
	k, sa := cred.Key, cred.Account
	reason := ""
	switch {
	case !k.Matches(d, now):
		reason = "old_secret"
	case k.Expired(now):
		reason = reasonKeyExpired
	case sa.Disabled:
		reason = "service_account_disabled"
	case sa.ID != k.ServiceAccountID:
		reason = reasonUnknownKey
	}
	if reason != "" {
		s.noteServiceKeyFailure(ctx, reason, k.AccountID, k.ID)
		return nil, &Error{Code: CodeUnauthenticated, Message: MsgUnauthenticated}
	}
	scopes := make([]Scope, 0, len(k.Scopes))
	for _, sc := range k.Scopes {
		if slices.Contains(sa.Scopes, sc) { // a key never holds more than its account now does
			scopes = append(scopes, sc)
		}
	}
	return &Principal{Service: &ServiceCaller{AccountID: k.AccountID, ServiceAccountID: sa.ID, KeyID: k.ID, Name: sa.Name, Scopes: scopes}, ServiceKey: k}, nil
}

// ServiceKeyMeter reads and forgets the usage of service keys (the HTTP layer meters
// requests itself); nil: no usage is kept.
type ServiceKeyMeter interface {
	Usage(ctx context.Context, k *ServiceKey, since time.Time) (*ServiceKeyUsage, error)
	Forget(ctx context.Context, keyID int64) error
}

// ServiceKeyUsage is what a key's meter knows of it.
type ServiceKeyUsage struct {
	Hours          []ServiceKeyHour
	LastUsedAt     *time.Time
	QuotaRemaining *int64 // nil: the key has no quota
}

// ServiceKeyHour counts one hour's requests of a key.
type ServiceKeyHour struct {
	Start            time.Time
	Allowed, Refused int64
}

// UsageWindow is how far back usage is kept.
const UsageWindow = 30 * 24 * time.Hour

// ServiceKeyUsage answers a key's usage since since (at most UsageWindow back), for a
// caller who may see the key.
func (s *Service) ServiceKeyUsage(ctx context.Context, k *ServiceKey, since time.Time) (*ServiceKeyUsage, error) {
	p, err := requireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if p.Service != nil && p.Service.AccountID != k.AccountID ||
		p.Service == nil && !(p.User.Role == RoleAdmin || p.User.Role == RoleAccountAdmin && p.User.AccountID == k.AccountID) {
		return nil, Errorf(CodeNotFound, "service key not found")
	}
	if s.cfg.ServiceKeyMeter == nil {
		return &ServiceKeyUsage{}, nil
	}
	if earliest := s.clock.Now().Add(-UsageWindow); since.Before(earliest) {
		since = earliest
	}
	return s.cfg.ServiceKeyMeter.Usage(ctx, k, since)
}

func (s *Service) forgetUsage(ctx context.Context, keyID int64) {
	if s.cfg.ServiceKeyMeter != nil {
		_ = s.cfg.ServiceKeyMeter.Forget(ctx, keyID) // best effort: usage expires anyway
	}
}

// serviceDetail names what an audit event is about: ids and names, never a secret.
func serviceDetail(sa *ServiceAccount, k *ServiceKey) string {
	switch {
	case k != nil:
		return "key " + strconv.FormatInt(k.ID, 10) + " of service account " + strconv.FormatInt(k.ServiceAccountID, 10)
	case sa != nil:
		return "service account " + strconv.FormatInt(sa.ID, 10) + " " + sa.Name
	}
	return ""
}

// noteService records an operation on a service account or key of an account.
func (s *Service) noteService(ctx context.Context, t audit.Type, accountID int64, err error, detail string) {
	if accountID == 0 && err != nil {
		return // refused before its subject was found
	}
	s.noteAccount(ctx, t, accountID, err, detail)
}

// noteServiceKeyFailure records a refused x-api-key of an existing key: the reason and the
// key, never the secret. At most one event per key and minute per replica: a client that
// repeats a refused key writes nothing more, so what it can make the trail hold is bounded by
// the keys that exist, not by its requests.
func (s *Service) noteServiceKeyFailure(ctx context.Context, reason string, accountID, keyID int64) {
	if s.cfg.Auditor == nil || !s.touch.due(touchID{refusedServiceKey, keyID}, nil, s.clock.Now()) {
		return
	}
	e := audit.Event{Type: audit.ServiceKeyRefused, AccountID: accountID, Outcome: audit.Failure, Reason: reason,
		ActorKind: audit.Anonymous}
	if keyID != 0 {
		e.Detail = "service key " + strconv.FormatInt(keyID, 10)
	}
	s.record(ctx, e)
}
