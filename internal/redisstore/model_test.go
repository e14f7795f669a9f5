package redisstore

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/redistest"
)

func TestSessionTTL(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	u := f.user(t, "alice")
	s := f.session(t, u.ID, newToken(t), time.Hour)
	for _, key := range []string{f.name.token(s.TokenDigest), f.name.sessionsOf(u.ID)} {
		ttl, err := f.srv.Client.PTTL(t.Context(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl > time.Hour+time.Second || ttl < time.Hour-10*time.Second {
			t.Errorf("TTL of %q = %v, want about 1h", key, ttl)
		}
	}
	// The index lives as long as the longest-lived session, whatever the order they came in.
	f.session(t, u.ID, newToken(t), 3*time.Hour)
	f.session(t, u.ID, newToken(t), 2*time.Hour)
	ttl := f.srv.Client.PTTL(t.Context(), f.name.sessionsOf(u.ID)).Val()
	if ttl > 3*time.Hour+time.Second || ttl < 3*time.Hour-10*time.Second {
		t.Errorf("TTL of the session index = %v, want about 3h", ttl)
	}
}

// After deletes, nothing refers to the deleted records any more: the whole keyspace is
// exactly what the remaining records need.
func TestDeleteLeavesNoIndexEntry(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	ctx := t.Context()
	u := f.user(t, "alice")
	k1, k2 := f.key(t, u.ID), f.key(t, u.ID)
	s1, s2 := f.session(t, u.ID, newToken(t), time.Hour), f.session(t, u.ID, newToken(t), time.Hour)
	if _, err := f.DeleteKey(ctx, u.ID, k1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.DeleteSession(ctx, u.ID, s1.ID); err != nil {
		t.Fatal(err)
	}
	base := map[string][]string{
		"seq:u": {"1"}, "seq:k": {"2"}, "seq:s": {"2"},
		"u:1": nil, "un:alice": {"1", "1"}, "users": {"1"}, // account 1 → user 1
	}
	want := maps.Clone(base)
	want["k:2"] = nil
	want["{u1}:k"] = []string{"2"}
	want["t:"+string(s2.TokenDigest[:])] = nil
	want["{u1}:s"] = []string{"2", string(s2.TokenDigest[:])}
	checkDump(t, f.dump(t), want)

	if _, err := f.DeleteKey(ctx, u.ID, k2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.DeleteSession(ctx, u.ID, s2.ID); err != nil {
		t.Fatal(err)
	}
	checkDump(t, f.dump(t), base)
}

// checkDump compares the key names of got and want, and the contents of the keys whose want
// is not nil.
func checkDump(t *testing.T, got, want map[string][]string) {
	t.Helper()
	gotKeys, wantKeys := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))
	if !slices.Equal(gotKeys, wantKeys) {
		t.Fatalf("keys = %q\nwant %q", gotKeys, wantKeys)
	}
	for k, w := range want {
		if w != nil && !slices.Equal(got[k], w) {
			t.Errorf("%q holds %q, want %q", k, got[k], w)
		}
	}
}

func TestNoPlaintextToken(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	u := f.user(t, "alice")
	f.key(t, u.ID)
	tok := newToken(t)
	s := f.session(t, u.ID, tok, time.Hour)
	digestFound := false
	for key, items := range f.dump(t) {
		for _, text := range append(items, key) {
			// The random body alone, too, in case a store dropped the kind prefix.
			if strings.Contains(text, tok) || strings.Contains(text, tok[4:]) {
				t.Errorf("the token is stored in plaintext at %q", key)
			}
			digestFound = digestFound || strings.Contains(text, string(s.TokenDigest[:]))
		}
	}
	if !digestFound {
		t.Error("the digest is stored nowhere: is the dump empty?")
	}
}

// A session past its ExpiresAt that Redis has not dropped yet is absent all the same.
func TestClockBeatsRedisTTL(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	u := f.user(t, "alice")
	s := f.session(t, u.ID, newToken(t), time.Hour)
	n, err := f.srv.Client.Exists(t.Context(), f.name.token(s.TokenDigest)).Result()
	if err != nil || n != 1 {
		t.Fatalf("EXISTS = %d, %v", n, err)
	}
	f.clock = fixedClock(s.ExpiresAt)
	if _, err := f.SessionByDigest(t.Context(), s.TokenDigest); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("SessionByDigest at ExpiresAt: err = %v, want ErrNotFound", err)
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

func TestCancelledContext(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := f.User(ctx, 1)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("User with a cancelled context: err = %v, want context.Canceled", err)
	}
	wantUnavailable(t, "User with a cancelled context", err)
}

func TestCorruptRecordIsNeitherNotFoundNorUnavailable(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	if err := f.srv.Client.Set(t.Context(), f.name.user(7), "{not json", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := f.User(t.Context(), 7)
	if err == nil || errors.Is(err, auth.ErrNotFound) || errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("User of a corrupt record: err = %v, want an internal error", err)
	}
}
