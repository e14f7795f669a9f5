package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

// The layout doc.go promises: an enrolment with a TTL beside the user's TOTP hash, both under
// the user's hash tag (one Cluster slot); once enabled, one hash of "s", "t" and one field
// per recovery digest, without TTL; nothing left after disabling.
func TestTOTPLayout(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	ctx := t.Context()
	u := f.user(t, "alice")
	for _, key := range []string{f.name.totp(u.ID), f.name.totpNew(u.ID)} {
		if tag := key[strings.Index(key, "{") : strings.Index(key, "}")+1]; tag != "{u1}" {
			t.Errorf("key %q has hash tag %q, want {u1}", key, tag)
		}
	}

	p := &auth.PendingTOTP{Secret: []byte("sealed-secret"), ExpiresAt: time.Now().Add(15 * time.Minute)}
	if err := f.SetPendingTOTP(ctx, u.ID, p); err != nil {
		t.Fatal(err)
	}
	if ttl := f.srv.Client.PTTL(ctx, f.name.totpNew(u.ID)).Val(); ttl < 14*time.Minute || ttl > 15*time.Minute+time.Second {
		t.Errorf("TTL of the enrolment = %v, want about 15m", ttl)
	}
	codes := []token.Digest{token.Sum("code-1"), token.Sum("code-2")}
	if err := f.EnableTOTP(ctx, u.ID, p.Secret, 59_000_000, codes); err != nil {
		t.Fatal(err)
	}
	dump := f.dump(t)
	if _, ok := dump["{u1}:totp:new"]; ok {
		t.Error("the enrolment is still there after EnableTOTP")
	}
	fields := map[string]string{}
	items := dump["{u1}:totp"]
	for i := 0; i+1 < len(items); i += 2 {
		fields[items[i]] = items[i+1]
	}
	want := map[string]string{"s": "sealed-secret", "t": "59000000", "r" + string(codes[0][:]): "", "r" + string(codes[1][:]): ""}
	if len(fields) != len(want) {
		t.Fatalf("TOTP hash fields = %q, want %q", fields, want)
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("field %q = %q, want %q", k, fields[k], v)
		}
	}
	if ttl := f.srv.Client.PTTL(ctx, f.name.totp(u.ID)).Val(); ttl != -1 {
		t.Errorf("TTL of the TOTP hash = %v, want none", ttl)
	}
	if enc := f.srv.Client.ObjectEncoding(ctx, f.name.totp(u.ID)).Val(); enc != "listpack" && enc != "ziplist" {
		t.Errorf("the TOTP hash is encoded as %q, want the compact listpack", enc)
	}

	f.setPending(t, u.ID)
	if err := f.DisableTOTP(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	for key := range f.dump(t) {
		if strings.Contains(key, "totp") {
			t.Errorf("key %q left after DisableTOTP", key)
		}
	}
}

func (f fixture) setPending(t *testing.T, userID int64) {
	t.Helper()
	p := &auth.PendingTOTP{Secret: []byte("other"), ExpiresAt: time.Now().Add(time.Minute)}
	if err := f.SetPendingTOTP(t.Context(), userID, p); err != nil {
		t.Fatal(err)
	}
}
