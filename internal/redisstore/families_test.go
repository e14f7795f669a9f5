package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

// hashTag is the part of a key Redis Cluster hashes: between the first { and the next }.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// Every key a script touches must be in one hash slot, or Redis Cluster refuses the script.
func TestFamilyScriptKeysShareASlot(t *testing.T) {
	n := names{"ag:"}
	d := token.Sum("x")
	for _, id := range []int64{1, 42, 1 << 40} {
		fam, grace := n.family(id), n.grace(id, d)
		if hashTag(fam) != hashTag(grace) || hashTag(fam) != "f"+itoa(id) {
			t.Errorf("family %d: tags %q and %q", id, hashTag(fam), hashTag(grace))
		}
	}
	if hashTag(n.family(1)) == hashTag(n.family(12)) {
		t.Error("families 1 and 12 share a tag")
	}
}

func (f fixture) family(t *testing.T, userID int64, refresh string, ttl time.Duration) (*auth.Family, *auth.Session) {
	t.Helper()
	now := time.Now()
	fam := &auth.Family{
		UserID: userID, Method: auth.MethodPassword, CreatedAt: now,
		RefreshDigest: token.Sum(refresh), RefreshExpiresAt: now.Add(ttl),
	}
	first := &auth.Session{
		UserID: userID, TokenDigest: token.Sum(newToken(t)), Method: auth.MethodPassword,
		CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute),
	}
	if err := f.CreateFamily(t.Context(), fam, first); err != nil {
		t.Fatal(err)
	}
	return fam, first
}

func (f fixture) rotation(fam *auth.Family, presented string, ttl time.Duration) *auth.Rotation {
	now := time.Now()
	return &auth.Rotation{
		FamilyID: fam.ID, Presented: token.Sum(presented), Now: now,
		Next: token.Sum(newRefreshToken()), NextExpiresAt: now.Add(ttl),
		Access: &auth.Session{
			UserID: fam.UserID, TokenDigest: token.Sum(newRefreshToken()), Method: fam.Method,
			CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute),
		},
		Sealed: []byte("sealed"), Grace: 10 * time.Second,
	}
}

func newRefreshToken() string {
	tok, _ := token.New(token.Refresh)
	return tok
}

func (f fixture) pttl(t *testing.T, key string) time.Duration {
	t.Helper()
	ttl, err := f.srv.Client.PTTL(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return ttl
}

func about(got, want time.Duration) bool {
	return got <= want+time.Second && got >= want-10*time.Second
}

// Every key of a family expires on its own, and a revoked family leaves nothing behind but
// pointers that expire and lead nowhere.
func TestFamilyTTLsAndRevocationLeftovers(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	ctx := t.Context()
	u := f.user(t, "alice")
	kept := f.session(t, u.ID, newToken(t), time.Hour)
	r0 := newRefreshToken()
	fam, first := f.family(t, u.ID, r0, 24*time.Hour)
	rot := f.rotation(fam, r0, 48*time.Hour)
	if res, err := f.Rotate(ctx, rot); err != nil || res.Outcome != auth.Rotated {
		t.Fatalf("Rotate: %+v, %v", res, err)
	}
	for key, want := range map[string]time.Duration{
		f.name.family(fam.ID):                48 * time.Hour,
		f.name.grace(fam.ID, token.Sum(r0)):  10 * time.Second,
		f.name.refresh(token.Sum(r0)):        24 * time.Hour,
		f.name.refresh(rot.Next):             48 * time.Hour,
		f.name.token(rot.Access.TokenDigest): 15 * time.Minute,
	} {
		if ttl := f.pttl(t, key); !about(ttl, want) {
			t.Errorf("TTL of %q = %v, want about %v", key, ttl, want)
		}
	}

	if err := f.RevokeFamily(ctx, u.ID, fam.ID); err != nil {
		t.Fatal(err)
	}
	for key := range f.dump(t) {
		full := f.srv.Prefix + key
		switch {
		case strings.Contains(key, "{f"):
			if ttl := f.pttl(t, full); ttl < 0 || ttl > 10*time.Second {
				t.Errorf("family key %q left behind with TTL %v", key, ttl)
			}
		case strings.HasPrefix(key, "r:"):
			if ttl := f.pttl(t, full); ttl < 0 {
				t.Errorf("refresh pointer %q left without a TTL", key)
			}
		case strings.HasPrefix(key, "t:"):
			if key != "t:"+string(kept.TokenDigest[:]) {
				t.Errorf("an access session of the revoked family is left: %q", key)
			}
		}
	}
	index := f.srv.Client.HKeys(ctx, f.name.sessionsOf(u.ID)).Val()
	if len(index) != 1 || index[0] != itoa(kept.ID) {
		t.Errorf("session index = %q, want only %d (first %d, rotated %d gone)", index, kept.ID, first.ID, rot.Access.ID)
	}
}
