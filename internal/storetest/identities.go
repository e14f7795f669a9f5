package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

func (e *env) newFlow(t *testing.T, linkUser int64, ttl time.Duration) *auth.AuthFlow {
	t.Helper()
	f := &auth.AuthFlow{
		StateDigest: newDigest(t), Binding: newDigest(t), Provider: "acme", Nonce: "n0nce",
		Verifier: "v3rifier", ReturnTo: "/account", LinkUserID: linkUser, ExpiresAt: e.now().Add(ttl),
		AppRedirect: "http://127.0.0.1:49152/callback", AppState: "app-state", AppChallenge: "ch4llenge",
	}
	if err := e.CreateAuthFlow(e.ctx(t), f); err != nil {
		t.Fatalf("CreateAuthFlow: %v", err)
	}
	return f
}

func (e *env) newAppCode(t *testing.T, ttl time.Duration) *auth.AppCode {
	t.Helper()
	c := &auth.AppCode{
		Digest: newDigest(t), Provider: "acme", RedirectURI: "http://127.0.0.1:49152/callback",
		Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", UserID: 7, Subject: "sub-1", ExpiresAt: e.now().Add(ttl),
	}
	if err := e.CreateAppCode(e.ctx(t), c); err != nil {
		t.Fatalf("CreateAppCode: %v", err)
	}
	return c
}

func (e *env) link(t *testing.T, userID int64, provider, subject string) *auth.LinkedIdentity {
	t.Helper()
	l := &auth.LinkedIdentity{UserID: userID, Provider: provider, Subject: subject, Email: subject + "@example.com", LinkedAt: e.now()}
	if err := e.LinkIdentity(e.ctx(t), l); err != nil {
		t.Fatalf("LinkIdentity(%s, %s): %v", provider, subject, err)
	}
	return l
}

// identityTests: an authorization code flow is single use and expires on the store's clock;
// an identity is linked to one user at most, listed with its user, and goes with the user.
var identityTests = []test{
	{"AuthFlowConsumedOnce", func(t *testing.T, e *env) {
		f := e.newFlow(t, 7, 10*time.Minute)
		if err := e.CreateAuthFlow(e.ctx(t), f); !errors.Is(err, auth.ErrConflict) {
			t.Errorf("CreateAuthFlow of the same state again: %v, want ErrConflict", err)
		}
		got, err := e.ConsumeAuthFlow(e.ctx(t), f.StateDigest)
		if err != nil {
			t.Fatalf("ConsumeAuthFlow: %v", err)
		}
		if got.StateDigest != f.StateDigest || got.Binding != f.Binding || got.Provider != f.Provider ||
			got.Nonce != f.Nonce || got.Verifier != f.Verifier || got.ReturnTo != f.ReturnTo ||
			got.LinkUserID != 7 || !got.ExpiresAt.Equal(f.ExpiresAt) ||
			got.AppRedirect != f.AppRedirect || got.AppState != f.AppState || got.AppChallenge != f.AppChallenge {
			t.Errorf("ConsumeAuthFlow = %+v, want %+v", got, f)
		}
		_, err = e.ConsumeAuthFlow(e.ctx(t), f.StateDigest)
		wantNotFound(t, "second ConsumeAuthFlow", err)
		_, err = e.ConsumeAuthFlow(e.ctx(t), newDigest(t))
		wantNotFound(t, "ConsumeAuthFlow of an unknown state", err)
	}},
	{"AuthFlowExpires", func(t *testing.T, e *env) {
		f := e.newFlow(t, 0, time.Minute)
		// e.now() runs up to a second ahead of the clock: move past the expiry for sure.
		e.clock.Advance(time.Minute + time.Second)
		_, err := e.ConsumeAuthFlow(e.ctx(t), f.StateDigest)
		wantNotFound(t, "ConsumeAuthFlow after its expiry", err)
	}},
	{"AuthFlowConsumedByOneOfConcurrentCalls", func(t *testing.T, e *env) {
		f := e.newFlow(t, 0, time.Minute)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := e.ConsumeAuthFlow(e.ctx(t), f.StateDigest); err == nil {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d concurrent ConsumeAuthFlow succeeded, want 1", wins.Load())
		}
	}},
	{"AppCodeConsumedOnce", func(t *testing.T, e *env) {
		c := e.newAppCode(t, time.Minute)
		if err := e.CreateAppCode(e.ctx(t), c); !errors.Is(err, auth.ErrConflict) {
			t.Errorf("CreateAppCode of the same digest again: %v, want ErrConflict", err)
		}
		got, err := e.ConsumeAppCode(e.ctx(t), c.Digest)
		if err != nil {
			t.Fatalf("ConsumeAppCode: %v", err)
		}
		if got.Digest != c.Digest || got.Provider != c.Provider || got.RedirectURI != c.RedirectURI || got.Challenge != c.Challenge ||
			got.UserID != c.UserID || got.Subject != c.Subject || !got.ExpiresAt.Equal(c.ExpiresAt) {
			t.Errorf("ConsumeAppCode = %+v, want %+v", got, c)
		}
		_, err = e.ConsumeAppCode(e.ctx(t), c.Digest)
		wantNotFound(t, "second ConsumeAppCode", err)
		_, err = e.ConsumeAppCode(e.ctx(t), newDigest(t))
		wantNotFound(t, "ConsumeAppCode of an unknown code", err)
		// A flow and a code are apart: a code's digest names no flow.
		c2 := e.newAppCode(t, time.Minute)
		_, err = e.ConsumeAuthFlow(e.ctx(t), c2.Digest)
		wantNotFound(t, "ConsumeAuthFlow of a code's digest", err)
	}},
	{"AppCodeExpires", func(t *testing.T, e *env) {
		c := e.newAppCode(t, time.Minute)
		e.clock.Advance(time.Minute + time.Second)
		_, err := e.ConsumeAppCode(e.ctx(t), c.Digest)
		wantNotFound(t, "ConsumeAppCode after its expiry", err)
	}},
	{"AppCodeConsumedByOneOfConcurrentCalls", func(t *testing.T, e *env) {
		c := e.newAppCode(t, time.Minute)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := e.ConsumeAppCode(e.ctx(t), c.Digest); err == nil {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d concurrent ConsumeAppCode succeeded, want 1", wins.Load())
		}
	}},
	{"IdentityLinkedOnce", func(t *testing.T, e *env) {
		alice, bob := e.newUser(t, "alice"), e.newUser(t, "bob")
		l := e.link(t, alice.ID, "acme", "sub-1")
		got, err := e.IdentityBySubject(e.ctx(t), "acme", "sub-1")
		if err != nil || got.UserID != alice.ID || got.Email != l.Email || !got.LinkedAt.Equal(l.LinkedAt) {
			t.Errorf("IdentityBySubject = %+v, %v; want %+v", got, err, l)
		}
		for _, uid := range []int64{alice.ID, bob.ID} {
			err := e.LinkIdentity(e.ctx(t), &auth.LinkedIdentity{UserID: uid, Provider: "acme", Subject: "sub-1", LinkedAt: e.now()})
			if !errors.Is(err, auth.ErrConflict) {
				t.Errorf("LinkIdentity of a linked identity to user %d: %v, want ErrConflict", uid, err)
			}
		}
		// The same subject at another provider is another identity.
		e.link(t, bob.ID, "other", "sub-1")
		_, err = e.IdentityBySubject(e.ctx(t), "acme", "sub-2")
		wantNotFound(t, "IdentityBySubject of an unlinked subject", err)
		err = e.LinkIdentity(e.ctx(t), &auth.LinkedIdentity{UserID: 9999, Provider: "acme", Subject: "ghost", LinkedAt: e.now()})
		wantNotFound(t, "LinkIdentity to no user", err)
		_, err = e.IdentityBySubject(e.ctx(t), "acme", "ghost")
		wantNotFound(t, "IdentityBySubject after a refused link", err)
	}},
	{"IdentitiesListedAndUnlinked", func(t *testing.T, e *env) {
		alice, bob := e.newUser(t, "alice"), e.newUser(t, "bob")
		e.link(t, alice.ID, "zeta", "z")
		e.link(t, alice.ID, "acme", "b")
		e.link(t, alice.ID, "acme", "a")
		list, err := e.IdentitiesOf(e.ctx(t), alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, l := range list {
			keys = append(keys, l.Provider+"/"+l.Subject)
		}
		if want := "acme/a acme/b zeta/z"; joinSpace(keys) != want {
			t.Errorf("IdentitiesOf = %v, want %s", keys, want)
		}
		if list, err := e.IdentitiesOf(e.ctx(t), bob.ID); err != nil || len(list) != 0 {
			t.Errorf("IdentitiesOf(no links) = %v, %v; want none", list, err)
		}
		_, err = e.UnlinkIdentity(e.ctx(t), bob.ID, "acme", "a")
		wantNotFound(t, "UnlinkIdentity of another user's link", err)
		got, err := e.UnlinkIdentity(e.ctx(t), alice.ID, "acme", "a")
		if err != nil || got.UserID != alice.ID || got.Subject != "a" {
			t.Errorf("UnlinkIdentity = %+v, %v", got, err)
		}
		_, err = e.UnlinkIdentity(e.ctx(t), alice.ID, "acme", "a")
		wantNotFound(t, "second UnlinkIdentity", err)
		_, err = e.IdentityBySubject(e.ctx(t), "acme", "a")
		wantNotFound(t, "IdentityBySubject after unlinking", err)
		// Unlinked, the identity may be linked again, to anyone.
		e.link(t, bob.ID, "acme", "a")
	}},
	{"IdentitiesGoWithTheirUser", func(t *testing.T, e *env) {
		alice := e.newUser(t, "alice")
		e.link(t, alice.ID, "acme", "a")
		if _, err := e.DeleteUser(e.ctx(t), alice.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.IdentityBySubject(e.ctx(t), "acme", "a")
		wantNotFound(t, "IdentityBySubject of a deleted user's link", err)
		if list, err := e.IdentitiesOf(e.ctx(t), alice.ID); err != nil || len(list) != 0 {
			t.Errorf("IdentitiesOf(deleted user) = %v, %v; want none", list, err)
		}
		bob := e.newUser(t, "bob")
		e.link(t, bob.ID, "acme", "a") // released with its user
	}},
	{"LinkRacingDeleteUserLeavesNothing", func(t *testing.T, e *env) {
		for i := range 20 {
			u := e.newUser(t, "racer"+string(rune('a'+i)))
			subject := "race-" + u.Username
			var wg sync.WaitGroup
			wg.Go(func() {
				_ = e.LinkIdentity(e.ctx(t), &auth.LinkedIdentity{UserID: u.ID, Provider: "acme", Subject: subject, LinkedAt: e.now()})
			})
			wg.Go(func() { _, _ = e.DeleteUser(e.ctx(t), u.ID) })
			wg.Wait()
			if l, err := e.IdentityBySubject(e.ctx(t), "acme", subject); err == nil {
				t.Fatalf("a link of a deleted user survived: %+v", l)
			}
		}
	}},
}

func joinSpace(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}
