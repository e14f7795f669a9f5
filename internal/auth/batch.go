package auth

import (
	"context"
	"fmt"
)

// BatchReader reads one field of many records at once: what a list page shows per row
// (each user's account, whether each user has TOTP on) costs one store read for the page
// instead of one per row, and so do the many users a federation router asks for at once.
type BatchReader interface {
	// UsersByID answers the users among ids that exist, by id; an id with no user (or one
	// being deleted, which User would not answer either) is absent, which is not an error.
	UsersByID(ctx context.Context, ids []int64) (map[int64]*User, error)
	// AccountsByID answers the accounts among ids that exist, by id; an id with no account
	// is absent from the answer, which is not an error.
	AccountsByID(ctx context.Context, ids []int64) (map[int64]*Account, error)
	// UsersWithTOTP answers which of userIDs have TOTP on (an enrolment under way is not
	// on): the map holds exactly those, mapped to true.
	UsersWithTOTP(ctx context.Context, userIDs []int64) (map[int64]bool, error)
}

// UsersByID answers User for many ids with at most one store read: the map holds each id
// that User would answer a user for. An id that User would answer NOT_FOUND for (no such
// user, or one the caller may not see) is absent, so the caller gives the same answer
// without learning which it was. The caller's own user comes from the principal, as in User,
// so a member's request reads nothing.
func (s *Service) UsersByID(ctx context.Context, ids []int64) (map[int64]*User, error) {
	p, err := requireScope(ctx, ScopeRead)
	if err != nil {
		return nil, err
	}
	found := make(map[int64]*User)
	var others []int64
	for _, id := range ids {
		switch {
		case id == p.User.ID:
			found[id] = p.User
		case isAdmin(p): // User's rule: yourself, or anyone for an admin
			others = append(others, id)
		}
	}
	if len(others) == 0 {
		return found, nil
	}
	users, err := s.batches.UsersByID(ctx, dedupe(others))
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	for id, u := range users {
		found[id] = u
	}
	return found, nil
}

// AccountsByID answers Account for many ids with one store read: the map holds each id
// that Account would answer an account for. An id that Account would answer NOT_FOUND for
// (no such account, or one the caller may not see) is absent, so the caller gives the same
// answer without learning which it was.
func (s *Service) AccountsByID(ctx context.Context, ids []int64) (map[int64]*Account, error) {
	own, all, err := accountViewer(ctx)
	if err != nil {
		return nil, err
	}
	visible := ids
	if !all { // Account's rule: one's own account, or any as an admin
		visible = nil
		for _, id := range ids {
			if id == own {
				visible = append(visible, id)
			}
		}
	}
	if len(visible) == 0 {
		return map[int64]*Account{}, nil
	}
	accounts, err := s.batches.AccountsByID(ctx, dedupe(visible))
	if err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	return accounts, nil
}

// LookUpAccounts answers the accounts among ids that a caller reaching them by id alone
// (no user in between, as through a federation router) may see, with one store read: the
// rule of User applied to accounts. The caller's session must hold the read scope
// (FORBIDDEN otherwise, as User answers); it sees its own account, and any as an admin whose
// session holds the admin scope. An id it may not see, or with no account, is absent.
//
// It is stricter than Account (and AccountsByID), which answer any account to an admin
// whatever the session's scopes: they serve accounts reached through a user the caller was
// already allowed to see.
func (s *Service) LookUpAccounts(ctx context.Context, ids []int64) (map[int64]*Account, error) {
	p, err := requireScope(ctx, ScopeRead)
	if err != nil {
		return nil, err
	}
	visible := ids
	if !isAdmin(p) {
		visible = nil
		for _, id := range ids {
			if id == p.User.AccountID {
				visible = append(visible, id)
			}
		}
	}
	if len(visible) == 0 {
		return map[int64]*Account{}, nil
	}
	accounts, err := s.batches.AccountsByID(ctx, dedupe(visible))
	if err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	return accounts, nil
}

// TOTPEnabledByUser answers TOTPEnabled for many users with one store read: the map holds
// every id of userIDs that the caller may see (their own, or any as an admin), with whether
// TOTP is on. An id absent from it is one TOTPEnabled would answer NOT_FOUND for.
func (s *Service) TOTPEnabledByUser(ctx context.Context, userIDs []int64) (map[int64]bool, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	visible := make([]int64, 0, len(userIDs))
	for _, id := range userIDs {
		if canSee(p, id) {
			visible = append(visible, id)
		}
	}
	answer := make(map[int64]bool, len(visible))
	if len(visible) == 0 {
		return answer, nil
	}
	visible = dedupe(visible)
	on, err := s.batches.UsersWithTOTP(ctx, visible)
	if err != nil {
		return nil, fmt.Errorf("read totp: %w", err)
	}
	for _, id := range visible {
		answer[id] = on[id]
	}
	return answer, nil
}

// dedupe returns ids without repeats, in first-seen order; a page's users often share an
// account, and a store need not read one record twice.
func dedupe(ids []int64) []int64 {
	seen := make(map[int64]struct{}, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}
