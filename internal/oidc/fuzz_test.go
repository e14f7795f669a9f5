package oidc_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authgraph/authgraph/internal/oidc"
	"github.com/authgraph/authgraph/internal/oidc/oidctest"
)

// FuzzVerify: whatever the input, Verify does not panic, answers with exactly one error class,
// and does not echo the input in its message.
func FuzzVerify(f *testing.F) {
	p := oidctest.NewProvider(f)
	v, err := oidc.New(context.Background(), []oidc.Issuer{p.Issuer("alice")}, oidc.WithMinRefreshInterval(0))
	if err != nil {
		f.Fatal(err)
	}
	good := p.Sign(f, p.Claims("alice"))
	f.Add(good)
	f.Add(p.SignES256(f, p.Claims("mallory")))
	f.Add(good[:len(good)-3])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if err == nil {
			if id == nil || id.Subject == "" || id.Username == "" {
				t.Fatalf("accepted with identity %+v", id)
			}
			return
		}
		if errors.Is(err, oidc.ErrInvalidToken) == errors.Is(err, oidc.ErrUnavailable) {
			t.Fatalf("error %q is not exactly one of invalid or unavailable", err)
		}
		if len(token) >= 16 && strings.Contains(err.Error(), token) {
			t.Fatalf("error echoes the token: %q", err)
		}
	})
}
