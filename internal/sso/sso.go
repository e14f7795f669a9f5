// Package sso runs the authorization code flow with PKCE against the providers an operator
// configures (AUTHGRAPH_SSO_PROVIDERS), for "Sign in with <provider>". Two kinds of provider
// sit behind one interface (Provider, which is the domain's auth.SSOProvider), so that the
// callback, linking and provisioning code never asks which kind it talks to:
//
//   - "oidc" (the default), an OpenID Provider: golang.org/x/oauth2 builds the authorization
//     URL (with the S256 challenge) and exchanges the code (with the verifier);
//     github.com/coreos/go-oidc discovers the provider and verifies the ID token (signature
//     against the provider's JWKS, issuer, audience = our client id, expiry, allowed
//     algorithms); this package checks the nonce.
//   - "github", plain OAuth 2.0 without OpenID Connect (GitHub and GitHub Enterprise): x/oauth2
//     again for the URL and the exchange (GitHub supports S256 PKCE), and the identity read
//     from the REST API with the access token: the numeric user id as the subject (never the
//     login, which its owner can change), and only an address GitHub marks verified as a
//     verified email. There is no ID token, so no nonce: PKCE and state bind the code.
//
// This package adds what the libraries leave to the caller: the redirect URI built from the
// server's public URL (never from a request), the allow-list of client redirect URIs (with
// the loopback rule of RFC 8252), and the sorting of errors into "refused" and "provider
// unavailable". It knows nothing of HTTP handlers, sessions or users.
package sso

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authgraph/authgraph/internal/auth"
)

// Config is one provider, as AUTHGRAPH_SSO_PROVIDERS spells it.
type Config struct {
	// Name is the provider's name in URLs (/auth/{name}/start) and in linked identities:
	// 1 to 32 of a-z, 0-9 and "-". Renaming it unlinks every identity of the provider.
	Name string `json:"name"`
	// DisplayName is what a page shows ("Sign in with …"); empty is Name.
	DisplayName string `json:"display_name,omitempty"`
	// Type is the kind of provider: TypeOIDC (empty is the same) or TypeGitHub.
	Type string `json:"type,omitempty"`
	// Issuer is an OpenID Provider's issuer URL; its discovery document is read from
	// Issuer + "/.well-known/openid-configuration". https, or http on a loopback host.
	// Only for TypeOIDC.
	Issuer string `json:"issuer,omitempty"`
	// AuthURL, TokenURL and APIURL are a TypeGitHub provider's endpoints; empty are
	// github.com's. Set them for GitHub Enterprise Server
	// (https://HOST/login/oauth/authorize, https://HOST/login/oauth/access_token,
	// https://HOST/api/v3).
	AuthURL  string `json:"auth_url,omitempty"`
	TokenURL string `json:"token_url,omitempty"`
	APIURL   string `json:"api_url,omitempty"`
	// ClientID and ClientSecret are the credentials of authgraph's client at the provider.
	// The secret may be empty for a public client (PKCE alone).
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	// Scopes asked for; empty is openid, email, profile ("openid" is always added to an
	// OpenID Provider's), or user:email for GitHub.
	Scopes []string `json:"scopes,omitempty"`
	// Algorithms the ID token may be signed with; empty is RS256 and ES256. Only for
	// TypeOIDC.
	Algorithms []string `json:"algorithms,omitempty"`
	// ClientRedirectURIs are the redirect URIs apps may use: with a code of the provider's
	// (createSessionUsingAuthorizationCode), or as the redirect of authgraph's own flow
	// (/auth/{name}/start?redirect=…). Compared exactly, except that a loopback one
	// (http://127.0.0.1/… or http://[::1]/…) matches with any port (AllowsRedirect).
	ClientRedirectURIs []string `json:"client_redirect_uris,omitempty"`
	// Account is the slug of the account whose users the provider signs in; empty is the
	// default account.
	Account string `json:"account,omitempty"`
	// LinkByVerifiedEmail lets a first sign-in link to the local user with the same
	// verified email when the provider says the email is verified. Only for a provider
	// trusted to verify every address it vouches for.
	LinkByVerifiedEmail bool `json:"link_by_verified_email,omitempty"`
	// Provision makes a user at the first sign-in of an identity linked to nobody, when the
	// account's sign-up is OPEN and the provider says the email, which no user has, is
	// verified.
	Provision bool `json:"provision,omitempty"`
}

// Parse reads AUTHGRAPH_SSO_PROVIDERS: a JSON array of Config. Unknown fields, duplicate
// names and malformed values are errors.
func Parse(text string) ([]Config, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var cfgs []Config
	if err := dec.Decode(&cfgs); err != nil {
		return nil, fmt.Errorf("not a JSON array of providers: %w", err)
	}
	seen := map[string]bool{}
	for i, c := range cfgs {
		if err := c.check(); err != nil {
			return nil, fmt.Errorf("providers[%d] (%q): %w", i, c.Name, err)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("providers[%d]: name %q is used twice", i, c.Name)
		}
		seen[c.Name] = true
	}
	return cfgs, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

var allowedAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

// The kinds of provider.
const (
	TypeOIDC   = "oidc"
	TypeGitHub = "github"
)

func (c Config) check() error {
	if !nameRE.MatchString(c.Name) {
		return errors.New("name: 1 to 32 of a-z, 0-9 and -")
	}
	if c.ClientID == "" {
		return errors.New("client_id: required")
	}
	switch c.Type {
	case "", TypeOIDC:
		if err := checkURL(c.Issuer); err != nil {
			return fmt.Errorf("issuer: %w", err)
		}
		for _, a := range c.Algorithms {
			if !slices.Contains(allowedAlgs, a) {
				return fmt.Errorf("algorithms: %q is not an asymmetric JWS algorithm", a)
			}
		}
		if c.AuthURL != "" || c.TokenURL != "" || c.APIURL != "" {
			return errors.New("auth_url, token_url and api_url are for type github; an OpenID Provider's come from its discovery document")
		}
	case TypeGitHub:
		if c.Issuer != "" || len(c.Algorithms) > 0 {
			return errors.New("issuer and algorithms are for type oidc: GitHub signs no ID token")
		}
		for field, u := range map[string]string{"auth_url": c.AuthURL, "token_url": c.TokenURL, "api_url": c.APIURL} {
			if u == "" {
				continue
			}
			if err := checkURL(u); err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
		}
	default:
		return fmt.Errorf("type: %q is neither %q nor %q", c.Type, TypeOIDC, TypeGitHub)
	}
	for _, r := range c.ClientRedirectURIs {
		u, err := url.Parse(r)
		if err != nil || u.Scheme == "" || u.Fragment != "" {
			return fmt.Errorf("client_redirect_uris: %q is not an absolute URI without a fragment", r)
		}
		// A browser runs or renders these schemes instead of handing the code to an app.
		switch strings.ToLower(u.Scheme) {
		case "javascript", "data", "vbscript", "file", "blob", "about":
			return fmt.Errorf("client_redirect_uris: %q: the %s scheme cannot receive a code", r, u.Scheme)
		}
	}
	return nil
}

// checkURL requires https, or http on a loopback host (tests run providers in-process).
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || u.RawQuery != "" {
		return fmt.Errorf("%q is not an absolute URL without credentials, query or fragment", raw)
	}
	if u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil
	}
	return fmt.Errorf("%q must use https (http only on a loopback host)", raw)
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// Provider is a configured provider of either kind: the domain's auth.SSOProvider, plus what
// the server logs at start.
type Provider interface {
	auth.SSOProvider
	// Config answers the provider's configuration, defaults filled in.
	Config() Config
	// CallbackURL is the redirect URI of the server's own flow, to register at the provider.
	CallbackURL() string
}

// DefaultHTTPTimeout bounds each request to a provider: a provider that hangs costs a
// sign-in a few seconds and a SERVICE_UNAVAILABLE, never a stuck request.
const DefaultHTTPTimeout = 5 * time.Second

// New makes the provider of cfg, whose callback is publicURL + "/auth/<name>/callback".
// client nil is a client with DefaultHTTPTimeout; now nil is time.Now. It does no network
// I/O: a provider that is down does not stop the server from starting.
func New(cfg Config, publicURL string, client *http.Client, now func() time.Time) (Provider, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if _, err := url.Parse(publicURL); err != nil || publicURL == "" {
		return nil, fmt.Errorf("public URL %q: not a URL", publicURL)
	}
	if client == nil {
		client = &http.Client{Timeout: DefaultHTTPTimeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return checkURL(req.URL.Scheme + "://" + req.URL.Host) // never downgraded to http
		}}
	}
	if now == nil {
		now = time.Now
	}
	callback := strings.TrimSuffix(publicURL, "/") + "/auth/" + cfg.Name + "/callback"
	if cfg.Type == TypeGitHub {
		return newGitHub(cfg, callback, client), nil
	}
	cfg.Type = TypeOIDC
	return newOIDC(cfg, callback, client, now), nil
}

// allowsRedirect reports whether redirectURI is one of allowed: the same string, or (RFC
// 8252 section 7.3) a loopback redirect, http://127.0.0.1:PORT/path or http://[::1]:PORT/path,
// whose listed URI differs only in its port (and in which of the two loopback addresses it
// names: an app falls back to IPv6 where IPv4 is missing, and both are the device itself).
// A native app listens on a port the system picks at each run, so no port can be listed. "localhost" is never taken for loopback (section
// 8.3): a name can resolve elsewhere, and a listener on it may be another program's.
func allowsRedirect(allowed []string, redirectURI string) bool {
	if redirectURI == "" {
		return false
	}
	if slices.Contains(allowed, redirectURI) {
		return true
	}
	want, ok := loopbackWithoutPort(redirectURI)
	if !ok {
		return false
	}
	for _, a := range allowed {
		if l, ok := loopbackWithoutPort(a); ok && l == want {
			return true
		}
	}
	return false
}

// loopbackWithoutPort answers an http URI on the IP literal 127.0.0.1 or [::1] with its port
// taken out and its host made one, and whether it is one. User info and fragments never
// match. Only the URI's one canonical spelling is one: the port in decimal without leading
// zeros (or none, without its ":"), a lowercase scheme, nothing the parser drops (an empty
// fragment). Otherwise "http://127.0.0.1:000…049152/callback" would pass with as many zeros
// as a request line holds, and an anonymous client could have kilobytes stored per flow and
// per code; and the string checked here is the one stored, traded and sent to the browser.
func loopbackWithoutPort(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.Opaque != "" || u.String() != raw {
		return "", false
	}
	host := u.Hostname()
	if host != "127.0.0.1" && host != "::1" {
		return "", false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
			return "", false
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", false
	}
	u.Host = "loopback"
	return u.String(), true
}

// redactErr drops the URL's query from a transport error, and the body from a token
// endpoint's error answer (oauth2.RetrieveError prints it whole: a gateway's error page may
// echo the request, client secret, code and verifier included), so no code or secret is
// logged. What is left: the status and the OAuth error code.
func redactErr(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := "no answer"
		if re.Response != nil {
			status = re.Response.Status
		}
		return fmt.Errorf("token endpoint answered %s (error %q)", clip(status), clip(re.ErrorCode))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			return fmt.Errorf("%s %s: %w", ue.Op, u.Redacted(), ue.Err)
		}
	}
	return err
}
