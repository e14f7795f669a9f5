package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Scope is a right that a session may hold. A session made by signing in (password or
// external) holds them all: the user's full rights. A session made from a user key holds the
// key's scopes only, so that a key given to a program can be limited to what it needs.
type Scope string

// Scopes. The schema marks every operation with the scope it needs (@hasScope).
const (
	// ScopeRead lets a session run queries.
	ScopeRead Scope = "read"
	// ScopeKeysWrite lets a session create, reroll and delete the user's keys.
	ScopeKeysWrite Scope = "keys:write"
	// ScopeSessionsWrite lets a session end the user's other sessions.
	ScopeSessionsWrite Scope = "sessions:write"
	// ScopeAccountWrite lets a session change the account itself (password, TOTP). No key can
	// hold it: only a sign-in with the user's own credentials can.
	ScopeAccountWrite Scope = "account:write"
	// ScopeAdmin lets an admin's session use the admin operations; for members it means
	// nothing, and no member's key can hold it.
	ScopeAdmin Scope = "admin"
)

// AllScopes lists every scope in a fixed order, the order in which scope lists are answered.
var AllScopes = []Scope{ScopeRead, ScopeKeysWrite, ScopeSessionsWrite, ScopeAccountWrite, ScopeAdmin}

// Valid reports whether sc is a known scope.
func (sc Scope) Valid() bool { return slices.Contains(AllScopes, sc) }

// HeldScopes spells out what sess may do for a user of role r, in the order of AllScopes: its
// scopes, or for a sign-in session (Scopes nil: the user's full rights) every scope but admin,
// and admin too for an admin. (HasScope lets a member's sign-in session pass a check of admin,
// which means nothing for members; a list shown outside, by token introspection or the
// embeddable verifier, does not claim it.)
func HeldScopes(sess *Session, r Role) []Scope {
	if sess.Scopes != nil {
		return sortScopes(slices.Clone(sess.Scopes))
	}
	out := []Scope{ScopeRead, ScopeKeysWrite, ScopeSessionsWrite, ScopeAccountWrite}
	if r.AtLeast(RoleAccountAdmin) {
		out = append(out, ScopeAdmin)
	}
	return out
}

// KeyScopes answers the scopes that a key of a user with role r may hold: everything but
// account:write, and admin only for admins and account admins. A key made without scopes
// holds all of these.
func KeyScopes(r Role) []Scope {
	out := []Scope{ScopeRead, ScopeKeysWrite, ScopeSessionsWrite}
	if r.AtLeast(RoleAccountAdmin) {
		out = append(out, ScopeAdmin)
	}
	return out
}

// EffectiveScopes answers what a session made from k may do, for an owner of role r: the
// key's scopes, or KeyScopes(r) for a key made without any.
func (k *UserKey) EffectiveScopes(r Role) []Scope {
	if k.Scopes == nil {
		return KeyScopes(r)
	}
	return slices.Clone(k.Scopes)
}

// HasScope reports whether the principal's session may do what sc allows. A principal
// without a session has no rights (fail closed).
func (p *Principal) HasScope(sc Scope) bool {
	if p != nil && p.Service != nil {
		return slices.Contains(p.Service.Scopes, sc)
	}
	if p == nil || p.Session == nil {
		return false
	}
	return p.Session.Scopes == nil || slices.Contains(p.Session.Scopes, sc)
}

// requireScope answers the principal in ctx if its session holds sc; UNAUTHENTICATED without
// a principal, FORBIDDEN without the scope. The schema's @hasScope checks the same first;
// the service checks again so that a missing directive cannot open a hole.
func requireScope(ctx context.Context, sc Scope) (*Principal, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	if !p.HasScope(sc) {
		return nil, missingScope(sc)
	}
	return p, nil
}

// covers reports whether p's session may obtain or control a credential that holds scopes:
// a session may never get hold of more than it can do itself, or a narrow key could trade
// itself for a wider one (reroll a full key and sign in with its new secret). A sign-in
// session (Scopes nil) covers everything its user may hold; a session made from a key covers
// only the scopes it holds. Without a session, nothing (fail closed): a service key, which
// has none, can obtain no credential.
func (p *Principal) covers(scopes []Scope) bool {
	if p == nil || p.Session == nil || p.Service != nil {
		return false
	}
	if p.Session.Scopes == nil {
		return true
	}
	for _, sc := range scopes {
		if !slices.Contains(p.Session.Scopes, sc) {
			return false
		}
	}
	return true
}

// keyOp names an operation on an existing user key, for the messages of checkOwnKey.
type keyOp string

// Operations on an existing user key. Each goes through ownKeyFor (or checkOwnKey inside an
// atomic update): a new one must too, and TestEveryKeyOperationIsCovered makes it list itself.
const (
	keyOpReroll keyOp = "reroll"
	keyOpDelete keyOp = "delete"
)

// checkOwnKey answers nil if p may act (op) on k: k is p's user's own key, and p's session
// covers every scope the key holds (its effective scopes: a key made without scopes holds its
// owner's full key rights). Someone else's key is NOT_FOUND, checked first and whatever its
// scopes, so that a narrow session learns nothing about other users' key ids; an own key
// wider than the session is FORBIDDEN.
func checkOwnKey(p *Principal, k *UserKey, op keyOp) error {
	if k.UserID != p.User.ID {
		return Errorf(CodeNotFound, "user key not found")
	}
	if want := k.EffectiveScopes(p.User.Role); !p.covers(want) {
		var held []Scope
		if p.Session != nil {
			held = p.Session.Scopes
		}
		return Errorf(CodeForbidden, "this session cannot %s a key wider than itself: the key holds %s, the session only %s",
			op, scopeList(want), scopeList(held))
	}
	return nil
}

// ownKeyFor loads key keyID for p to act on (op), through checkOwnKey. Every operation on an
// existing key starts here, so none can forget ownership or the no-wider-credential rule.
func (s *Service) ownKeyFor(ctx context.Context, p *Principal, keyID int64, op keyOp) (*UserKey, error) {
	k, err := s.keys.Key(ctx, keyID)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "user key not found")
	}
	if err != nil {
		return nil, fmt.Errorf("find user key to %s: %w", op, err)
	}
	if err := checkOwnKey(p, k, op); err != nil {
		return nil, err
	}
	return k, nil
}

// scopeList writes scopes for a message: "read, keys:write", or "none".
func scopeList(scopes []Scope) string {
	if len(scopes) == 0 {
		return "none"
	}
	names := make([]string, len(scopes))
	for i, sc := range scopes {
		names[i] = string(sc)
	}
	return strings.Join(names, ", ")
}

func missingScope(sc Scope) error {
	return Errorf(CodeForbidden, "This operation needs the %q scope, which this session does not hold.", string(sc))
}

// keyScopesFor validates the scopes requested for a new key by principal p and answers what
// to store: nil for a key with the user's full rights. A session limited by scopes can give a
// key no scope it lacks itself (covers), and a key it makes without scopes inherits the
// session's.
func keyScopesFor(p *Principal, requested []Scope) ([]Scope, error) {
	if requested == nil {
		if p.Session != nil && p.Session.Scopes != nil {
			return slices.Clone(p.Session.Scopes), nil
		}
		// Spelled out rather than stored as "whatever the role allows": a key keeps the
		// rights it was made with, so promoting its owner later widens no key already out.
		return KeyScopes(p.User.Role), nil
	}
	if len(requested) == 0 {
		return nil, Errorf(CodeInvalidInput, "scopes must name at least one scope; leave it out for the user's full rights")
	}
	allowed := KeyScopes(p.User.Role)
	out := make([]Scope, 0, len(requested))
	for _, sc := range requested {
		switch {
		case !sc.Valid():
			return nil, Errorf(CodeInvalidInput, "unknown scope %q; known scopes: read, keys:write, sessions:write, account:write, admin", clip(string(sc), 32))
		case sc == ScopeAccountWrite:
			return nil, Errorf(CodeInvalidInput, "a key cannot hold account:write: changing the account needs a sign-in with the password")
		case !slices.Contains(allowed, sc):
			return nil, Errorf(CodeInvalidInput, "only an admin's key can hold the %q scope", string(sc))
		case !p.covers([]Scope{sc}):
			return nil, Errorf(CodeForbidden, "this session cannot give a key the %q scope, which it does not hold", string(sc))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return sortScopes(out), nil
}

// sortScopes puts scopes in the order of AllScopes.
func sortScopes(s []Scope) []Scope {
	slices.SortFunc(s, func(a, b Scope) int { return slices.Index(AllScopes, a) - slices.Index(AllScopes, b) })
	return s
}

// EffectiveKeyScopes answers what sessions made from k may do: its scopes, or for a key
// made without any, the scopes a key of its owner may hold.
func (s *Service) EffectiveKeyScopes(ctx context.Context, k *UserKey) ([]Scope, error) {
	if k.Scopes != nil {
		return slices.Clone(k.Scopes), nil
	}
	if p := PrincipalFrom(ctx); p != nil && p.User != nil && p.User.ID == k.UserID {
		return KeyScopes(p.User.Role), nil
	}
	u, err := s.users.User(ctx, k.UserID)
	if err != nil {
		return nil, err
	}
	return KeyScopes(u.Role), nil
}
