package auth

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/authgraph/authgraph/internal/audit"
)

// CreateUser makes a user in the default account. Only admins may.
func (s *Service) CreateUser(ctx context.Context, username, password string, role Role) (*User, error) {
	return s.CreateUserInAccount(ctx, "", username, password, role)
}

// CreateUserInAccount makes a user in the account with the given slug ("": the default account).
// Admins may, in any account; account admins in their own ("" is theirs), with a role no
// higher than their own.
func (s *Service) CreateUserInAccount(ctx context.Context, accountSlug, username, password string, role Role) (ret *User, rerr error) {
	defer func() { s.noteUser(ctx, audit.UserCreated, ret, rerr, roleDetail(ret)) }()
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if role == "" {
		role = RoleMember
	}
	if err := grantable(p, role); err != nil {
		return nil, err
	}
	if accountSlug, err = s.accountForManager(ctx, p, accountSlug); err != nil {
		return nil, err
	}
	return s.createUser(ctx, accountSlug, username, password, role)
}

// EnsureUser makes the user in the default account unless one with that username exists
// there: the operator's bootstrap of the first admin. It answers whether it made the user.
//
// The password policy does not stop it: the operator chose this password in the server's
// configuration, and refusing to start over it would take the whole API down. The server
// warns about a weak one instead (see WeakPassword); every password a user or admin sets
// through the API must pass the policy.
func (s *Service) EnsureUser(ctx context.Context, username, password string, role Role) (bool, error) {
	def, err := s.EnsureDefaultAccount(ctx)
	if err != nil {
		return false, err
	}
	_, err = s.users.UserByUsername(ctx, def.ID, username)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	u, err := s.createUserWith(ctx, "", username, password, role, checkBootstrapPassword)
	if err != nil {
		if ErrorCode(err) == CodeConflict { // made by another replica meanwhile
			return false, nil
		}
		return false, err
	}
	s.record(ctx, audit.Event{Type: audit.UserCreated, Outcome: audit.Success, ActorKind: audit.System,
		UserID: u.ID, AccountID: u.AccountID, Detail: string(role)})
	return true, nil
}

func (s *Service) createUser(ctx context.Context, accountSlug, username, password string, role Role) (*User, error) {
	return s.createUserWith(ctx, accountSlug, username, password, role, func(p string) error { return CheckPassword(p, username) })
}

// WeakPassword reports why password fails the policy for username, or "" if it passes.
func WeakPassword(password, username string) string {
	if err := CheckPassword(password, username); err != nil {
		return ErrorMessage(err)
	}
	return ""
}

func (s *Service) createUserWith(ctx context.Context, accountSlug, username, password string, role Role, checkPassword func(string) error) (*User, error) {
	if role == "" {
		role = RoleMember
	}
	if !role.Valid() {
		return nil, Errorf(CodeInvalidInput, "unknown role")
	}
	if err := checkUsername(username); err != nil {
		return nil, err
	}
	if err := checkPassword(password); err != nil {
		return nil, err
	}
	account, err := s.accountForNewUser(ctx, accountSlug)
	if err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u := &User{AccountID: account.ID, Username: username, PasswordHash: hash, Role: role, CreatedAt: s.clock.Now().UTC()}
	if err := s.users.CreateUser(ctx, u); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, Errorf(CodeConflict, "username is taken in this account")
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	// Written first, the account checked last: a DeleteAccount racing this either finds the
	// user in its sweep, which follows its removal of the account, or is seen here, and the
	// user is taken back (see DeleteAccount).
	if _, err := s.accounts.Account(ctx, account.ID); errors.Is(err, ErrNotFound) {
		if _, err := s.users.DeleteUser(ctx, u.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("take back a user of a deleted account: %w", err)
		}
		return nil, Errorf(CodeNotFound, "account not found")
	} else if err != nil {
		return nil, fmt.Errorf("check account of new user: %w", err)
	}
	return u, nil
}

// Me answers the current user.
func (s *Service) Me(ctx context.Context) (*User, error) {
	p, err := requireScope(ctx, ScopeRead)
	if err != nil {
		return nil, err
	}
	return p.User, nil
}

// canSee reports whether the principal may read userID's keys and sessions: their own, or any
// as an admin whose session holds the admin scope.
func canSee(p *Principal, userID int64) bool {
	return p.User.ID == userID || isAdmin(p)
}

// checkBootstrapPassword bounds the operator's bootstrap password without the policy: it must
// be non-empty, valid UTF-8 and at most maxPasswordLen characters.
func checkBootstrapPassword(password string) error {
	switch {
	case password == "":
		return Errorf(CodeInvalidInput, "password must not be empty")
	case !utf8.ValidString(password):
		return Errorf(CodeInvalidInput, "password must be valid UTF-8")
	case utf8.RuneCountInString(password) > maxPasswordLen:
		return Errorf(CodeInvalidInput, "password must be at most %d characters", maxPasswordLen)
	}
	return nil
}

// SessionOwner answers the user sess belongs to. sess is one the service handed out to this
// caller (a sign-in's answer, or a listing the caller may see), so it was checked then; a
// sign-in's answer has no principal yet, which is why this does not ask for one.
func (s *Service) SessionOwner(ctx context.Context, sess *Session) (*User, error) {
	if p := PrincipalFrom(ctx); p != nil && p.User != nil && p.User.ID == sess.UserID {
		return p.User, nil
	}
	u, err := s.users.User(ctx, sess.UserID)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "user not found")
	}
	if err != nil {
		return nil, fmt.Errorf("read session owner: %w", err)
	}
	return u, nil
}
