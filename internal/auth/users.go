package auth

import (
	"context"
	"errors"
	"fmt"
)

// CreateUser makes a user. Only admins may.
func (s *Service) CreateUser(ctx context.Context, username, password string, role Role) (*User, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	if p.User.Role != RoleAdmin {
		return nil, Errorf(CodeForbidden, "only admins may create users")
	}
	return s.createUser(ctx, username, password, role)
}

// EnsureUser makes the user unless one with that username exists: the operator's bootstrap
// of the first admin. It answers whether it made the user.
func (s *Service) EnsureUser(ctx context.Context, username, password string, role Role) (bool, error) {
	_, err := s.store.UserByUsername(ctx, username)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if _, err := s.createUser(ctx, username, password, role); err != nil {
		if ErrorCode(err) == CodeConflict { // made by another replica meanwhile
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func (s *Service) createUser(ctx context.Context, username, password string, role Role) (*User, error) {
	if role == "" {
		role = RoleMember
	}
	if !role.Valid() {
		return nil, Errorf(CodeInvalidInput, "unknown role")
	}
	if err := checkUsername(username); err != nil {
		return nil, err
	}
	if err := checkNewPassword(password); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u := &User{Username: username, PasswordHash: hash, Role: role, CreatedAt: s.clock.Now().UTC()}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, Errorf(CodeConflict, "username is taken")
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// Me answers the current user.
func (s *Service) Me(ctx context.Context) (*User, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	return p.User, nil
}

// canSee reports whether the principal may read userID's keys and sessions: their own, or any
// as an admin.
func canSee(p *Principal, userID int64) bool {
	return p.User.ID == userID || p.User.Role == RoleAdmin
}
