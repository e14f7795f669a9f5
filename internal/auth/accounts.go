package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
)

// Account is a tenant: a unique slug and a name.
// Every user belongs to exactly one account, and usernames are unique only within an
// account. An account's slug never changes (only the name may, RenameAccount), and an id or
// slug stays valid until an admin deletes the account (DeleteAccount).
type Account struct {
	ID        int64
	Slug      string
	Name      string
	CreatedAt time.Time
	// SignUp is the account's own sign-up policy; "" follows the deployment's (signup.go).
	SignUp SignUpPolicy
}

// The account that exists from the start: users created without naming an account (the
// bootstrap admin among them) live in it.
const (
	DefaultAccountSlug = "default"
	DefaultAccountName = "Default"
)

// AccountStore keeps accounts.
type AccountStore interface {
	// CreateAccount assigns a.ID from a counter and saves a; ErrConflict if a.Slug is taken.
	CreateAccount(ctx context.Context, a *Account) error
	Account(ctx context.Context, id int64) (*Account, error)
	AccountBySlug(ctx context.Context, slug string) (*Account, error)
	// LastAccountID answers the highest id CreateAccount has assigned (0: none). Ids are
	// assigned in ascending order and never reused; an id whose CreateAccount failed (a taken
	// slug) has no account.
	LastAccountID(ctx context.Context) (int64, error)
	// UpdateAccount is UpdateUser for accounts. The id and the slug cannot change: what edit
	// does to them is ignored, since the slug's claim keys on it.
	UpdateAccount(ctx context.Context, id int64, edit func(*Account) error) (*Account, error)
	// DeleteAccount removes the account and frees its slug, and answers the account; of
	// concurrent calls for one account exactly one answers it, the others ErrNotFound. It
	// does not look at users: the service deletes them.
	DeleteAccount(ctx context.Context, id int64) (*Account, error)
}

const (
	maxSlugLen        = 63 // a DNS label, as the slug may name a subdomain
	maxAccountNameLen = 100
)

// checkSlug accepts 1 to 63 lowercase ASCII letters, digits and hyphens, not beginning or
// ending with a hyphen: a valid DNS label, since tenants are often told apart by subdomain.
func checkSlug(slug string) error {
	if slug == "" || len(slug) > maxSlugLen {
		return Errorf(CodeInvalidInput, "account slug must be 1 to %d characters", maxSlugLen)
	}
	for i := 0; i < len(slug); i++ {
		c := slug[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return Errorf(CodeInvalidInput, "account slug may hold only lowercase letters, digits and hyphens")
		}
	}
	if slug[0] == '-' || slug[len(slug)-1] == '-' {
		return Errorf(CodeInvalidInput, "account slug must not begin or end with a hyphen")
	}
	return nil
}

func checkAccountName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return Errorf(CodeInvalidInput, "account name must not be empty")
	case strings.TrimSpace(name) != name:
		return Errorf(CodeInvalidInput, "account name must not begin or end with spaces")
	}
	return checkLabel("account name", name)
}

// CreateAccount makes an account. Only admins may (with the admin scope).
func (s *Service) CreateAccount(ctx context.Context, slug, name string) (ret *Account, rerr error) {
	defer func() { s.noteAccount(ctx, audit.AccountCreated, accountID(ret), rerr, slug) }()
	if _, err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if err := checkSlug(slug); err != nil {
		return nil, err
	}
	if err := checkAccountName(name); err != nil {
		return nil, err
	}
	a := &Account{Slug: slug, Name: name, CreatedAt: s.clock.Now().UTC()}
	if err := s.accounts.CreateAccount(ctx, a); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, Errorf(CodeConflict, "an account with that slug exists")
		}
		return nil, fmt.Errorf("create account: %w", err)
	}
	return a, nil
}

// EnsureDefaultAccount makes the default account unless it exists, and answers it. The
// server calls it at start; creating a user without an account calls it too, so a store
// that was never bootstrapped still works.
func (s *Service) EnsureDefaultAccount(ctx context.Context) (*Account, error) {
	a, err := s.accounts.AccountBySlug(ctx, DefaultAccountSlug)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return a, err
	}
	a = &Account{Slug: DefaultAccountSlug, Name: DefaultAccountName, CreatedAt: s.clock.Now().UTC()}
	err = s.accounts.CreateAccount(ctx, a)
	if errors.Is(err, ErrConflict) { // made by another replica meanwhile
		return s.accounts.AccountBySlug(ctx, DefaultAccountSlug)
	}
	if err != nil {
		return nil, fmt.Errorf("create default account: %w", err)
	}
	return a, nil
}

// Account answers an account the caller may see: their own, or any for an admin. Others
// are not found, so that account ids do not leak across tenants. A service key holding read
// sees its own.
func (s *Service) Account(ctx context.Context, id int64) (*Account, error) {
	own, all, err := accountViewer(ctx)
	if err != nil {
		return nil, err
	}
	if own != id && !all {
		return nil, Errorf(CodeNotFound, "account not found")
	}
	a, err := s.accounts.Account(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "account not found")
	}
	return a, err
}

// accountForNewUser answers the account a new user goes to: the one with that slug, or the
// default account for "".
func (s *Service) accountForNewUser(ctx context.Context, slug string) (*Account, error) {
	if slug == "" {
		return s.EnsureDefaultAccount(ctx)
	}
	if err := checkSlug(slug); err != nil {
		return nil, err
	}
	a, err := s.accounts.AccountBySlug(ctx, slug)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "account not found")
	}
	return a, err
}

// loginUser finds the user a password login names. With a slug: that account's user. Without
// one: the user in the only account that has the username; if several accounts have it, the
// default account's user if the default account is among them (so clients that never mention
// accounts keep working however tenants name their users), else nobody.
//
// Nobody is ErrNotFound, for an unknown account as for an unknown or ambiguous username: the
// caller answers all of them exactly as a wrong password (same error, same argon2 work), so a
// login reveals neither which accounts exist nor in how many a username is used.
func (s *Service) loginUser(ctx context.Context, slug, username string) (*User, error) {
	var accountID int64
	if slug != "" {
		a, err := s.accounts.AccountBySlug(ctx, slug)
		if err != nil {
			return nil, fmt.Errorf("find account: %w", err)
		}
		accountID = a.ID
	} else {
		ids, err := s.users.AccountsWithUsername(ctx, username)
		if err != nil {
			return nil, fmt.Errorf("find accounts of username: %w", err)
		}
		switch len(ids) {
		case 0:
			return nil, fmt.Errorf("find user: %w", ErrNotFound)
		case 1:
			accountID = ids[0]
		default:
			def, err := s.accounts.AccountBySlug(ctx, DefaultAccountSlug)
			if err != nil {
				return nil, fmt.Errorf("find default account: %w", err)
			}
			if !slices.Contains(ids, def.ID) {
				return nil, fmt.Errorf("username in several accounts, none named: %w", ErrNotFound)
			}
			accountID = def.ID
		}
	}
	u, err := s.users.UserByUsername(ctx, accountID, username)
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// AccountPage is a page of accounts in ascending id order.
type AccountPage struct {
	Accounts        []*Account
	HasPreviousPage bool // accounts precede the page
	HasNextPage     bool // accounts follow the page
}

// accountScanChunk is how many ids ListAccounts reads at once.
const accountScanChunk = 128

// accountViewer answers whose account the caller sees (own) and whether it sees every
// account (all: an ADMIN); a service key holding read sees its own (serviceReadAccount).
func accountViewer(ctx context.Context) (own int64, all bool, err error) {
	if p := PrincipalFrom(ctx); p != nil && p.Service != nil {
		if _, err := requireManager(ctx, serviceReadAccount); err != nil {
			return 0, false, err
		}
		return p.Service.AccountID, false, nil
	}
	p, err := requirePrincipal(ctx)
	if err != nil {
		return 0, false, err
	}
	return p.User.AccountID, p.User.Role == RoleAdmin, nil
}

// ownAccountPage answers the page of req that the list of one account, id, holds.
func (s *Service) ownAccountPage(ctx context.Context, id int64, req PageRequest) (*AccountPage, error) {
	if _, _, err := req.size(); err != nil {
		return nil, err
	}
	a, err := s.accounts.Account(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return &AccountPage{Accounts: []*Account{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find account: %w", err)
	}
	page := &AccountPage{Accounts: []*Account{}}
	if (req.After == 0 || id > req.After) && (req.Before == 0 || id < req.Before) {
		page.Accounts = append(page.Accounts, a)
	}
	page.HasPreviousPage = req.After > 0 && id <= req.After
	page.HasNextPage = req.Before > 0 && id >= req.Before
	return page, nil
}

// ListAccounts answers a page of every account, the Relay way (see PageRequest). Admins
// only; a service key holding read gets a list of its own account alone. Accounts have ids from one counter and the store keeps no index of them: a page
// reads ids in chunks (one pipelined read each) between the cursors and the last id
// assigned, skipping the ids no account holds (one a CreateAccount refused for a taken slug
// used up, or a deleted account's).
func (s *Service) ListAccounts(ctx context.Context, req PageRequest) (*AccountPage, error) {
	if p := PrincipalFrom(ctx); p != nil && p.Service != nil {
		if _, err := requireManager(ctx, serviceReadAccount); err != nil {
			return nil, err
		}
		return s.ownAccountPage(ctx, p.Service.AccountID, req)
	}
	if _, err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	n, fromEnd, err := req.size()
	if err != nil {
		return nil, err
	}
	last, err := s.accounts.LastAccountID(ctx)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	lo, hi := max(req.After+1, 1), last
	if req.Before > 0 {
		hi = min(hi, req.Before-1)
	}
	found, err := s.scanAccounts(ctx, lo, hi, n+1, fromEnd)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	page := &AccountPage{}
	cut := len(found) > n
	if cut {
		found = found[:n]
	}
	if fromEnd {
		slices.Reverse(found)
	}
	page.Accounts = found
	page.HasPreviousPage, page.HasNextPage = cut && fromEnd, cut && !fromEnd
	if !page.HasPreviousPage && req.After > 0 {
		before, err := s.scanAccounts(ctx, 1, min(req.After, last), 1, true)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		page.HasPreviousPage = len(before) > 0
	}
	if !page.HasNextPage && req.Before > 0 {
		after, err := s.scanAccounts(ctx, max(req.Before, 1), last, 1, false)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		page.HasNextPage = len(after) > 0
	}
	return page, nil
}

// scanAccounts answers up to limit accounts with ids from lo to hi (inclusive): the lowest,
// ascending, or with down the highest, descending.
func (s *Service) scanAccounts(ctx context.Context, lo, hi int64, limit int, down bool) ([]*Account, error) {
	var out []*Account
	for lo <= hi && len(out) < limit {
		size := min(int64(max(limit-len(out), accountScanChunk)), hi-lo+1)
		ids := make([]int64, size)
		for i := range ids {
			if down {
				ids[i] = hi - int64(i)
			} else {
				ids[i] = lo + int64(i)
			}
		}
		if down {
			hi -= size
		} else {
			lo += size
		}
		got, err := s.batches.AccountsByID(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if a, ok := got[id]; ok && len(out) < limit {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// RenameAccount gives an account a new display name. The slug stays: clients and sign-ins
// name the account by it. Admins only.
func (s *Service) RenameAccount(ctx context.Context, id int64, name string) (ret *Account, rerr error) {
	defer func() { s.noteAccount(ctx, audit.AccountRenamed, id, rerr, "") }()
	if _, err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if err := checkAccountName(name); err != nil {
		return nil, err
	}
	a, err := s.accounts.UpdateAccount(ctx, id, func(a *Account) error {
		a.Name = name
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "account not found")
	}
	if err != nil {
		return nil, fmt.Errorf("rename account: %w", err)
	}
	return a, nil
}

// usersOfAccount answers the ids of the users of an account. Users are indexed by id only,
// so this reads every user, a page at a time: deleting an account is rare enough to afford it.
func (s *Service) usersOfAccount(ctx context.Context, accountID int64) ([]int64, error) {
	const page = 500
	var ids []int64
	var after int64
	for {
		users, err := s.users.ListUsers(ctx, after, 0, page, false)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if u.AccountID == accountID {
				ids = append(ids, u.ID)
			}
		}
		if len(users) < page {
			return ids, nil
		}
		after = users[len(users)-1].ID
	}
}

// DeleteAccount deletes an account. An account with users is CONFLICT unless withUsers,
// which deletes each of them first as DeleteUser does (every session, key, refresh token and
// second factor ends). The default account cannot be deleted, nor the caller's own
// (BAD_USER_INPUT). Admins only.
//
// A user created in the account while it is deleted does not outlive it: the account is
// removed first and its users swept after, and CreateUser checks the account after writing
// the user (taking it back, NOT_FOUND, if the account is gone), so either the sweep finds the
// user or the creation sees the account gone. A call that fails before removing the account
// can be retried; users it had deleted stay deleted.
func (s *Service) DeleteAccount(ctx context.Context, id int64, withUsers bool) (ret *Account, rerr error) {
	defer func() {
		s.noteAccount(ctx, audit.AccountDeleted, id, rerr, map[bool]string{true: "with users"}[withUsers])
	}()
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if p.User.AccountID == id {
		// It would delete the caller, which DeleteUser refuses too.
		return nil, Errorf(CodeInvalidInput, "you cannot delete the account you belong to")
	}
	a, err := s.accounts.Account(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "account not found")
	}
	if err != nil {
		return nil, fmt.Errorf("delete account: %w", err)
	}
	if a.Slug == DefaultAccountSlug {
		return nil, Errorf(CodeInvalidInput, "the default account cannot be deleted")
	}
	sweep := func() error {
		ids, err := s.usersOfAccount(ctx, id)
		if err != nil {
			return err
		}
		if len(ids) > 0 && !withUsers {
			return Errorf(CodeConflict, "the account has %d users: delete them first, or pass withUsers", len(ids))
		}
		for _, uid := range ids {
			if _, err := s.users.DeleteUser(ctx, uid); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		return nil
	}
	if err := sweep(); err != nil {
		if ErrorCode(err) == CodeConflict {
			return nil, err
		}
		return nil, fmt.Errorf("delete users of account: %w", err)
	}
	// Its machines go before it, so that a failure here leaves the account to delete again
	// (a retry): removed after it, a failure would leave working keys of an account that no
	// longer exists, and nothing left to retry.
	if err := s.deleteServiceAccountsOf(ctx, id); err != nil {
		return nil, fmt.Errorf("delete service accounts of account: %w", err)
	}
	a, err = s.accounts.DeleteAccount(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "account not found")
	}
	if err != nil {
		return nil, fmt.Errorf("delete account: %w", err)
	}
	// Users whose creation raced the first sweep go with the account, whatever withUsers
	// says: the account they were made in is gone.
	withUsers = true
	if err := sweep(); err != nil {
		return nil, fmt.Errorf("delete users created in the deleted account: %w", err)
	}
	// Service accounts whose creation raced the first removal go too (CreateServiceAccount
	// checks the account again after writing, so one of the two sees the other): their keys
	// stop working everywhere.
	if err := s.deleteServiceAccountsOf(ctx, id); err != nil {
		return nil, fmt.Errorf("delete service accounts of the deleted account: %w", err)
	}
	return a, nil
}
