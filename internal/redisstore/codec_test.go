package redisstore

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

func TestSessionCodec(t *testing.T) {
	created := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.FixedZone("X", 3600))
	used := created.Add(time.Minute)
	tests := []struct {
		name string
		s    auth.Session
	}{
		{"zero", auth.Session{}},
		{"password", auth.Session{ID: 1, UserID: 1, Method: auth.MethodPassword, CreatedAt: created, ExpiresAt: created.Add(720 * time.Hour)}},
		{"full", auth.Session{
			ID: 1 << 40, UserID: 99, Method: auth.MethodUserKey, UserKeyID: 130, Name: "bot ✓",
			CreatedAt: created, ExpiresAt: created.Add(time.Hour), LastUsedAt: &used,
			ClientName: "web", ClientVersion: "1.0", UserAgent: strings.Repeat("u", 300), IP: "2001:db8::1",
		}},
		{"other method", auth.Session{ID: 2, Method: "WEBAUTHN", CreatedAt: created}},
		{"refreshable", auth.Session{ID: 4, UserID: 7, Method: auth.MethodPassword, CreatedAt: created, FamilyID: 1 << 33}},
		{"refreshable, other method", auth.Session{ID: 5, Method: "WEBAUTHN", CreatedAt: created, FamilyID: 3}},
		{"before 1970", auth.Session{ID: 3, CreatedAt: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"scoped", auth.Session{
			ID: 4, UserID: 5, Method: auth.MethodUserKey, UserKeyID: 6, CreatedAt: created, ExpiresAt: created.Add(time.Hour),
			Scopes: []auth.Scope{auth.ScopeRead, "keys:write"}, AuthenticatedAt: created,
		}},
		{"no scope at all", auth.Session{ID: 5, UserID: 5, Method: auth.MethodExternal, Scopes: []auth.Scope{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeSession(&tt.s)
			if b[0] != sessionVersion || !bytes.HasPrefix(b[1:], sessionOwner(tt.s.ID, tt.s.UserID)) {
				t.Error("the encoding does not begin with the version and sessionOwner")
			}
			got, err := decodeSession(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.CreatedAt.Location() != time.UTC {
				t.Errorf("CreatedAt is in %v, want UTC", got.CreatedAt.Location())
			}
			want := tt.s
			if !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
				(got.LastUsedAt == nil) != (want.LastUsedAt == nil) ||
				(got.LastUsedAt != nil && !got.LastUsedAt.Equal(*want.LastUsedAt)) {
				t.Errorf("times = %v %v %v, want %v %v %v", got.CreatedAt, got.ExpiresAt, got.LastUsedAt,
					want.CreatedAt, want.ExpiresAt, want.LastUsedAt)
			}
			if !got.AuthenticatedAt.Equal(want.AuthenticatedAt) || !slices.Equal(got.Scopes, want.Scopes) ||
				(got.Scopes == nil) != (want.Scopes == nil) {
				t.Errorf("authenticatedAt, scopes = %v %#v, want %v %#v", got.AuthenticatedAt, got.Scopes, want.AuthenticatedAt, want.Scopes)
			}
			got.CreatedAt, got.ExpiresAt, got.LastUsedAt = want.CreatedAt, want.ExpiresAt, want.LastUsedAt
			got.AuthenticatedAt, got.Scopes = want.AuthenticatedAt, want.Scopes
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("decoded %+v\nwant    %+v", *got, want)
			}
			// Every truncation is an error, never a panic or a silently shorter session.
			for n := range len(b) {
				if _, err := decodeSession(b[:n]); err == nil {
					t.Fatalf("decoding the first %d of %d bytes succeeded", n, len(b))
				}
			}
		})
	}
}

// Records of version 1, written before sessions had scopes, still read: with the user's full
// rights (nil scopes), as they were made, and never recently authenticated.
func TestSessionCodecReadsVersion1(t *testing.T) {
	created := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s := auth.Session{ID: 7, UserID: 8, Method: auth.MethodPassword, CreatedAt: created, ExpiresAt: created.Add(time.Hour), IP: "192.0.2.1"}
	v2 := encodeSession(&s)
	// Version 1 is version 2 without the last two fields (two 0 bytes here).
	v1 := append([]byte{1}, v2[1:len(v2)-2]...)
	got, err := decodeSession(v1)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != 7 || got.UserID != 8 || got.IP != "192.0.2.1" || got.Scopes != nil || !got.AuthenticatedAt.IsZero() {
		t.Fatalf("decoded %+v", got)
	}
	if _, err := decodeSession(append([]byte{2}, v1[1:]...)); err == nil {
		t.Fatal("a version 2 record without its last fields decoded")
	}
}

func FuzzDecodeSession(f *testing.F) {
	f.Add(encodeSession(&auth.Session{ID: 1, UserID: 2, Method: auth.MethodPassword, Name: "n"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSession(b) // must not panic
		if err != nil {
			return
		}
		// Whatever was read must survive a round trip (b itself may use longer varints).
		again, err := decodeSession(encodeSession(s))
		if err != nil || !bytes.Equal(encodeSession(again), encodeSession(s)) {
			t.Errorf("%x decodes to %+v, which does not survive a round trip (%v)", b, s, err)
		}
	})
}

func TestKeyHead(t *testing.T) {
	for _, uid := range []int64{1, 12, 1 << 50} {
		b, err := encodeKey(&auth.UserKey{UserID: uid, Name: "n"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), keyHead(uid)) {
			t.Errorf("encoding %s does not begin with keyHead(%d) = %s", b, uid, keyHead(uid))
		}
		if uid == 12 && strings.HasPrefix(string(b), keyHead(1)) {
			t.Errorf("keyHead(1) matches a key of user 12")
		}
	}
}

func TestCeilMilli(t *testing.T) {
	base := time.UnixMilli(1_800_000_000_000)
	for _, tt := range []struct {
		in   time.Time
		want time.Time
	}{
		{base, base},
		{base.Add(time.Nanosecond), base.Add(time.Millisecond)},
		{base.Add(time.Millisecond - time.Nanosecond), base.Add(time.Millisecond)},
	} {
		if got := ceilMilli(tt.in); !got.Equal(tt.want) {
			t.Errorf("ceilMilli(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
