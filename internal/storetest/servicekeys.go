package storetest

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

func (e *env) newServiceAccount(t *testing.T, accountID int64, name string) *auth.ServiceAccount {
	t.Helper()
	sa := &auth.ServiceAccount{AccountID: accountID, Name: name, Scopes: []auth.Scope{auth.ScopeRead, auth.ScopeAdmin}, CreatedAt: e.now()}
	if err := e.CreateServiceAccount(e.ctx(t), sa); err != nil {
		t.Fatalf("CreateServiceAccount: %v", err)
	}
	return sa
}

func (e *env) newServiceKey(t *testing.T, sa *auth.ServiceAccount) *auth.ServiceKey {
	t.Helper()
	k := &auth.ServiceKey{ServiceAccountID: sa.ID, AccountID: sa.AccountID, Name: "k", Digest: newDigest(t), Hint: "abcdef",
		Scopes: []auth.Scope{auth.ScopeRead}, CreatedAt: e.now()}
	if err := e.CreateServiceKey(e.ctx(t), k); err != nil {
		t.Fatalf("CreateServiceKey: %v", err)
	}
	return k
}

func (e *env) wantNoServiceKey(t *testing.T, what string, d token.Digest) {
	t.Helper()
	if cr, err := e.ServiceKeyByDigest(e.ctx(t), d); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("%s: ServiceKeyByDigest = %+v, %v; want ErrNotFound", what, cr, err)
	}
}

var serviceKeyTests = []test{
	{"ServiceKeyRoundTrip", func(t *testing.T, e *env) {
		sa := e.newServiceAccount(t, 7, "bot ✓")
		got, err := e.ServiceAccount(e.ctx(t), sa.ID)
		if err != nil || !reflect.DeepEqual(got, sa) {
			t.Fatalf("ServiceAccount = %+v, %v; want %+v", got, err, sa)
		}
		exp := e.now().Add(time.Hour)
		k := &auth.ServiceKey{ServiceAccountID: sa.ID, AccountID: 7, Name: "ci", Digest: newDigest(t), Hint: "Zz0Zz0",
			Scopes: []auth.Scope{auth.ScopeRead}, CreatedAt: e.now(), ExpiresAt: &exp,
			Rate: 10, RatePeriod: time.Minute, Quota: 1000, QuotaPeriod: 24 * time.Hour}
		if err := e.CreateServiceKey(e.ctx(t), k); err != nil {
			t.Fatal(err)
		}
		gk, err := e.ServiceKey(e.ctx(t), k.ID)
		if err != nil || !reflect.DeepEqual(gk, k) {
			t.Fatalf("ServiceKey = %+v, %v; want %+v", gk, err, k)
		}
		cr, err := e.ServiceKeyByDigest(e.ctx(t), k.Digest)
		if err != nil || !reflect.DeepEqual(cr.Key, k) || !reflect.DeepEqual(cr.Account, sa) {
			t.Fatalf("ServiceKeyByDigest = %+v, %v", cr, err)
		}
		e.wantNoServiceKey(t, "an unknown digest", newDigest(t))
		list, err := e.ServiceAccountsOf(e.ctx(t), 7)
		if err != nil || len(list) != 1 || list[0].ID != sa.ID {
			t.Fatalf("ServiceAccountsOf = %v, %v", list, err)
		}
		if none, err := e.ServiceAccountsOf(e.ctx(t), 8); err != nil || len(none) != 0 {
			t.Fatalf("ServiceAccountsOf(another account) = %v, %v", none, err)
		}
	}},
	{"ServiceKeyCreateNeedsItsServiceAccount", func(t *testing.T, e *env) {
		k := &auth.ServiceKey{ServiceAccountID: 999, AccountID: 1, Digest: newDigest(t), CreatedAt: e.now()}
		if err := e.CreateServiceKey(e.ctx(t), k); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("CreateServiceKey without its service account: %v; want ErrNotFound", err)
		}
		e.wantNoServiceKey(t, "a key refused", k.Digest)
	}},
	{"ServiceKeyRerollKeepsThePreviousDigestUntilItsDeadline", func(t *testing.T, e *env) {
		sa := e.newServiceAccount(t, 1, "bot")
		k := e.newServiceKey(t, sa)
		old, fresh := k.Digest, newDigest(t)
		until := e.clock.Now().Add(time.Minute)
		got, err := e.UpdateServiceKey(e.ctx(t), k.ID, func(k *auth.ServiceKey) error {
			k.PreviousDigest, k.PreviousExpiresAt, k.Digest = k.Digest, &until, fresh
			return nil
		})
		if err != nil || got.Digest != fresh {
			t.Fatalf("UpdateServiceKey = %+v, %v", got, err)
		}
		for _, d := range []token.Digest{old, fresh} {
			if cr, err := e.ServiceKeyByDigest(e.ctx(t), d); err != nil || cr.Key.ID != k.ID {
				t.Fatalf("during the grace: %+v, %v", cr, err)
			}
		}
		e.clock.Advance(time.Minute)
		e.wantNoServiceKey(t, "the previous digest past its deadline", old)
		// A second reroll without grace drops both older digests.
		newest := newDigest(t)
		if _, err := e.UpdateServiceKey(e.ctx(t), k.ID, func(k *auth.ServiceKey) error {
			k.PreviousDigest, k.PreviousExpiresAt, k.Digest = token.Digest{}, nil, newest
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		e.wantNoServiceKey(t, "the rerolled digest", fresh)
		edit := errors.New("refused")
		if _, err := e.UpdateServiceKey(e.ctx(t), k.ID, func(*auth.ServiceKey) error { return edit }); !errors.Is(err, edit) {
			t.Fatalf("an edit's error: %v", err)
		}
		if _, err := e.UpdateServiceKey(e.ctx(t), 4242, func(*auth.ServiceKey) error { return nil }); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("UpdateServiceKey(unknown): %v", err)
		}
	}},
	{"ServiceKeyDelete", func(t *testing.T, e *env) {
		sa, other := e.newServiceAccount(t, 1, "bot"), e.newServiceAccount(t, 1, "other")
		k := e.newServiceKey(t, sa)
		if _, err := e.DeleteServiceKey(e.ctx(t), other.ID, k.ID); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("DeleteServiceKey of another service account: %v", err)
		}
		got, err := e.DeleteServiceKey(e.ctx(t), sa.ID, k.ID)
		if err != nil || got.ID != k.ID {
			t.Fatalf("DeleteServiceKey = %+v, %v", got, err)
		}
		e.wantNoServiceKey(t, "a deleted key", k.Digest)
		if _, err := e.ServiceKey(e.ctx(t), k.ID); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("ServiceKey after the delete: %v", err)
		}
		if keys, err := e.ServiceKeysOf(e.ctx(t), sa.ID); err != nil || len(keys) != 0 {
			t.Fatalf("ServiceKeysOf after the delete: %v, %v", keys, err)
		}
		if _, err := e.DeleteServiceKey(e.ctx(t), sa.ID, k.ID); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("a second DeleteServiceKey: %v", err)
		}
	}},
	{"ServiceAccountUpdateAndDelete", func(t *testing.T, e *env) {
		sa := e.newServiceAccount(t, 3, "bot")
		var keys []*auth.ServiceKey
		for range 3 {
			keys = append(keys, e.newServiceKey(t, sa))
		}
		got, err := e.ServiceKeysOf(e.ctx(t), sa.ID)
		if err != nil || len(got) != 3 {
			t.Fatalf("ServiceKeysOf = %v, %v", got, err)
		}
		ids := []int64{got[0].ID, got[1].ID, got[2].ID}
		ascending(t, "service keys", ids)
		up, err := e.UpdateServiceAccount(e.ctx(t), sa.ID, func(sa *auth.ServiceAccount) error {
			sa.Disabled, sa.Name, sa.AccountID = true, "renamed", 99
			return nil
		})
		if err != nil || !up.Disabled || up.Name != "renamed" || up.AccountID != 3 {
			t.Fatalf("UpdateServiceAccount = %+v, %v (the account cannot change)", up, err)
		}
		if cr, err := e.ServiceKeyByDigest(e.ctx(t), keys[0].Digest); err != nil || !cr.Account.Disabled {
			t.Fatalf("the key's service account after disabling: %+v, %v", cr, err)
		}
		if _, err := e.DeleteServiceAccount(e.ctx(t), sa.ID); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			e.wantNoServiceKey(t, "a key of a deleted service account", k.Digest)
		}
		if list, err := e.ServiceAccountsOf(e.ctx(t), 3); err != nil || len(list) != 0 {
			t.Fatalf("ServiceAccountsOf after the delete: %v, %v", list, err)
		}
		if _, err := e.DeleteServiceAccount(e.ctx(t), sa.ID); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("a second DeleteServiceAccount: %v", err)
		}
	}},
	{"ServiceKeyDeletionRacesCreationAndReroll", func(t *testing.T, e *env) {
		for round := range 20 {
			sa := e.newServiceAccount(t, 1, "race")
			k := e.newServiceKey(t, sa)
			var mu sync.Mutex
			digests := []token.Digest{k.Digest}
			var wg sync.WaitGroup
			for range 3 {
				wg.Add(2)
				go func() {
					defer wg.Done()
					d := newDigest(t)
					until := e.clock.Now().Add(time.Hour)
					mu.Lock()
					digests = append(digests, d)
					mu.Unlock()
					_, _ = e.UpdateServiceKey(e.ctx(t), k.ID, func(k *auth.ServiceKey) error {
						k.PreviousDigest, k.PreviousExpiresAt, k.Digest = k.Digest, &until, d
						return nil
					})
				}()
				go func() {
					defer wg.Done()
					nk := &auth.ServiceKey{ServiceAccountID: sa.ID, AccountID: 1, Digest: newDigest(t), CreatedAt: e.now()}
					mu.Lock()
					digests = append(digests, nk.Digest)
					mu.Unlock()
					_ = e.CreateServiceKey(e.ctx(t), nk)
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.DeleteServiceAccount(e.ctx(t), sa.ID); err != nil {
					t.Errorf("round %d: DeleteServiceAccount: %v", round, err)
				}
			}()
			wg.Wait()
			for _, d := range digests {
				e.wantNoServiceKey(t, "a digest after its service account's deletion", d)
			}
			if keys, err := e.ServiceKeysOf(e.ctx(t), sa.ID); err != nil || len(keys) != 0 {
				t.Fatalf("round %d: keys left: %v, %v", round, keys, err)
			}
		}
	}},
}
