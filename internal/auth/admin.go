package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/authgraph/authgraph/internal/audit"
)

// isAdmin reports whether p may use the admin operations: an admin whose session holds the
// admin scope (every password session of an admin does; a key-made one only if the key does).
func isAdmin(p *Principal) bool {
	return p.User.Role == RoleAdmin && p.HasScope(ScopeAdmin)
}

// requireAdmin answers the principal in ctx if it may use the admin operations: FORBIDDEN for
// a member, or for an admin's session without the admin scope.
func requireAdmin(ctx context.Context) (*Principal, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	if p.User.Role != RoleAdmin {
		return nil, Errorf(CodeForbidden, "This operation needs the ADMIN role.")
	}
	if !p.HasScope(ScopeAdmin) {
		return nil, missingScope(ScopeAdmin)
	}
	return p, nil
}

// DefaultPageSize is the page size of a list when neither first nor last is given.
const DefaultPageSize = 100

// PageRequest asks for one page of a list ordered by id, the Relay way: After and Before
// (0: none) narrow the range to the ids strictly between them, then First keeps its head or
// Last its tail (0: not given; at most one of them).
type PageRequest struct {
	First, Last   int
	After, Before int64
}

// size answers how many items the page holds and whether they are counted from its end
// (Last), or BAD_USER_INPUT for a request that asks both ways or below one.
func (req PageRequest) size() (n int, fromEnd bool, err error) {
	switch {
	case req.First < 0 || req.Last < 0 || (req.First > 0 && req.Last > 0):
		return 0, false, Errorf(CodeInvalidInput, "pass first or last, not both, and not below 1")
	case req.Last > 0:
		return req.Last, true, nil
	case req.First > 0:
		return req.First, false, nil
	}
	return DefaultPageSize, false, nil
}

// UserPage is a page of users in ascending id order.
type UserPage struct {
	Users           []*User
	HasPreviousPage bool // users precede the page (at or before After, or cut off by Last)
	HasNextPage     bool // users follow the page (at or after Before, or cut off by First)
	TotalCount      int  // users in all
}

// ListUsers answers a page of every user. Admins only. It costs the store a page, not a scan
// of every user.
func (s *Service) ListUsers(ctx context.Context, req PageRequest) (*UserPage, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	n, fromEnd, err := req.size()
	if err != nil {
		return nil, err
	}
	users, err := s.users.ListUsers(ctx, req.After, req.Before, n+1, fromEnd)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	cut := len(users) > n
	if cut {
		if fromEnd {
			users = users[len(users)-n:]
		} else {
			users = users[:n]
		}
	}
	// exists reports whether any user id lies strictly between after and before.
	exists := func(after, before int64) (bool, error) {
		u, err := s.users.ListUsers(ctx, after, before, 1, false)
		return len(u) > 0, err
	}
	page := &UserPage{Users: users}
	page.HasPreviousPage, page.HasNextPage = cut && fromEnd, cut && !fromEnd
	if !page.HasPreviousPage && req.After > 0 {
		if page.HasPreviousPage, err = exists(0, req.After+1); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
	}
	if !page.HasNextPage && req.Before > 0 {
		if page.HasNextPage, err = exists(req.Before-1, 0); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
	}
	if page.TotalCount, err = s.users.CountUsers(ctx); err != nil {
		return nil, fmt.Errorf("count users: %w", err)
	}
	return page, nil
}

// User answers the user with that id: the caller, anyone for an admin, a user of their own
// account for an account admin, and for a service key holding read the users an account admin
// of its account sees. Anyone else is not found, never forbidden, so that ids tell nothing
// about who exists.
func (s *Service) User(ctx context.Context, id int64) (*User, error) {
	if p := PrincipalFrom(ctx); p != nil && p.Service != nil {
		if _, err := requireManager(ctx, serviceReadUsers); err != nil {
			return nil, err
		}
		return s.managedUser(ctx, p, id)
	}
	p, err := requireScope(ctx, ScopeRead)
	if err != nil {
		return nil, err
	}
	if id == p.User.ID {
		return p.User, nil
	}
	if !p.User.Role.AtLeast(RoleAccountAdmin) || !p.HasScope(ScopeAdmin) {
		return nil, Errorf(CodeNotFound, "user not found")
	}
	return s.managedUser(ctx, p, id)
}

// SetUserDisabled disables or enables a user. Disabling ends every session and refresh token
// family of the user, those of sign-ins still running included: the flag is set first, and
// the store refuses to save a session of a disabled user (see SessionStore.CreateSession),
// so a sign-in either sees the flag or made its session before the sweep looked. From then
// on the user's sign-ins answer INVALID_CREDENTIALS. A call that fails after setting the
// flag can be retried until it succeeds. Admins only, and not on themselves; a service key
// holding admin, on the members of its account only (serviceSuspendUsers).
func (s *Service) SetUserDisabled(ctx context.Context, id int64, disabled bool) (ret *User, rerr error) {
	defer func() {
		s.noteUser(ctx, map[bool]audit.Type{true: audit.UserDisabled, false: audit.UserEnabled}[disabled], orID(ret, id), rerr, "")
	}()
	p, err := requireManager(ctx, serviceSuspendUsers)
	if err != nil {
		return nil, err
	}
	if p.User != nil && id == p.User.ID && disabled {
		return nil, Errorf(CodeInvalidInput, "you cannot disable your own account")
	}
	u, err := s.updateManaged(ctx, p, id, func(u *User) error {
		// Inside the update, so that a member promoted meanwhile is not touched by a key.
		if err := serviceActsOn(p, u); err != nil {
			return err
		}
		u.Disabled = disabled
		return nil
	})
	if err != nil {
		return nil, err
	}
	if disabled {
		if _, err := s.sessions.DeleteSessionsOf(ctx, id, 0); err != nil {
			// The flag is set, so the sessions are refused already; say it did not finish.
			return nil, fmt.Errorf("end sessions of disabled user: %w", err)
		}
	}
	return u, nil
}

// DeleteSessionsOfUser ends every session of a user and answers how many. Admins only; a
// service key holding admin, for the members of its account only (serviceSuspendUsers).
func (s *Service) DeleteSessionsOfUser(ctx context.Context, id int64) (ret int, rerr error) {
	defer func() {
		s.noteUser(ctx, audit.UserSessionsEnded, &User{ID: id}, rerr, fmt.Sprintf("ended %d sessions", ret))
	}()
	p, err := requireManager(ctx, serviceSuspendUsers)
	if err != nil {
		return 0, err
	}
	if u, err := s.managedUser(ctx, p, id); err != nil {
		return 0, err
	} else if err := serviceActsOn(p, u); err != nil {
		return 0, err
	}
	n, err := s.sessions.DeleteSessionsOf(ctx, id, 0)
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	return n, nil
}

// DeleteUser deletes a user with all their keys and sessions; nothing of theirs stays in
// the store. Of admins racing to delete one user, one gets the user, the others NOT_FOUND.
// Admins only, and not themselves.
func (s *Service) DeleteUser(ctx context.Context, id int64) (ret *User, rerr error) {
	defer func() { s.noteUser(ctx, audit.UserDeleted, orID(ret, id), rerr, "") }()
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if id == p.User.ID {
		return nil, Errorf(CodeInvalidInput, "you cannot delete your own account")
	}
	// A user another manager may not touch is NOT_FOUND. A user already gone goes on to the
	// store's delete, whose retry finishes the purge a failed call left (and answers
	// NOT_FOUND): finishing a deletion gives nobody anything. A promotion racing the delete
	// is the platform admin's own to redo.
	if u, err := s.users.User(ctx, id); err == nil && !mayManage(p, u) {
		return nil, Errorf(CodeNotFound, "user not found")
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("find user: %w", err)
	}
	u, err := s.users.DeleteUser(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "user not found")
	}
	if err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	return u, nil
}

// SetUserRole gives a user a role. Admins only, and not on themselves: an admin who could
// demote themselves could leave the deployment without any admin, and the one running the
// operation is always an admin other than the target, so it never demotes the last one.
// The change ends no session: it takes effect on the next request, since Authenticate reads
// the user and requireAdmin checks the user's role as well as the session's admin scope, so
// a demoted admin's sessions and keys lose the admin operations at once.
func (s *Service) SetUserRole(ctx context.Context, id int64, role Role) (ret *User, rerr error) {
	defer func() { s.noteUser(ctx, audit.UserRoleSet, orID(ret, id), rerr, string(role)) }()
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if err := grantable(p, role); err != nil {
		return nil, err
	}
	if id == p.User.ID {
		return nil, Errorf(CodeInvalidInput, "you cannot change your own role")
	}
	target, err := s.managedUser(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if role != RoleMember {
		// Either admin role gives a key made without scopes the admin scope.
		if err := s.pinUnscopedKeys(ctx, id); err != nil {
			return nil, err
		}
	}
	if role == RoleAdmin && target.Role == RoleAccountAdmin {
		if err := s.revokeAccountAdminKeys(ctx, id); err != nil {
			return nil, err
		}
	}
	return s.updateManaged(ctx, p, id, func(u *User) error {
		u.Role = role
		return nil
	})
}

// RenameUser gives a user a new username, unique within their account (CONFLICT if another
// user there has it). Sessions and keys are bound to the user's id, not the name, so they
// all go on; sign-ins use the new name from then on. Of admins racing to give one name to
// two users, one succeeds and the others get CONFLICT. Admins only.
func (s *Service) RenameUser(ctx context.Context, id int64, username string) (ret *User, rerr error) {
	defer func() { s.noteUser(ctx, audit.UserRenamed, orID(ret, id), rerr, "") }()
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkUsername(username); err != nil {
		return nil, err
	}
	if _, err := s.managedUser(ctx, p, id); err != nil {
		return nil, err
	}
	u, err := s.users.RenameUser(ctx, id, username)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, Errorf(CodeNotFound, "user not found")
	case errors.Is(err, ErrConflict):
		return nil, Errorf(CodeConflict, "that username is taken in the user's account")
	case err != nil:
		return nil, fmt.Errorf("rename user: %w", err)
	}
	return u, nil
}

// SetUserEmail sets a user's email address ("" removes it), in its normalized form
// (NormalizeEmail) and not verified: the admin vouches for the address being the user's,
// not for the user reading it, so anything that needs a verified address waits for the
// user to verify it. CONFLICT if another user of the account has the address. Admins only.
func (s *Service) SetUserEmail(ctx context.Context, id int64, email string) (ret *User, rerr error) {
	defer func() { s.noteUser(ctx, audit.EmailChanged, orID(ret, id), rerr, "set by an admin") }()
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if email != "" {
		n, err := NormalizeEmail(email)
		if err != nil {
			return nil, err
		}
		email = n
	}
	cur, err := s.managedUser(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if cur.Email == email {
		return cur, nil // setting the same address keeps its verification
	}
	u, err := s.emails.SetEmail(ctx, id, email, false)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, Errorf(CodeNotFound, "user not found")
	case errors.Is(err, ErrConflict):
		return nil, Errorf(CodeConflict, "that email address belongs to another user")
	case err != nil:
		return nil, fmt.Errorf("set user email: %w", err)
	}
	if cur.Email != "" {
		// The old address hears of it, as with changeEmail: an admin who moves a user's
		// mail elsewhere (and could then reset the password) does not do it unseen. Best
		// effort: the change is made.
		_ = s.sendMail(ctx, Mail{ID: mailID(MailEmailChanged), To: cur.Email, ToName: cur.Username, Kind: MailEmailChanged})
	}
	return u, nil
}

// revokeAccountAdminKeys deletes, before an account admin is made an ADMIN, every key of
// theirs that holds the admin scope, and with it every session made from one. Such a key
// was made to manage one account; the admin scope of an ADMIN manages every account, so the
// promotion would turn a key handed to a program into a platform admin credential. The
// person's own sign-ins carry the new role, which is the promotion; their keys must be made
// again.
func (s *Service) revokeAccountAdminKeys(ctx context.Context, userID int64) error {
	keys, err := s.keys.KeysOf(ctx, userID)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	for _, k := range keys {
		if !slices.Contains(k.Scopes, ScopeAdmin) {
			continue
		}
		if _, err := s.keys.DeleteKey(ctx, userID, k.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("revoke an account admin's key: %w", err)
		}
	}
	return nil
}

// pinUnscopedKeys gives each of the user's keys stored without scopes (made before keys
// spelled theirs out) the scopes it has under the user's current role, before a promotion:
// such a key would otherwise gain admin with its owner, and a key handed to a program
// long ago must not become an admin credential because its owner was promoted.
func (s *Service) pinUnscopedKeys(ctx context.Context, userID int64) error {
	u, err := s.users.User(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return nil // SetUserRole answers NOT_FOUND
	}
	if err != nil {
		return fmt.Errorf("read user: %w", err)
	}
	keys, err := s.keys.KeysOf(ctx, userID)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	for _, k := range keys {
		if k.Scopes != nil {
			continue
		}
		_, err := s.keys.UpdateKey(ctx, k.ID, func(cur *UserKey) error {
			if cur.Scopes == nil {
				cur.Scopes = KeyScopes(u.Role)
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("pin key scopes: %w", err)
		}
	}
	return nil
}
