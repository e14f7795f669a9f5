package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// Linked identities, authorization code flows and the one-time codes they hand to apps. Keys (p the prefix):
//
//	p af:<digest>               a flow under way, under the 32 raw bytes of its state's
//	                            SHA-256: compact JSON; PEXPIREAT its expiry (minutes).
//	                            GETDEL consumes it, so of concurrent callbacks exactly one
//	                            gets it
//	p ac:<digest>               a one-time code handed to an app, under the 32 raw bytes of
//	                            its SHA-256: compact JSON; PEXPIREAT its expiry (a minute).
//	                            GETDEL consumes it
//	p idn:<provider>:<subject>  the user id a provider's account is linked to; claimed with
//	                            SET NX, so it is the lock that makes a link unique. Provider
//	                            names hold no ":"
//	p {u<uid>}:idn              HASH "<provider>:<subject>" → compact JSON {"e","t"} (email,
//	                            linked at, Unix ns): the user's links. No TTL; DeleteUser
//	                            removes it and releases its claims
//
// The user's hash is the truth: a claim whose user's hash lacks the field (a link under way,
// or one that died half-way) finds no one, but keeps the identity taken until
// DEL p idn:<provider>:<subject>, as a username claim does.

func (n names) authFlow(d token.Digest) string { return n.prefix + "af:" + string(d[:]) }

func (n names) appCode(d token.Digest) string { return n.prefix + "ac:" + string(d[:]) }

func (n names) identity(provider, subject string) string {
	return n.prefix + "idn:" + provider + ":" + subject
}

func (n names) identitiesOf(userID int64) string {
	return n.prefix + "{u" + itoa(userID) + "}:idn"
}

type authFlowRecord struct {
	Binding  []byte `json:"b"`
	Provider string `json:"p"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r,omitempty"`
	Link     int64  `json:"l,omitempty"`
	// The app's redirect URI, state and PKCE challenge, for a flow that ends with a code.
	AppRedirect  string `json:"ar,omitempty"`
	AppState     string `json:"as,omitempty"`
	AppChallenge string `json:"ac,omitempty"`
	Expires      int64  `json:"e"` // Unix ns
}

type appCodeRecord struct {
	Provider    string `json:"p"`
	RedirectURI string `json:"r"`
	Challenge   string `json:"c"`
	User        int64  `json:"u"`
	Subject     string `json:"s"`
	Expires     int64  `json:"e"` // Unix ns
}

type identityRecord struct {
	Email  string `json:"e,omitempty"`
	Linked int64  `json:"t"` // Unix ns
}

// CreateAuthFlow implements auth.IdentityStore.
func (s *Store) CreateAuthFlow(ctx context.Context, f *auth.AuthFlow) error {
	const op = "create auth flow"
	if !s.clock.Now().Before(f.ExpiresAt) {
		return nil // over already
	}
	b, err := json.Marshal(authFlowRecord{f.Binding[:], f.Provider, f.Nonce, f.Verifier, f.ReturnTo, f.LinkUserID,
		f.AppRedirect, f.AppState, f.AppChallenge, f.ExpiresAt.UnixNano()})
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	err = s.rdb.SetArgs(ctx, s.name.authFlow(f.StateDigest), b, redis.SetArgs{Mode: "NX", ExpireAt: ceilMilli(f.ExpiresAt)}).Err()
	if errors.Is(err, redis.Nil) {
		return conflict(op)
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// ConsumeAuthFlow implements auth.IdentityStore with one GETDEL.
func (s *Store) ConsumeAuthFlow(ctx context.Context, d token.Digest) (*auth.AuthFlow, error) {
	const op = "consume auth flow"
	b, err := s.rdb.GetDel(ctx, s.name.authFlow(d)).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	var r authFlowRecord
	if err := json.Unmarshal(b, &r); err != nil || len(r.Binding) != len(token.Digest{}) {
		return nil, fail(op, fmt.Errorf("%w: auth flow", errCorrupt))
	}
	exp := time.Unix(0, r.Expires).UTC()
	if !s.clock.Now().Before(exp) {
		return nil, notFound(op)
	}
	return &auth.AuthFlow{
		StateDigest: d, Binding: token.Digest(r.Binding), Provider: r.Provider, Nonce: r.Nonce,
		Verifier: r.Verifier, ReturnTo: r.ReturnTo, LinkUserID: r.Link,
		AppRedirect: r.AppRedirect, AppState: r.AppState, AppChallenge: r.AppChallenge, ExpiresAt: exp,
	}, nil
}

// CreateAppCode implements auth.IdentityStore.
func (s *Store) CreateAppCode(ctx context.Context, c *auth.AppCode) error {
	const op = "create app code"
	if !s.clock.Now().Before(c.ExpiresAt) {
		return nil // over already
	}
	b, err := json.Marshal(appCodeRecord{c.Provider, c.RedirectURI, c.Challenge, c.UserID, c.Subject, c.ExpiresAt.UnixNano()})
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	err = s.rdb.SetArgs(ctx, s.name.appCode(c.Digest), b, redis.SetArgs{Mode: "NX", ExpireAt: ceilMilli(c.ExpiresAt)}).Err()
	if errors.Is(err, redis.Nil) {
		return conflict(op)
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// ConsumeAppCode implements auth.IdentityStore with one GETDEL.
func (s *Store) ConsumeAppCode(ctx context.Context, d token.Digest) (*auth.AppCode, error) {
	const op = "consume app code"
	b, err := s.rdb.GetDel(ctx, s.name.appCode(d)).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	var r appCodeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fail(op, fmt.Errorf("%w: app code", errCorrupt))
	}
	exp := time.Unix(0, r.Expires).UTC()
	if !s.clock.Now().Before(exp) {
		return nil, notFound(op)
	}
	return &auth.AppCode{Digest: d, Provider: r.Provider, RedirectURI: r.RedirectURI, Challenge: r.Challenge,
		UserID: r.User, Subject: r.Subject, ExpiresAt: exp}, nil
}

// userAlive answers nil if the user exists and is not being deleted.
func (s *Store) userAlive(ctx context.Context, op string, userID int64) error {
	b, err := s.rdb.Get(ctx, s.name.user(userID)).Bytes()
	if err != nil {
		return fail(op, err)
	}
	if _, err := decodeUser(userID, b); err != nil {
		return fail(op, err)
	}
	return nil
}

// LinkIdentity implements auth.IdentityStore: check the user, claim the identity (SET NX),
// add it to the user's hash, check the user again. DeleteUser marks the user before it reads
// the hash, so either the second check sees the mark and the link is undone, or the purge
// finds the field and releases the claim.
func (s *Store) LinkIdentity(ctx context.Context, l *auth.LinkedIdentity) error {
	const op = "link identity"
	if strings.Contains(l.Provider, ":") {
		return fmt.Errorf("redisstore: %s: provider name %q holds a colon", op, l.Provider)
	}
	if err := s.userAlive(ctx, op, l.UserID); err != nil {
		return err
	}
	claim := s.name.identity(l.Provider, l.Subject)
	ok, err := s.rdb.SetNX(ctx, claim, l.UserID, 0).Result()
	if err != nil {
		return fail(op, err)
	}
	if !ok {
		return conflict(op)
	}
	b, _ := json.Marshal(identityRecord{l.Email, l.LinkedAt.UnixNano()})
	field := l.Provider + ":" + l.Subject
	err = s.rdb.HSet(ctx, s.name.identitiesOf(l.UserID), field, b).Err()
	if err == nil {
		err = s.userAlive(ctx, op, l.UserID)
	}
	if err != nil {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = s.rdb.HDel(uctx, s.name.identitiesOf(l.UserID), field).Err()
		_ = deleteIfEqual.Run(uctx, s.rdb, []string{claim}, itoa(l.UserID)).Err()
		return fail(op, err)
	}
	return nil
}

// IdentityBySubject implements auth.IdentityStore.
func (s *Store) IdentityBySubject(ctx context.Context, provider, subject string) (*auth.LinkedIdentity, error) {
	const op = "identity by subject"
	v, err := s.rdb.Get(ctx, s.name.identity(provider, subject)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	uid, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fail(op, fmt.Errorf("%w: identity claim", errCorrupt))
	}
	b, err := s.rdb.HGet(ctx, s.name.identitiesOf(uid), provider+":"+subject).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	return decodeIdentity(op, uid, provider, subject, b)
}

func decodeIdentity(op string, uid int64, provider, subject string, b []byte) (*auth.LinkedIdentity, error) {
	var r identityRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fail(op, fmt.Errorf("%w: identity: %w", errCorrupt, err))
	}
	return &auth.LinkedIdentity{UserID: uid, Provider: provider, Subject: subject, Email: r.Email, LinkedAt: time.Unix(0, r.Linked).UTC()}, nil
}

// IdentitiesOf implements auth.IdentityStore (HGETALL).
func (s *Store) IdentitiesOf(ctx context.Context, userID int64) ([]*auth.LinkedIdentity, error) {
	const op = "identities of"
	all, err := s.rdb.HGetAll(ctx, s.name.identitiesOf(userID)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	out := make([]*auth.LinkedIdentity, 0, len(all))
	for field, b := range all {
		provider, subject, ok := strings.Cut(field, ":")
		if !ok {
			continue
		}
		l, err := decodeIdentity(op, userID, provider, subject, []byte(b))
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *auth.LinkedIdentity) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Subject, b.Subject))
	})
	return out, nil
}

// UnlinkIdentity implements auth.IdentityStore: the HDEL that removes the field decides
// which of concurrent calls answers the link; the claim is released after it.
func (s *Store) UnlinkIdentity(ctx context.Context, userID int64, provider, subject string) (*auth.LinkedIdentity, error) {
	const op = "unlink identity"
	key, field := s.name.identitiesOf(userID), provider+":"+subject
	b, err := s.rdb.HGet(ctx, key, field).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	l, err := decodeIdentity(op, userID, provider, subject, b)
	if err != nil {
		return nil, err
	}
	n, err := s.rdb.HDel(ctx, key, field).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	if n == 0 {
		return nil, notFound(op)
	}
	if err := deleteIfEqual.Run(ctx, s.rdb, []string{s.name.identity(provider, subject)}, itoa(userID)).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fail(op, err)
	}
	return l, nil
}

// releaseIdentities releases the claims of a user being deleted; the caller deletes the hash.
func (s *Store) releaseIdentities(ctx context.Context, userID int64) error {
	fields, err := s.rdb.HKeys(ctx, s.name.identitiesOf(userID)).Result()
	if err != nil {
		return err
	}
	return s.deleteAll(ctx, len(fields), func(p redis.Pipeliner, i int) {
		if provider, subject, ok := strings.Cut(fields[i], ":"); ok {
			deleteIfEqual.Eval(ctx, p, []string{s.name.identity(provider, subject)}, itoa(userID))
		}
	})
}
