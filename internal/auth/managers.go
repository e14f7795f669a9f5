package auth

import (
	"context"
	"errors"
	"fmt"
)

// The user-management operations (creating, inviting, disabling, enabling, renaming and
// deleting users, ending their sessions, setting their email or role, mailing them a reset)
// are open to two roles. An ADMIN manages every user of every account. An ACCOUNT_ADMIN
// manages the users of their own account only, and never an ADMIN: any other user is
// NOT_FOUND to them, as someone else's id is to a member, so ids tell them nothing about
// other accounts. They can give no role above their own. Reading another user's keys and
// sessions, and everything about accounts themselves, stays with ADMINs.
//
// Both need a session holding the admin scope (a key made for such a user holds it only if
// the key does).

// requireUserAdmin answers the principal in ctx if it may use the user-management operations.
func requireUserAdmin(ctx context.Context) (*Principal, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	if !p.User.Role.AtLeast(RoleAccountAdmin) {
		return nil, Errorf(CodeForbidden, "This operation needs the ADMIN or ACCOUNT_ADMIN role.")
	}
	if !p.HasScope(ScopeAdmin) {
		return nil, missingScope(ScopeAdmin)
	}
	return p, nil
}

// mayManage reports whether p (who passed requireUserAdmin or requireManager) may manage u:
// for a service key, as an account admin of its account may (its own account, no ADMIN).
func mayManage(p *Principal, u *User) bool {
	if p.Service != nil {
		return u.AccountID == p.Service.AccountID && u.Role != RoleAdmin
	}
	if p.User.Role == RoleAdmin {
		return true
	}
	return u.AccountID == p.User.AccountID && u.Role != RoleAdmin
}

// managedUser reads the user p manages with that id; NOT_FOUND for one p may not manage.
func (s *Service) managedUser(ctx context.Context, p *Principal, id int64) (*User, error) {
	u, err := s.users.User(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !mayManage(p, u)) {
		return nil, Errorf(CodeNotFound, "user not found")
	}
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// updateManaged is UpdateUser for a managed user: the check is repeated inside the update,
// so that a user promoted to ADMIN meanwhile is not changed by an account admin.
func (s *Service) updateManaged(ctx context.Context, p *Principal, id int64, edit func(*User) error) (*User, error) {
	u, err := s.users.UpdateUser(ctx, id, func(u *User) error {
		if !mayManage(p, u) {
			return Errorf(CodeNotFound, "user not found")
		}
		return edit(u)
	})
	var de *Error
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, Errorf(CodeNotFound, "user not found")
	case errors.As(err, &de):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// grantable refuses a role p may not give: above their own.
func grantable(p *Principal, r Role) error {
	if !r.Valid() {
		return Errorf(CodeInvalidInput, "unknown role")
	}
	if !p.User.Role.AtLeast(r) {
		return Errorf(CodeForbidden, "You cannot give a role above your own.")
	}
	return nil
}

// accountForManager answers the slug of the account a user made by p goes to: the one
// named, which for an account admin must be their own ("" also means their own: an account
// admin has no business in the default account).
func (s *Service) accountForManager(ctx context.Context, p *Principal, slug string) (string, error) {
	if p.User.Role == RoleAdmin {
		return slug, nil
	}
	own, err := s.accounts.Account(ctx, p.User.AccountID)
	if err != nil {
		return "", fmt.Errorf("find own account: %w", err)
	}
	if slug != "" && slug != own.Slug {
		return "", Errorf(CodeNotFound, "account not found")
	}
	return own.Slug, nil
}
