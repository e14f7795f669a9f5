package sso_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/sso"
	"github.com/authgraph/authgraph/internal/sso/ssotest"
)

const public = "http://127.0.0.1:9/"

func setup(t *testing.T) (*ssotest.Provider, sso.Provider) {
	t.Helper()
	cb := "http://127.0.0.1:9/auth/acme/callback"
	op := ssotest.Start(t,
		ssotest.Client{ID: "authgraph", Secret: "s3cret", RedirectURIs: []string{cb, "http://127.0.0.1:9/app"}},
		ssotest.Client{ID: "other-app", Secret: "0ther", RedirectURIs: []string{cb}},
	)
	op.AddUser(ssotest.User{ID: "sub-alice", Username: "alice", Email: "alice@example.com", EmailVerified: true})
	p, err := sso.New(sso.Config{Name: "acme", Issuer: op.Issuer, ClientID: "authgraph", ClientSecret: "s3cret",
		ClientRedirectURIs: []string{"http://127.0.0.1:9/app"}}, public, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return op, p
}

const verifier = "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"

// signIn runs the browser's part: the authorization URL to the code at the callback.
func signIn(t *testing.T, op *ssotest.Provider, p sso.Provider, state, nonce string) string {
	t.Helper()
	u, err := p.AuthURL(t.Context(), state, nonce, verifier)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(u)
	if got := q.Query(); got.Get("code_challenge_method") != "S256" || got.Get("code_challenge") == "" ||
		got.Get("redirect_uri") != "http://127.0.0.1:9/auth/acme/callback" || got.Get("nonce") != nonce {
		t.Fatalf("authorization URL %s lacks PKCE S256, the nonce or the callback built from the public URL", u)
	}
	back, err := op.SignIn(t.Context(), u, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if back.Query().Get("state") != state || back.Query().Get("code") == "" {
		t.Fatalf("provider came back to %s", back)
	}
	return back.Query().Get("code")
}

func TestCodeFlowAgainstARealProvider(t *testing.T) {
	op, p := setup(t)
	code := signIn(t, op, p, "st4te", "n0nce")
	id, err := p.Exchange(t.Context(), code, verifier, "", "n0nce")
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if id.Subject != "sub-alice" || id.Email != "alice@example.com" || !id.EmailVerified {
		t.Errorf("identity = %+v", id)
	}
	// A code works once.
	_, err = p.Exchange(t.Context(), code, verifier, "", "n0nce")
	wantRejected(t, "a used code", err)
}

func TestExchangeRefusals(t *testing.T) {
	op, p := setup(t)
	t.Run("PKCE verifier mismatch", func(t *testing.T) {
		code := signIn(t, op, p, "s1", "n1")
		_, err := p.Exchange(t.Context(), code, strings.Repeat("w", 52), "", "n1")
		wantRejected(t, "another verifier", err)
	})
	t.Run("wrong nonce", func(t *testing.T) {
		code := signIn(t, op, p, "s2", "n2")
		_, err := p.Exchange(t.Context(), code, verifier, "", "another-nonce")
		wantRejected(t, "an ID token for another nonce", err)
	})
	t.Run("tampered code", func(t *testing.T) {
		code := signIn(t, op, p, "s3", "n3")
		_, err := p.Exchange(t.Context(), code+"x", verifier, "", "n3")
		wantRejected(t, "a tampered code", err)
	})
	t.Run("code of another client", func(t *testing.T) {
		other, err := sso.New(sso.Config{Name: "acme", Issuer: op.Issuer, ClientID: "other-app", ClientSecret: "0ther"}, public, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		code := signIn(t, op, other, "s4", "n4")
		_, err = p.Exchange(t.Context(), code, verifier, "", "n4")
		wantRejected(t, "a code issued to another client", err)
	})
}

func TestProviderDownIsUnavailable(t *testing.T) {
	op, p := setup(t)
	code := signIn(t, op, p, "s", "n")
	op.SetDown(true)
	_, err := p.Exchange(t.Context(), code, verifier, "", "n")
	if !errors.Is(err, auth.ErrUnavailable) || errors.Is(err, auth.ErrExternalTokenRejected) {
		t.Errorf("Exchange with the provider down: %v, want ErrUnavailable", err)
	}
	// Undiscovered, a provider that is down makes no authorization URL either.
	op2, _ := setup(t)
	p2, _ := sso.New(sso.Config{Name: "acme", Issuer: op2.Issuer, ClientID: "authgraph"}, public, nil, nil)
	op2.Close()
	if _, err := p2.AuthURL(t.Context(), "s", "n", verifier); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("AuthURL with the provider gone: %v, want ErrUnavailable", err)
	}
}

func TestSlowProviderIsUnavailable(t *testing.T) {
	op, p := setup(t)
	code := signIn(t, op, p, "s", "n")
	op.SetDelay(2 * time.Second)
	slow, err := sso.New(p.Config(), public, &http.Client{Timeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = slow.Exchange(t.Context(), code, verifier, "", "n")
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("Exchange with a provider slower than the client's timeout: %v, want ErrUnavailable", err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("gave up after %v, want the client's timeout", d)
	}
}

func TestParse(t *testing.T) {
	good := `[{"name":"acme","issuer":"https://id.example.com","client_id":"c"}]`
	if _, err := sso.Parse(good); err != nil {
		t.Errorf("Parse(%s): %v", good, err)
	}
	for _, bad := range []string{
		`[{"name":"Acme","issuer":"https://id.example.com","client_id":"c"}]`,
		`[{"name":"a:b","issuer":"https://id.example.com","client_id":"c"}]`,
		`[{"name":"acme","issuer":"http://id.example.com","client_id":"c"}]`,
		`[{"name":"acme","issuer":"https://id.example.com"}]`,
		`[{"name":"acme","issuer":"https://id.example.com","client_id":"c","algorithms":["HS256"]}]`,
		`[{"name":"acme","issuer":"https://id.example.com","client_id":"c","typo":1}]`,
		`[{"name":"acme","issuer":"https://id.example.com","client_id":"c"},{"name":"acme","issuer":"https://id.example.com","client_id":"d"}]`,
		`[{"name":"acme","issuer":"https://id.example.com","client_id":"c","client_redirect_uris":["javascript:alert(1)"]}]`,
		`[{"name":"acme","issuer":"https://id.example.com","client_id":"c","client_redirect_uris":["DATA:text/html,x"]}]`,
		`[{"name":"acme","issuer":"https://id.example.com","client_id":"c","client_redirect_uris":["file:///tmp/x"]}]`,
	} {
		if _, err := sso.Parse(bad); err == nil {
			t.Errorf("Parse(%s) accepted it", bad)
		}
	}
}

func wantRejected(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, auth.ErrExternalTokenRejected) {
		t.Errorf("%s: %v, want ErrExternalTokenRejected", what, err)
	}
}
