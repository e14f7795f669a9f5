package redisstore

import (
	"bytes"
	"encoding/binary"
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
	v2 := encodeSessionV2(&s)
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

// Real user agents, of the browsers and programs the dictionary is made for and of some it
// is not: every one must come back exactly.
var userAgents = []string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"curl/8.5.0",
	"python-requests/2.32.3",
	"Go-http-client/1.1",
	"authgraph-cli/1.0",
	"",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/131.0.0.0 – not ASCII",
	"\x00\x7f control bytes",
}

func TestUserAgentDictionary(t *testing.T) {
	for _, ua := range userAgents {
		s := auth.Session{ID: 7, UserID: 3, Method: auth.MethodPassword, UserAgent: ua}
		b := encodeSession(&s)
		got, err := decodeSession(b)
		if err != nil {
			t.Fatalf("%q: %v", ua, err)
		}
		if got.UserAgent != ua {
			t.Errorf("user agent %q came back as %q", ua, got.UserAgent)
		}
		packed, ok := packUserAgent(nil, ua)
		if ok && len(packed) > len(ua) {
			t.Errorf("%q: coded in %d bytes, more than its own %d", ua, len(packed), len(ua))
		}
	}
	packed, _ := packUserAgent(nil, userAgents[0])
	if len(packed) > 25 {
		t.Errorf("Chrome on macOS codes to %d bytes, want at most 25", len(packed))
	}
	if _, err := unpackUserAgent([]byte{0xff}); err == nil {
		t.Error("an unknown fragment code was accepted")
	}
}

// A 30-day password session from a browser: what BenchmarkSessionMemory stores. Its size
// decides which allocation class Redis puts it in (80 bytes and under, here).
func TestSessionEncodingSize(t *testing.T) {
	now := time.Now()
	s := auth.Session{
		ID: 1_234_567, UserID: 123_456, Method: auth.MethodPassword,
		CreatedAt: now, ExpiresAt: now.Add(720 * time.Hour),
		ClientName: "web", ClientVersion: "1.4.2", UserAgent: userAgents[0], IP: "203.0.113.54",
	}
	if n := len(encodeSession(&s)); n > 70 {
		t.Errorf("the session encodes to %d bytes, want at most 70", n)
	}
}

// encodeSessionV2 is the version 2 encoder, as it was, to check that such records stay
// readable. (Version 1 is version 2 without its last two fields.)
func encodeSessionV2(s *auth.Session) []byte {
	b := []byte{sessionVersionV2}
	b = append(b, sessionOwner(s.ID, s.UserID)...)
	var family byte
	if s.FamilyID != 0 {
		family = familyFlag
	}
	if code := methodCode(s.Method); code != 0 {
		b = append(b, code|family)
	} else {
		b = appendString(append(b, family), string(s.Method))
	}
	b = binary.AppendVarint(b, s.UserKeyID)
	if s.FamilyID != 0 {
		b = binary.AppendVarint(b, s.FamilyID)
	}
	b = appendString(b, s.Name)
	timeOld := func(b []byte, t time.Time) []byte {
		return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
	}
	optTimeOld := func(b []byte, t *time.Time) []byte {
		if t == nil {
			return append(b, 0)
		}
		return timeOld(append(b, 1), *t)
	}
	b = timeOld(b, s.CreatedAt)
	b = timeOld(b, s.ExpiresAt)
	b = optTimeOld(b, s.LastUsedAt)
	for _, str := range []string{s.ClientName, s.ClientVersion, s.UserAgent, s.IP} {
		b = appendString(b, str)
	}
	var authAt *time.Time
	if !s.AuthenticatedAt.IsZero() {
		authAt = &s.AuthenticatedAt
	}
	b = optTimeOld(b, authAt)
	if s.Scopes == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(append(b, 1), uint64(len(s.Scopes)))
	for _, sc := range s.Scopes {
		b = appendString(b, string(sc))
	}
	return b
}

// Version 2 records, written before the compact encoding, read back whole.
func TestSessionCodecReadsVersion2(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	used := created.Add(time.Hour + 7)
	want := auth.Session{
		ID: 42, UserID: 9, Method: auth.MethodUserKey, UserKeyID: 5, FamilyID: 77, Name: "bot",
		CreatedAt: created, ExpiresAt: created.Add(720 * time.Hour), LastUsedAt: &used,
		ClientName: "c", ClientVersion: "1", UserAgent: userAgents[0], IP: "192.0.2.1",
		AuthenticatedAt: created.Add(-time.Minute), Scopes: []auth.Scope{auth.ScopeRead},
	}
	b := encodeSessionV2(&want)
	got, err := decodeSession(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastUsedAt.Equal(used) || !got.CreatedAt.Equal(created) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		!got.AuthenticatedAt.Equal(want.AuthenticatedAt) {
		t.Errorf("times = %v %v %v %v", got.CreatedAt, got.ExpiresAt, got.LastUsedAt, got.AuthenticatedAt)
	}
	got.LastUsedAt, got.CreatedAt, got.ExpiresAt, got.AuthenticatedAt = want.LastUsedAt, want.CreatedAt, want.ExpiresAt, want.AuthenticatedAt
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("decoded %+v\nwant    %+v", *got, want)
	}
	for n := range len(b) {
		if _, err := decodeSession(b[:n]); err == nil {
			t.Fatalf("decoding the first %d of %d bytes succeeded", n, len(b))
		}
	}
}

func TestScaledTimes(t *testing.T) {
	base := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, d := range []time.Duration{0, time.Millisecond, 1500 * time.Microsecond, 7, time.Second - 1, -1, -time.Hour - 3} {
		s := auth.Session{CreatedAt: base.Add(d), ExpiresAt: base.Add(-d).Add(720 * time.Hour), AuthenticatedAt: base.Add(-d)}
		got, err := decodeSession(encodeSession(&s))
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(s.CreatedAt) || !got.ExpiresAt.Equal(s.ExpiresAt) || !got.AuthenticatedAt.Equal(s.AuthenticatedAt) {
			t.Errorf("%v: times %v %v, want %v %v", d, got.CreatedAt, got.ExpiresAt, s.CreatedAt, s.ExpiresAt)
		}
	}
}

func TestIPForms(t *testing.T) {
	for _, ip := range []string{"", "203.0.113.54", "2001:db8::1", "::ffff:192.0.2.1", "2001:DB8::1", "fe80::1%eth0", "010.0.0.1", "not an ip", "[::1]"} {
		s := auth.Session{IP: ip}
		got, err := decodeSession(encodeSession(&s))
		if err != nil || got.IP != ip {
			t.Errorf("ip %q came back as %q (%v)", ip, got.IP, err)
		}
	}
}
