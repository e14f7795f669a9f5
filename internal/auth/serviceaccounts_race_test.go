package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
)

// hookedStore runs a hook before some service-account writes reach the store, to place
// another operation exactly in the window between a check and the write that follows it.
type hookedStore struct {
	*memstore.Store
	beforeCreateSA func()
	failDeleteSA   int // how many DeleteServiceAccount calls fail (as a Redis blip would)
}

func (s *hookedStore) CreateServiceAccount(ctx context.Context, sa *auth.ServiceAccount) error {
	if h := s.beforeCreateSA; h != nil {
		s.beforeCreateSA = nil
		h()
	}
	return s.Store.CreateServiceAccount(ctx, sa)
}

func (s *hookedStore) DeleteServiceAccount(ctx context.Context, id int64) (*auth.ServiceAccount, error) {
	if s.failDeleteSA > 0 {
		s.failDeleteSA--
		return nil, auth.ErrUnavailable
	}
	return s.Store.DeleteServiceAccount(ctx, id)
}

func newHookedService(t *testing.T) (*auth.Service, *hookedStore, context.Context) {
	t.Helper()
	h, err := argon2id.New(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	st := &hookedStore{Store: memstore.New(c)}
	svc := auth.NewService(st, h, c, auth.Config{SessionTTL: 24 * time.Hour})
	if _, err := svc.EnsureUser(context.Background(), "admin", "admin-password", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	ns, err := svc.Login(context.Background(), auth.PasswordLogin{Username: "admin", Password: "admin-password"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(context.Background(), ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	return svc, st, auth.WithPrincipal(context.Background(), p)
}

// A service account whose creation races the deletion of its account (the account checked,
// then deleted with every service account it had, then the new one written) must not
// survive in the deleted account: an admin could then give it a key that works for an
// account that no longer exists.
func TestServiceAccountCreationRacingAccountDeletion(t *testing.T) {
	svc, st, admin := newHookedService(t)
	doomed, err := svc.CreateAccount(admin, "doomed", "Doomed")
	if err != nil {
		t.Fatal(err)
	}
	st.beforeCreateSA = func() {
		if _, err := svc.DeleteAccount(admin, doomed.ID, true); err != nil {
			t.Errorf("delete the account: %v", err)
		}
	}
	sa, err := svc.CreateServiceAccount(admin, doomed.ID, "late", nil)
	if err == nil {
		// The creation won: its service account must not be usable for the gone account.
		nk, kerr := svc.CreateServiceKey(admin, sa.ID, "k", nil, nil, auth.ServiceKeyLimits{})
		if kerr == nil {
			if _, aerr := svc.AuthenticateServiceKey(context.Background(), nk.Secret); aerr == nil {
				t.Fatal("a service key of a deleted account authenticates")
			}
		}
	} else {
		wantCode(t, "creating a service account in an account deleted meanwhile", err, auth.CodeNotFound)
	}
	left, err := st.ServiceAccountsOf(context.Background(), doomed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("the deleted account still has %d service account(s)", len(left))
	}
}

// If removing the service accounts fails while an account is deleted, the deletion must be
// retryable and end with them gone: an account deleted first and its machines left behind
// would keep keys working for an account that no longer exists, with no account left to
// delete again.
func TestAccountDeletionFailingOnServiceAccountsIsRetryable(t *testing.T) {
	svc, st, admin := newHookedService(t)
	acct, err := svc.CreateAccount(admin, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := svc.CreateServiceAccount(admin, acct.ID, "bot", nil)
	if err != nil {
		t.Fatal(err)
	}
	nk, err := svc.CreateServiceKey(admin, sa.ID, "k", nil, nil, auth.ServiceKeyLimits{})
	if err != nil {
		t.Fatal(err)
	}
	st.failDeleteSA = 1
	if _, err := svc.DeleteAccount(admin, acct.ID, true); err == nil || !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("delete the account while its service accounts cannot be removed: %v, want the outage", err)
	}
	// The admin tries again, as the 503 tells them to.
	if _, err := svc.DeleteAccount(admin, acct.ID, true); err != nil {
		t.Fatalf("retry the deletion: %v", err)
	}
	_, err = svc.AuthenticateServiceKey(context.Background(), nk.Secret)
	wantCode(t, "a key of the deleted account", err, auth.CodeUnauthenticated)
}
