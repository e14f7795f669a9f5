package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/token"
)

// NewUserKey is a key just made, with the secret that only this answer carries.
type NewUserKey struct {
	Key    *UserKey
	Secret string
}

// CreateUserKey makes an API key for the current user. Without scopes the key gets the
// user's full rights as a key may hold them (KeyScopes) — or, made from a session that is
// itself limited, that session's scopes; an explicit empty list is refused. With a maximum
// key lifetime configured, expiresAt defaults to it and may not exceed it. Made from a key
// session, the new key expires no later than the key the session came from.
func (s *Service) CreateUserKey(ctx context.Context, name string, expiresAt *time.Time, scopes ...Scope) (ret *NewUserKey, rerr error) {
	defer func() { s.noteSelf(ctx, audit.KeyCreated, rerr, keyDetail(ret)) }()
	p, err := requireScope(ctx, ScopeKeysWrite)
	if err != nil {
		return nil, err
	}
	if err := checkLabel("name", name); err != nil {
		return nil, err
	}
	keyScopes, err := keyScopesFor(p, scopes)
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
	if limit := s.cfg.UserKeyMaxTTL; limit > 0 {
		latest := now.Add(limit)
		switch {
		case expiresAt == nil:
			expiresAt = &latest
		case expiresAt.After(latest):
			return nil, Errorf(CodeInvalidInput, "The key's expiry must be at most %s from now.", humanDuration(limit))
		}
	}
	if expiresAt, err = s.capByParentKey(ctx, p, expiresAt); err != nil {
		return nil, err
	}
	secret, hash, err := s.newKeySecret(ctx)
	if err != nil {
		return nil, err
	}
	k := &UserKey{
		UserID: p.User.ID, Name: name, SecretHash: hash, SecretHint: SecretHint(secret),
		CreatedAt: now, ExpiresAt: expiresAt, Scopes: keyScopes,
	}
	if err := s.keys.CreateKey(ctx, k); err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	return &NewUserKey{Key: k, Secret: secret}, nil
}

// SecretHint answers the last six characters of a key secret: its CRC32 checksum (see
// internal/token). Stored with the hash, it tells LoginUserKey which hash to verify during a
// reroll's grace period without a second argon2 run. It gives away 32 bits of a 256-bit
// secret to whoever can read the store, who can read the argon2 hash anyway.
func SecretHint(secret string) string {
	const n = 6
	if len(secret) < n {
		return ""
	}
	return secret[len(secret)-n:]
}

// DeleteUserKey deletes one of the current user's keys and ends every session and refresh
// token family made from it, those of sign-ins still running included (the store makes the
// two atomic: see KeyStore.DeleteKey). Someone else's key is not found, never forbidden;
// an own key wider than the session is forbidden (see checkOwnKey).
//
// A call that fails (SERVICE_UNAVAILABLE) may have revoked the key without ending all its
// sessions yet: the key no longer signs in, and a retry finishes the work and answers the
// key, not NOT_FOUND.
func (s *Service) DeleteUserKey(ctx context.Context, keyID int64) (ret *UserKey, rerr error) {
	defer func() { s.noteSelf(ctx, audit.KeyDeleted, rerr, "key "+strconv.FormatInt(keyID, 10)) }()
	p, err := requireScope(ctx, ScopeKeysWrite)
	if err != nil {
		return nil, err
	}
	// A key the store no longer answers may be one that a failed call revoked without
	// ending its sessions yet: the store's DeleteKey finishes that (and answers NOT_FOUND
	// for a key that is not there, or not the caller's), so that the retry is safe. Such a
	// key signs in no more, whatever its scopes: finishing its deletion gives no rights.
	if _, err := s.ownKeyFor(ctx, p, keyID, keyOpDelete); err != nil && ErrorCode(err) != CodeNotFound {
		return nil, err
	}
	k, err := s.keys.DeleteKey(ctx, p.User.ID, keyID)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "user key not found")
	}
	if err != nil {
		return nil, fmt.Errorf("delete key: %w", err)
	}
	return k, nil
}

// UserKeys lists a user's keys: the caller's own, or anyone's for an admin.
func (s *Service) UserKeys(ctx context.Context, userID int64) ([]*UserKey, error) {
	p, err := requireScope(ctx, ScopeRead)
	if err != nil {
		return nil, err
	}
	if !canSee(p, userID) {
		return nil, Errorf(CodeNotFound, "user not found")
	}
	return s.keys.KeysOf(ctx, userID)
}

// UserKey answers one of the caller's keys (or anyone's for an admin); nil if it is gone.
func (s *Service) UserKey(ctx context.Context, keyID int64) (*UserKey, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	k, err := s.keys.Key(ctx, keyID)
	if errors.Is(err, ErrNotFound) || (err == nil && !canSee(p, k.UserID)) {
		return nil, nil
	}
	return k, err
}

// newKeySecret makes a user key's secret and its argon2id hash, the only form it is kept in.
func (s *Service) newKeySecret(ctx context.Context) (secret, hash string, err error) {
	secret, err = token.New(token.UserKeySecret)
	if err != nil {
		return "", "", fmt.Errorf("new key secret: %w", err)
	}
	hash, err = s.hasher.Hash(ctx, secret)
	if err != nil {
		return "", "", fmt.Errorf("hash key secret: %w", err)
	}
	return secret, hash, nil
}

// capByParentKey applies to a new key's expiry the rule that binds its scopes: a session made
// from a key can hand down no more than it holds, and that includes time. A key that expires
// tomorrow must not mint one that never does. Without an expiry of its own the new key takes
// the parent's; a later one is refused. Sessions signed in otherwise are not bound.
func (s *Service) capByParentKey(ctx context.Context, p *Principal, expiresAt *time.Time) (*time.Time, error) {
	if p.Session == nil || p.Session.Method != MethodUserKey || p.Session.UserKeyID == 0 {
		return expiresAt, nil
	}
	parent, err := s.keys.Key(ctx, p.Session.UserKeyID)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeForbidden, "the key this session was made from is gone")
	}
	if err != nil {
		return nil, fmt.Errorf("find the session's key: %w", err)
	}
	switch {
	case parent.ExpiresAt == nil:
		return expiresAt, nil
	case expiresAt == nil:
		t := parent.ExpiresAt.UTC()
		return &t, nil
	case expiresAt.After(*parent.ExpiresAt):
		return nil, Errorf(CodeForbidden, "this session cannot make a key that outlives the key it was made from (which expires at %s)",
			parent.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return expiresAt, nil
}
