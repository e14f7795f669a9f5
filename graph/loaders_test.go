package graph_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
	"github.com/authgraph/authgraph/internal/redisstore"
	"github.com/authgraph/authgraph/internal/redistest"
)

const pageQuery = `{ users(first: 1000) { nodes { username account { slug } totpEnabled } } }`

type usersPage struct {
	Users struct {
		Nodes []struct {
			Username    string
			Account     struct{ Slug string }
			TotpEnabled bool
		}
	}
}

// seedPage fills the store under h with users until there are 1,000, spread over three
// accounts, every third with TOTP on. It writes to the store directly: hashing a thousand
// passwords would only slow the test down.
func seedPage(t testing.TB, h *harness) {
	t.Helper()
	ctx := context.Background()
	st := h.store.Store
	var accounts []int64
	for _, slug := range []string{"acme", "globex", "initech"} {
		a := &auth.Account{Slug: slug, Name: slug, CreatedAt: time.Now()}
		if err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, a.ID)
	}
	for i := 1; i < 1000; i++ { // the admin is the first
		u := &auth.User{AccountID: accounts[i%3], Username: fmt.Sprintf("user%04d", i), Role: auth.RoleMember,
			PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", CreatedAt: time.Now()}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			p := &auth.PendingTOTP{Secret: []byte("secret"), ExpiresAt: time.Now().Add(time.Hour)}
			if err := st.SetPendingTOTP(ctx, u.ID, p); err != nil {
				t.Fatal(err)
			}
			if err := st.EnableTOTP(ctx, u.ID, p.Secret, 1, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A page of 1,000 users showing each one's account and TOTP state reads the store a bounded
// number of times, not once per row and field; without the loaders it reads 2,000 times.
func TestUsersPageBatchesStoreReads(t *testing.T) {
	h := newHarness(t, memstore.New(clock.Real{}))
	seedPage(t, h)
	slugs := map[string]bool{"acme": true, "globex": true, "initech": true, "default": true}

	for _, tt := range []struct {
		name    string
		rowWait time.Duration
		batched bool
	}{
		// A long wait here, so that a slow machine (the race detector, a loaded CI runner)
		// still gathers every row into one batch; the default is a few milliseconds.
		{"loaders", 200 * time.Millisecond, true},
		{"without loaders", -1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h.store.reset()
			var page usersPage
			h.client(tt.rowWait).MustPost(pageQuery, &page, as(h.admin))
			nodes := page.Users.Nodes
			if len(nodes) != 1000 {
				t.Fatalf("%d users, want 1000", len(nodes))
			}
			for i, n := range nodes {
				wantTOTP := i > 0 && i%3 == 0 // seedPage's users follow the admin in order
				if !slugs[n.Account.Slug] || n.TotpEnabled != wantTOTP {
					t.Fatalf("row %d: %+v; want TOTP %v", i, n, wantTOTP)
				}
			}
			perRow := h.store.account.Load() + h.store.totp.Load()
			batches := h.store.accountsByID.Load() + h.store.usersWithTOTP.Load()
			t.Logf("store reads: %d one by one, %d batches", perRow, batches)
			if tt.batched {
				// One batch a field when every row joins it; a few more are tolerated, for
				// rows that a stalled scheduler kept out of the first.
				if perRow != 0 || batches < 2 || batches > 6 {
					t.Errorf("store reads: %d one by one, %d batches; want 0 and 2 (at most 6)", perRow, batches)
				}
			} else if perRow != 2000 || batches != 0 {
				t.Errorf("store reads: %d one by one, %d batches; want 2000 and 0", perRow, batches)
			}
		})
	}

	// A single user is not a row: it reads directly and waits for no batch.
	h.store.reset()
	var me struct {
		Me struct {
			Account     struct{ Slug string }
			TotpEnabled bool
		}
	}
	h.client(50*time.Millisecond).MustPost(`{ me { account { slug } totpEnabled } }`, &me, as(h.admin))
	if a, b := h.store.account.Load()+h.store.totp.Load(), h.store.accountsByID.Load()+h.store.usersWithTOTP.Load(); a != 2 || b != 0 {
		t.Errorf("me: %d reads one by one, %d batches; want 2 and 0", a, b)
	}
}

// BenchmarkUsersPage measures a page of 1,000 users with their accounts and TOTP states,
// with and without the row loaders, on the embedded store and on Redis.
func BenchmarkUsersPage(b *testing.B) {
	stores := []struct {
		name string
		make func(b *testing.B) auth.Store
	}{
		{"memstore", func(*testing.B) auth.Store { return memstore.New(clock.Real{}) }},
		{"redis", func(b *testing.B) auth.Store {
			srv := redistest.Start(b)
			return redisstore.New(srv.Client, redisstore.Options{Prefix: srv.Prefix})
		}},
	}
	for _, st := range stores {
		h := newHarness(b, st.make(b))
		seedPage(b, h)
		for _, mode := range []struct {
			name string
			wait time.Duration
		}{{"per-row", -1}, {"loaders", 0}} {
			c := h.client(mode.wait)
			b.Run(st.name+"/"+mode.name, func(b *testing.B) {
				for b.Loop() {
					var page usersPage
					c.MustPost(pageQuery, &page, as(h.admin))
				}
			})
		}
	}
}
