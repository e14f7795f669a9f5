package storetest

import (
	"bytes"
	"crypto/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// Token families (auth.RefreshStore). Their times are whole milliseconds: a store may round a
// refresh token's expiry up to the millisecond (Redis's PEXPIREAT precision).

const testGrace = 10 * time.Second

// nowMilli is the fake clock's time to the millisecond.
func (e *env) nowMilli() time.Time { return e.clock.Now().Truncate(time.Millisecond) }

// newFamily saves a family of userID whose refresh token lasts ttl, with a first access
// session of an hour.
func (e *env) newFamily(t *testing.T, userID int64, ttl time.Duration) (*auth.Family, *auth.Session) {
	t.Helper()
	now := e.nowMilli()
	f := &auth.Family{
		UserID: userID, Method: auth.MethodPassword, Name: "phone", CreatedAt: now,
		RefreshDigest: newDigest(t), RefreshExpiresAt: now.Add(ttl),
	}
	first := &auth.Session{
		UserID: userID, TokenDigest: newDigest(t), Method: auth.MethodPassword, Name: "phone",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), IP: "192.0.2.7",
	}
	if err := e.CreateFamily(e.ctx(t), f, first); err != nil {
		t.Fatalf("CreateFamily: %v", err)
	}
	return f, first
}

// rotation prepares a refresh of f with presented: a fresh successor that lasts ttl, an
// access session of an hour and a distinct sealed pair.
func (e *env) rotation(t *testing.T, f *auth.Family, presented token.Digest, ttl time.Duration) *auth.Rotation {
	t.Helper()
	now := e.nowMilli()
	sealed := make([]byte, 64)
	_, _ = rand.Read(sealed)
	return &auth.Rotation{
		FamilyID: f.ID, Presented: presented, Now: now,
		Next: newDigest(t), NextExpiresAt: now.Add(ttl),
		Access: &auth.Session{
			UserID: f.UserID, TokenDigest: newDigest(t), Method: f.Method, Name: f.Name,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour), UserAgent: "refresher/1",
		},
		Sealed: sealed, Grace: testGrace,
	}
}

func (e *env) rotate(t *testing.T, r *auth.Rotation, want auth.RotationOutcome) *auth.RotationResult {
	t.Helper()
	res, err := e.Rotate(e.ctx(t), r)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if res.Outcome != want {
		t.Fatalf("Rotate outcome = %d, want %d", res.Outcome, want)
	}
	return res
}

func checkFamily(t *testing.T, got, want *auth.Family) {
	t.Helper()
	if got == nil || got.ID != want.ID || got.UserID != want.UserID || got.Method != want.Method ||
		got.UserKeyID != want.UserKeyID || got.Name != want.Name || !sameTime(got.CreatedAt, want.CreatedAt) ||
		got.RefreshDigest != want.RefreshDigest || !sameTime(got.RefreshExpiresAt, want.RefreshExpiresAt) {
		t.Errorf("family = %+v\nwant %+v", got, want)
	}
}

func mustFamily(t *testing.T, e *env, d token.Digest) *auth.Family {
	t.Helper()
	f, err := e.FamilyByRefreshDigest(e.ctx(t), d)
	if err != nil {
		t.Fatalf("FamilyByRefreshDigest: %v", err)
	}
	return f
}

// familyGone fails t unless none of the refresh digests leads to a family and none of the
// access sessions is left, in lookups or in the user's list.
func familyGone(t *testing.T, e *env, userID int64, refresh []token.Digest, access []*auth.Session) {
	t.Helper()
	for i, d := range refresh {
		_, err := e.FamilyByRefreshDigest(e.ctx(t), d)
		wantErr(t, "FamilyByRefreshDigest of refresh token "+string(rune('0'+i))+" of a revoked family", err, auth.ErrNotFound)
	}
	for _, s := range access {
		_, err := e.SessionByDigest(e.ctx(t), s.TokenDigest)
		wantErr(t, "SessionByDigest of an access session of a revoked family", err, auth.ErrNotFound)
	}
	list, err := e.SessionsOf(e.ctx(t), userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		for _, a := range access {
			if s.ID == a.ID {
				t.Errorf("SessionsOf still lists session %d of a revoked family", s.ID)
			}
		}
	}
}

var familyTests = []test{
	{"FamilyRoundTrip", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		k := e.newKey(t, u.ID, "k")
		now := e.nowMilli()
		f := &auth.Family{
			UserID: u.ID, Method: auth.MethodUserKey, UserKeyID: k.ID, Name: "deploy ✓",
			CreatedAt: now, RefreshDigest: newDigest(t), RefreshExpiresAt: now.Add(720 * time.Hour),
		}
		first := &auth.Session{
			UserID: u.ID, TokenDigest: newDigest(t), Method: auth.MethodUserKey, UserKeyID: k.ID,
			Name: "deploy ✓", CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute), ClientName: "cli",
		}
		if err := e.CreateFamily(e.ctx(t), f, first); err != nil {
			t.Fatal(err)
		}
		if f.ID < 1 || first.ID < 1 || first.FamilyID != f.ID {
			t.Fatalf("ids: family %d, session %d in family %d", f.ID, first.ID, first.FamilyID)
		}
		checkFamily(t, mustFamily(t, e, f.RefreshDigest), f)
		checkSession(t, mustSession(t, e, first), first)
		list, err := e.SessionsOf(e.ctx(t), u.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("SessionsOf = %v, %v", sessionIDs(list), err)
		}
		checkSession(t, list[0], first)
		_, err = e.FamilyByRefreshDigest(e.ctx(t), newDigest(t))
		wantErr(t, "FamilyByRefreshDigest(unknown)", err, auth.ErrNotFound)
		// A second family gets its own id; neither is the other's.
		g, _ := e.newFamily(t, u.ID, time.Hour)
		if g.ID == f.ID {
			t.Fatalf("two families with id %d", f.ID)
		}
	}},
	{"RotateThenReplayWithinGrace", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		f, first := e.newFamily(t, u.ID, 24*time.Hour)
		r1 := e.rotation(t, f, f.RefreshDigest, 24*time.Hour)
		e.rotate(t, r1, auth.Rotated)
		if r1.Access.ID < 1 || r1.Access.FamilyID != f.ID {
			t.Fatalf("rotated access session: id %d, family %d", r1.Access.ID, r1.Access.FamilyID)
		}
		checkSession(t, mustSession(t, e, r1.Access), r1.Access)
		checkSession(t, mustSession(t, e, first), first) // earlier access sessions run out on their own
		want := *f
		want.RefreshDigest, want.RefreshExpiresAt = r1.Next, r1.NextExpiresAt
		checkFamily(t, mustFamily(t, e, r1.Next), &want)
		checkFamily(t, mustFamily(t, e, f.RefreshDigest), &want) // the rotated token is still known

		e.clock.Advance(testGrace - time.Millisecond)
		r2 := e.rotation(t, f, f.RefreshDigest, 24*time.Hour)
		res := e.rotate(t, r2, auth.Replayed)
		if !bytes.Equal(res.Sealed, r1.Sealed) {
			t.Fatal("a replay within the grace window answers another sealed pair than the rotation kept")
		}
		_, err := e.SessionByDigest(e.ctx(t), r2.Access.TokenDigest)
		wantErr(t, "SessionByDigest of a replay's access session", err, auth.ErrNotFound)
		_, err = e.FamilyByRefreshDigest(e.ctx(t), r2.Next)
		wantErr(t, "FamilyByRefreshDigest of a replay's successor", err, auth.ErrNotFound)
		checkFamily(t, mustFamily(t, e, r1.Next), &want)
		list, _ := e.SessionsOf(e.ctx(t), u.ID)
		if got := sessionIDs(list); !slices.Equal(got, []int64{first.ID, r1.Access.ID}) {
			t.Errorf("SessionsOf = %v, want [%d %d]", got, first.ID, r1.Access.ID)
		}
	}},
	{"ReuseAfterGraceRevokesFamily", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		other, _ := e.newFamily(t, u.ID, 24*time.Hour) // must survive
		f, first := e.newFamily(t, u.ID, 24*time.Hour)
		r1 := e.rotation(t, f, f.RefreshDigest, 24*time.Hour)
		e.rotate(t, r1, auth.Rotated)
		e.clock.Advance(testGrace)
		r2 := e.rotation(t, f, f.RefreshDigest, 24*time.Hour)
		e.rotate(t, r2, auth.Reused)
		familyGone(t, e, u.ID, []token.Digest{f.RefreshDigest, r1.Next, r2.Next},
			[]*auth.Session{first, r1.Access, r2.Access})
		// Once revoked, the successor cannot rotate either.
		_, err := e.Rotate(e.ctx(t), e.rotation(t, f, r1.Next, time.Hour))
		wantErr(t, "Rotate in a revoked family", err, auth.ErrNotFound)
		mustFamily(t, e, other.RefreshDigest)
	}},
	{"ReuseOfAnOlderToken", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		f, _ := e.newFamily(t, u.ID, 24*time.Hour)
		r1 := e.rotation(t, f, f.RefreshDigest, 24*time.Hour)
		e.rotate(t, r1, auth.Rotated)
		e.clock.Advance(time.Minute)
		r2 := e.rotation(t, f, r1.Next, 24*time.Hour)
		e.rotate(t, r2, auth.Rotated)
		e.clock.Advance(time.Second) // within r2's window, long after r1's
		e.rotate(t, e.rotation(t, f, f.RefreshDigest, time.Hour), auth.Reused)
		familyGone(t, e, u.ID, []token.Digest{r2.Next}, []*auth.Session{r1.Access, r2.Access})
	}},
	{"NoGraceWindow", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		f, _ := e.newFamily(t, u.ID, time.Hour)
		r1 := e.rotation(t, f, f.RefreshDigest, time.Hour)
		r1.Grace = 0
		e.rotate(t, r1, auth.Rotated)
		e.rotate(t, e.rotation(t, f, f.RefreshDigest, time.Hour), auth.Reused)
		familyGone(t, e, u.ID, []token.Digest{r1.Next}, []*auth.Session{r1.Access})
	}},
	{"RaceRotate", func(t *testing.T, e *env) {
		// 50 clients refresh with one token at once: one rotation wins, and every other call
		// answers the winner's sealed pair; exactly one access session and successor exist.
		u := e.newUser(t, "alice")
		f, first := e.newFamily(t, u.ID, 24*time.Hour)
		const n = 50
		rots := make([]*auth.Rotation, n)
		for i := range rots {
			rots[i] = e.rotation(t, f, f.RefreshDigest, 24*time.Hour)
		}
		results := make([]*auth.RotationResult, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				res, err := e.Rotate(e.ctx(t), rots[i])
				if err != nil {
					t.Errorf("Rotate %d: %v", i, err)
				}
				results[i] = res
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, res := range results {
			if res != nil && res.Outcome == auth.Rotated {
				if winner >= 0 {
					t.Fatalf("rotations %d and %d both won", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no rotation won")
		}
		for i, res := range results {
			if i == winner || res == nil {
				continue
			}
			if res.Outcome != auth.Replayed || !bytes.Equal(res.Sealed, rots[winner].Sealed) {
				t.Errorf("call %d: outcome %d, same sealed pair %v; want Replayed with the winner's", i, res.Outcome,
					bytes.Equal(res.Sealed, rots[winner].Sealed))
			}
			if _, err := e.SessionByDigest(e.ctx(t), rots[i].Access.TokenDigest); err == nil {
				t.Errorf("the access session of losing call %d was saved", i)
			}
			if _, err := e.FamilyByRefreshDigest(e.ctx(t), rots[i].Next); err == nil {
				t.Errorf("the successor of losing call %d is known", i)
			}
		}
		checkSession(t, mustSession(t, e, rots[winner].Access), rots[winner].Access)
		if got := mustFamily(t, e, rots[winner].Next); got.RefreshDigest != rots[winner].Next {
			t.Error("the family's current token is not the winner's successor")
		}
		list, err := e.SessionsOf(e.ctx(t), u.ID)
		if err != nil || !slices.Equal(sessionIDs(list), []int64{first.ID, rots[winner].Access.ID}) {
			t.Errorf("SessionsOf = %v, %v; want the first and the winner's", sessionIDs(list), err)
		}
	}},
	{"RevokeFamily", func(t *testing.T, e *env) {
		owner, other := e.newUser(t, "owner"), e.newUser(t, "other")
		f, first := e.newFamily(t, owner.ID, 24*time.Hour)
		kept := e.newSession(t, owner.ID, time.Hour)
		r1 := e.rotation(t, f, f.RefreshDigest, 24*time.Hour)
		e.rotate(t, r1, auth.Rotated)

		wantErr(t, "RevokeFamily by another user", e.RevokeFamily(e.ctx(t), other.ID, f.ID), auth.ErrNotFound)
		mustFamily(t, e, r1.Next)
		if err := e.RevokeFamily(e.ctx(t), owner.ID, f.ID); err != nil {
			t.Fatalf("RevokeFamily: %v", err)
		}
		familyGone(t, e, owner.ID, []token.Digest{f.RefreshDigest, r1.Next}, []*auth.Session{first, r1.Access})
		wantErr(t, "second RevokeFamily", e.RevokeFamily(e.ctx(t), owner.ID, f.ID), auth.ErrNotFound)
		wantErr(t, "RevokeFamily(unknown)", e.RevokeFamily(e.ctx(t), owner.ID, 424242), auth.ErrNotFound)
		// The replay of a rotated token finds nothing either, even within its window.
		_, err := e.Rotate(e.ctx(t), e.rotation(t, f, f.RefreshDigest, time.Hour))
		wantErr(t, "Rotate after RevokeFamily", err, auth.ErrNotFound)
		checkSession(t, mustSession(t, e, kept), kept)
	}},
	{"RaceRevokeFamily", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		f, _ := e.newFamily(t, u.ID, time.Hour)
		wins := race(t, 20, func(int) error { return e.RevokeFamily(e.ctx(t), u.ID, f.ID) })
		if wins != 1 {
			t.Errorf("%d of 20 concurrent RevokeFamily calls succeeded, want 1", wins)
		}
	}},
	{"FamilyExpiry", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		f, _ := e.newFamily(t, u.ID, time.Hour)
		e.clock.Set(f.RefreshExpiresAt.Add(-time.Millisecond))
		mustFamily(t, e, f.RefreshDigest)
		e.clock.Set(f.RefreshExpiresAt) // a refresh token is over at its expiry
		_, err := e.FamilyByRefreshDigest(e.ctx(t), f.RefreshDigest)
		wantErr(t, "FamilyByRefreshDigest at expiry", err, auth.ErrNotFound)
		_, err = e.Rotate(e.ctx(t), e.rotation(t, f, f.RefreshDigest, time.Hour))
		wantErr(t, "Rotate at expiry", err, auth.ErrNotFound)
		wantErr(t, "RevokeFamily at expiry", e.RevokeFamily(e.ctx(t), u.ID, f.ID), auth.ErrNotFound)
	}},
	{"RotatedTokenExpiresOnItsOwn", func(t *testing.T, e *env) {
		// Refresh tokens slide: the successor outlives its predecessor, and the predecessor,
		// once expired, is simply unknown (not a reuse that would revoke the family).
		u := e.newUser(t, "alice")
		f, _ := e.newFamily(t, u.ID, time.Hour)
		e.clock.Advance(30 * time.Minute)
		r1 := e.rotation(t, f, f.RefreshDigest, time.Hour)
		e.rotate(t, r1, auth.Rotated)
		e.clock.Set(f.RefreshExpiresAt)
		_, err := e.FamilyByRefreshDigest(e.ctx(t), f.RefreshDigest)
		wantErr(t, "FamilyByRefreshDigest of an expired rotated token", err, auth.ErrNotFound)
		got := mustFamily(t, e, r1.Next)
		if !sameTime(got.RefreshExpiresAt, r1.NextExpiresAt) {
			t.Errorf("RefreshExpiresAt = %v, want %v", got.RefreshExpiresAt, r1.NextExpiresAt)
		}
	}},
}
