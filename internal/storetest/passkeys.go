package storetest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

func (e *env) newPasskey(t *testing.T, userID int64, name string) *auth.Passkey {
	t.Helper()
	p := &auth.Passkey{
		UserID:         userID,
		CredentialID:   randomBytes(t, 32),
		PublicKey:      randomBytes(t, 77),
		AAGUID:         randomBytes(t, 16),
		SignCount:      3,
		Transports:     []string{"internal", "hybrid"},
		BackupEligible: true,
		Name:           name,
		CreatedAt:      e.now(),
	}
	if err := e.CreatePasskey(e.ctx(t), p); err != nil {
		t.Fatalf("CreatePasskey: %v", err)
	}
	return p
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func checkPasskey(t *testing.T, what string, got, want *auth.Passkey) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

var passkeyTests = []test{
	{"PasskeyCRUD", func(t *testing.T, e *env) {
		ctx := e.ctx(t)
		u, other := e.newUser(t, "alice"), e.newUser(t, "bob")
		a := e.newPasskey(t, u.ID, "laptop")
		b := e.newPasskey(t, u.ID, "phone")
		if a.ID == 0 || b.ID == a.ID {
			t.Fatalf("ids: %d, %d", a.ID, b.ID)
		}
		list, err := e.PasskeysOf(ctx, u.ID)
		if err != nil || len(list) != 2 {
			t.Fatalf("PasskeysOf = %v, %v", list, err)
		}
		checkPasskey(t, "first listed", list[0], a)
		checkPasskey(t, "second listed", list[1], b)
		if list, err := e.PasskeysOf(ctx, other.ID); err != nil || len(list) != 0 {
			t.Errorf("PasskeysOf(other) = %v, %v; want none", list, err)
		}
		got, err := e.PasskeyByCredentialID(ctx, a.CredentialID)
		if err != nil {
			t.Fatalf("PasskeyByCredentialID: %v", err)
		}
		checkPasskey(t, "by credential id", got, a)
		_, err = e.PasskeyByCredentialID(ctx, []byte("nobody's"))
		wantErr(t, "PasskeyByCredentialID unknown", err, auth.ErrNotFound)

		// A credential id is unique over all users.
		dup := *a
		dup.UserID = other.ID
		wantErr(t, "CreatePasskey with a taken credential id", e.CreatePasskey(ctx, &dup), auth.ErrConflict)
		// No user, no passkey.
		orphan := &auth.Passkey{UserID: 999999, CredentialID: randomBytes(t, 16), PublicKey: []byte{1}, Name: "x", CreatedAt: e.now()}
		wantErr(t, "CreatePasskey of no user", e.CreatePasskey(ctx, orphan), auth.ErrNotFound)
		_, err = e.PasskeyByCredentialID(ctx, orphan.CredentialID)
		wantErr(t, "the refused passkey's credential", err, auth.ErrNotFound)

		// Update: the edit's changes are kept, except the identity; another user's is not found.
		used := e.now().Add(time.Minute)
		up, err := e.UpdatePasskey(ctx, u.ID, a.ID, func(p *auth.Passkey) error {
			p.Name, p.SignCount, p.LastUsedAt, p.BackupState = "work laptop", 9, &used, true
			p.CredentialID, p.UserID = []byte("changed"), other.ID
			return nil
		})
		if err != nil {
			t.Fatalf("UpdatePasskey: %v", err)
		}
		want := *a
		want.Name, want.SignCount, want.LastUsedAt, want.BackupState = "work laptop", 9, &used, true
		checkPasskey(t, "updated", up, &want)
		got, _ = e.PasskeyByCredentialID(ctx, a.CredentialID)
		checkPasskey(t, "updated, read back", got, &want)
		_, err = e.UpdatePasskey(ctx, other.ID, a.ID, func(*auth.Passkey) error { return nil })
		wantErr(t, "UpdatePasskey of another user", err, auth.ErrNotFound)
		sentinel := errors.New("no")
		if _, err := e.UpdatePasskey(ctx, u.ID, a.ID, func(*auth.Passkey) error { return sentinel }); !errors.Is(err, sentinel) {
			t.Errorf("UpdatePasskey with a failing edit = %v; want its error", err)
		}

		// Delete: only the owner's, once; the credential is then unknown and free.
		_, err = e.DeletePasskey(ctx, other.ID, a.ID)
		wantErr(t, "DeletePasskey of another user", err, auth.ErrNotFound)
		gone, err := e.DeletePasskey(ctx, u.ID, a.ID)
		if err != nil {
			t.Fatalf("DeletePasskey: %v", err)
		}
		checkPasskey(t, "deleted", gone, &want)
		_, err = e.DeletePasskey(ctx, u.ID, a.ID)
		wantErr(t, "DeletePasskey again", err, auth.ErrNotFound)
		_, err = e.PasskeyByCredentialID(ctx, a.CredentialID)
		wantErr(t, "PasskeyByCredentialID of a deleted one", err, auth.ErrNotFound)
		_, err = e.UpdatePasskey(ctx, u.ID, a.ID, func(*auth.Passkey) error { return nil })
		wantErr(t, "UpdatePasskey of a deleted one", err, auth.ErrNotFound)
		again := *a
		again.ID = 0
		if err := e.CreatePasskey(ctx, &again); err != nil {
			t.Errorf("CreatePasskey with a deleted one's credential id: %v", err)
		}
	}},
	{"PasskeysGoWithTheUser", func(t *testing.T, e *env) {
		ctx := e.ctx(t)
		u := e.newUser(t, "alice")
		a := e.newPasskey(t, u.ID, "laptop")
		if _, err := e.DeleteUser(ctx, u.ID); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		_, err := e.PasskeyByCredentialID(ctx, a.CredentialID)
		wantErr(t, "PasskeyByCredentialID after DeleteUser", err, auth.ErrNotFound)
		if list, err := e.PasskeysOf(ctx, u.ID); err != nil || len(list) != 0 {
			t.Errorf("PasskeysOf after DeleteUser = %v, %v", list, err)
		}
		// The credential id is free again.
		v := e.newUser(t, "bob")
		again := *a
		again.ID, again.UserID = 0, v.ID
		if err := e.CreatePasskey(ctx, &again); err != nil {
			t.Errorf("CreatePasskey with a deleted user's credential id: %v", err)
		}
	}},
	{"PasskeyCeremony", func(t *testing.T, e *env) {
		ctx := e.ctx(t)
		c := &auth.PasskeyCeremony{Challenge: "Y2hhbGxlbmdl", Kind: auth.PasskeyRegistration, UserID: 7, AccountID: 3,
			State: []byte(`{"x":1}`), ExpiresAt: e.now().Add(5 * time.Minute)}
		if err := e.SavePasskeyCeremony(ctx, c); err != nil {
			t.Fatalf("SavePasskeyCeremony: %v", err)
		}
		wantErr(t, "SavePasskeyCeremony with a taken challenge", e.SavePasskeyCeremony(ctx, c), auth.ErrConflict)
		got, err := e.TakePasskeyCeremony(ctx, c.Challenge)
		if err != nil {
			t.Fatalf("TakePasskeyCeremony: %v", err)
		}
		if got.Challenge != c.Challenge || got.Kind != c.Kind || got.UserID != 7 || got.AccountID != 3 ||
			!bytes.Equal(got.State, c.State) || !got.ExpiresAt.Equal(c.ExpiresAt) {
			t.Errorf("TakePasskeyCeremony = %+v; want %+v", got, c)
		}
		_, err = e.TakePasskeyCeremony(ctx, c.Challenge)
		wantErr(t, "TakePasskeyCeremony twice", err, auth.ErrNotFound)

		// Expired at its ExpiresAt on the store's clock.
		late := *c
		late.Challenge = "bGF0ZQ"
		if err := e.SavePasskeyCeremony(ctx, &late); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(late.ExpiresAt)
		_, err = e.TakePasskeyCeremony(ctx, late.Challenge)
		wantErr(t, "TakePasskeyCeremony at its ExpiresAt", err, auth.ErrNotFound)
	}},
	{"PasskeyCeremonyRace", func(t *testing.T, e *env) {
		// Of concurrent finishes of one ceremony, exactly one gets it.
		ctx := e.ctx(t)
		for round := range 20 {
			c := &auth.PasskeyCeremony{Challenge: "race" + string(rune('a'+round)), Kind: auth.PasskeySignIn,
				State: []byte("s"), ExpiresAt: e.now().Add(time.Minute)}
			if err := e.SavePasskeyCeremony(ctx, c); err != nil {
				t.Fatal(err)
			}
			var won atomic.Int32
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					if _, err := e.TakePasskeyCeremony(ctx, c.Challenge); err == nil {
						won.Add(1)
					} else if !errors.Is(err, auth.ErrNotFound) {
						t.Errorf("TakePasskeyCeremony: %v", err)
					}
				})
			}
			wg.Wait()
			if n := won.Load(); n != 1 {
				t.Fatalf("round %d: %d takers won; want 1", round, n)
			}
		}
	}},
	{"PasskeyCounterRace", func(t *testing.T, e *env) {
		// UpdatePasskey serialises: a compare-and-set on the counter lets one of concurrent
		// sign-ins with one counter value through.
		ctx := e.ctx(t)
		u := e.newUser(t, "alice")
		p := e.newPasskey(t, u.ID, "laptop")
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, err := e.UpdatePasskey(ctx, u.ID, p.ID, func(k *auth.Passkey) error {
					if k.SignCount >= 4 {
						return errors.New("counter did not grow")
					}
					k.SignCount = 4
					return nil
				})
				if err == nil {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Errorf("%d updates with counter 4 won; want 1", n)
		}
	}},
	{"PasskeyRegistrationRace", func(t *testing.T, e *env) {
		// Of concurrent registrations of one credential id, one wins.
		ctx := e.ctx(t)
		u := e.newUser(t, "alice")
		cred := randomBytes(t, 32)
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				p := &auth.Passkey{UserID: u.ID, CredentialID: cred, PublicKey: []byte{1}, Name: "x", CreatedAt: e.now()}
				err := e.CreatePasskey(ctx, p)
				if err == nil {
					won.Add(1)
				} else if !errors.Is(err, auth.ErrConflict) {
					t.Errorf("CreatePasskey: %v", err)
				}
			})
		}
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Errorf("%d registrations of one credential won; want 1", n)
		}
	}},
}
