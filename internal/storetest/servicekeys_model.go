package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/token"
)

// ServiceKeyModel checks a store's service accounts and keys against a model with rapid:
// random sequences of creations, rerolls (with and without grace), deletions, disabling and
// time passing, after each of which every digest ever issued finds exactly the key the
// model says (or none), with the service account's disabled state.
func ServiceKeyModel(t *testing.T, newStore func(t *testing.T, c clock.Clock) auth.Store) {
	rapid.Check(t, func(rt *rapid.T) {
		c := clock.NewFake(time.Now().UTC())
		st := newStore(t, c)
		m := &skModel{rt: rt, st: st, clock: c, ctx: t.Context(), disabled: map[int64]bool{}, keyOf: map[int64]int64{},
			current: map[int64]token.Digest{}, previous: map[int64]prevDigest{}}
		rt.Repeat(map[string]func(*rapid.T){
			"": m.check,
			"CreateServiceAccount": func(rt *rapid.T) {
				sa := &auth.ServiceAccount{AccountID: 1, Name: "m", Scopes: []auth.Scope{auth.ScopeRead}, CreatedAt: c.Now()}
				if err := st.CreateServiceAccount(m.ctx, sa); err != nil {
					rt.Fatal(err)
				}
				m.disabled[sa.ID] = false
				m.accounts = append(m.accounts, sa.ID)
			},
			"CreateServiceKey": func(rt *rapid.T) {
				said := m.someAccount(rt)
				d := m.digest()
				k := &auth.ServiceKey{ServiceAccountID: said, AccountID: 1, Digest: d, CreatedAt: c.Now()}
				err := st.CreateServiceKey(m.ctx, k)
				if _, live := m.disabled[said]; !live {
					if !errors.Is(err, auth.ErrNotFound) {
						rt.Fatalf("CreateServiceKey of deleted service account %d: %v", said, err)
					}
					return
				}
				if err != nil {
					rt.Fatal(err)
				}
				m.keyOf[k.ID], m.current[k.ID] = said, d
				m.keys = append(m.keys, k.ID)
			},
			"RerollServiceKey": func(rt *rapid.T) {
				id := m.someKey(rt)
				grace := rapid.SampledFrom([]time.Duration{0, time.Minute}).Draw(rt, "grace")
				d := m.digest()
				_, err := st.UpdateServiceKey(m.ctx, id, func(k *auth.ServiceKey) error {
					k.PreviousDigest, k.PreviousExpiresAt = token.Digest{}, nil
					if grace > 0 {
						until := c.Now().Add(grace)
						k.PreviousDigest, k.PreviousExpiresAt = k.Digest, &until
					}
					k.Digest = d
					return nil
				})
				if _, live := m.keyOf[id]; !live {
					if !errors.Is(err, auth.ErrNotFound) {
						rt.Fatalf("reroll of deleted key %d: %v", id, err)
					}
					return
				}
				if err != nil {
					rt.Fatal(err)
				}
				delete(m.previous, id)
				if grace > 0 {
					m.previous[id] = prevDigest{m.current[id], c.Now().Add(grace)}
				}
				m.current[id] = d
			},
			"DeleteServiceKey": func(rt *rapid.T) {
				id := m.someKey(rt)
				said, live := m.keyOf[id]
				if !live {
					said = 1
				}
				_, err := st.DeleteServiceKey(m.ctx, said, id)
				if !live {
					if !errors.Is(err, auth.ErrNotFound) {
						rt.Fatalf("delete of deleted key %d: %v", id, err)
					}
					return
				}
				if err != nil {
					rt.Fatal(err)
				}
				m.forgetKey(id)
			},
			"DeleteServiceAccount": func(rt *rapid.T) {
				said := m.someAccount(rt)
				_, err := st.DeleteServiceAccount(m.ctx, said)
				if _, live := m.disabled[said]; !live {
					if !errors.Is(err, auth.ErrNotFound) {
						rt.Fatalf("delete of deleted service account %d: %v", said, err)
					}
					return
				}
				if err != nil {
					rt.Fatal(err)
				}
				delete(m.disabled, said)
				for id, owner := range m.keyOf {
					if owner == said {
						m.forgetKey(id)
					}
				}
			},
			"SetDisabled": func(rt *rapid.T) {
				said := m.someAccount(rt)
				off := rapid.Bool().Draw(rt, "disabled")
				_, err := st.UpdateServiceAccount(m.ctx, said, func(sa *auth.ServiceAccount) error { sa.Disabled = off; return nil })
				if _, live := m.disabled[said]; !live {
					if !errors.Is(err, auth.ErrNotFound) {
						rt.Fatalf("update of deleted service account %d: %v", said, err)
					}
					return
				}
				if err != nil {
					rt.Fatal(err)
				}
				m.disabled[said] = off
			},
			"Advance": func(rt *rapid.T) {
				c.Advance(rapid.SampledFrom([]time.Duration{time.Second, 30 * time.Second, time.Minute}).Draw(rt, "advance"))
			},
		})
	})
}

type prevDigest struct {
	d     token.Digest
	until time.Time
}

type skModel struct {
	rt       *rapid.T
	st       auth.Store
	clock    *clock.Fake
	ctx      context.Context
	accounts []int64 // every id made, deleted ones too
	keys     []int64
	disabled map[int64]bool  // live service accounts
	keyOf    map[int64]int64 // live key → its service account
	current  map[int64]token.Digest
	previous map[int64]prevDigest
	issued   []token.Digest
}

func (m *skModel) digest() token.Digest {
	tok, err := token.New(token.ServiceKeySecret)
	if err != nil {
		m.rt.Fatal(err)
	}
	d := token.Sum(tok)
	m.issued = append(m.issued, d)
	return d
}

func (m *skModel) someAccount(rt *rapid.T) int64 {
	if len(m.accounts) == 0 {
		return 424242
	}
	return rapid.SampledFrom(m.accounts).Draw(rt, "service account")
}

func (m *skModel) someKey(rt *rapid.T) int64 {
	if len(m.keys) == 0 {
		return 434343
	}
	return rapid.SampledFrom(m.keys).Draw(rt, "key")
}

func (m *skModel) forgetKey(id int64) {
	delete(m.keyOf, id)
	delete(m.current, id)
	delete(m.previous, id)
}

// want answers the key the model says d finds now (0: none).
func (m *skModel) want(d token.Digest) int64 {
	now := m.clock.Now()
	for id, cur := range m.current {
		if cur == d {
			return id
		}
		if p, ok := m.previous[id]; ok && p.d == d && now.Before(p.until) {
			return id
		}
	}
	return 0
}

func (m *skModel) check(rt *rapid.T) {
	for _, d := range m.issued {
		want := m.want(d)
		cr, err := m.st.ServiceKeyByDigest(m.ctx, d)
		switch {
		case want == 0 && !errors.Is(err, auth.ErrNotFound):
			rt.Fatalf("a digest of no live key finds %+v, %v", cr, err)
		case want != 0 && err != nil:
			rt.Fatalf("a digest of key %d: %v", want, err)
		case want != 0 && (cr.Key.ID != want || cr.Account.ID != m.keyOf[want] || cr.Account.Disabled != m.disabled[m.keyOf[want]]):
			rt.Fatalf("a digest of key %d of service account %d (disabled %v) finds key %d of %d (disabled %v)",
				want, m.keyOf[want], m.disabled[m.keyOf[want]], cr.Key.ID, cr.Account.ID, cr.Account.Disabled)
		}
	}
}
