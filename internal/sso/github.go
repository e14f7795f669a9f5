package sso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authgraph/authgraph/internal/auth"
)

// GitHub's endpoints on github.com; GitHub Enterprise Server has its own (Config.AuthURL,
// TokenURL, APIURL).
const (
	GitHubAuthURL  = "https://github.com/login/oauth/authorize"
	GitHubTokenURL = "https://github.com/login/oauth/access_token"
	GitHubAPIURL   = "https://api.github.com"
)

// GitHub is a provider that speaks OAuth 2.0 without OpenID Connect: the code buys an access
// token, and the identity is read from the REST API with it.
type GitHub struct {
	cfg      Config
	callback string
	client   *http.Client
	oauth    oauth2.Config
}

var _ Provider = (*GitHub)(nil)

func newGitHub(cfg Config, callback string, client *http.Client) *GitHub {
	if cfg.AuthURL == "" {
		cfg.AuthURL = GitHubAuthURL
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = GitHubTokenURL
	}
	if cfg.APIURL == "" {
		cfg.APIURL = GitHubAPIURL
	}
	cfg.APIURL = strings.TrimSuffix(cfg.APIURL, "/")
	if len(cfg.Scopes) == 0 {
		// /user needs none; /user/emails needs user:email.
		cfg.Scopes = []string{"user:email"}
	}
	// GitHub answers the token request in form encoding unless asked for JSON; both parse,
	// but JSON is what its documentation promises to keep.
	c := *client
	c.Transport = acceptJSON{tokenURL: cfg.TokenURL, next: client.Transport}
	return &GitHub{
		cfg: cfg, callback: callback, client: &c,
		oauth: oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Scopes: cfg.Scopes,
			Endpoint: oauth2.Endpoint{AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		},
	}
}

// acceptJSON asks the token endpoint for JSON.
type acceptJSON struct {
	tokenURL string
	next     http.RoundTripper
}

func (a acceptJSON) RoundTrip(r *http.Request) (*http.Response, error) {
	next := a.next
	if next == nil {
		next = http.DefaultTransport
	}
	if r.Method == http.MethodPost && r.Header.Get("Accept") == "" && strings.HasPrefix(r.URL.String(), a.tokenURL) {
		r = r.Clone(r.Context())
		r.Header.Set("Accept", "application/json")
	}
	return next.RoundTrip(r)
}

// Config implements Provider.
func (g *GitHub) Config() Config { return g.cfg }

// CallbackURL implements Provider.
func (g *GitHub) CallbackURL() string { return g.callback }

// AllowsRedirect implements auth.SSOProvider.
func (g *GitHub) AllowsRedirect(redirectURI string) bool {
	return allowsRedirect(g.cfg.ClientRedirectURIs, redirectURI)
}

// AuthURL implements auth.SSOProvider. GitHub has no ID token to carry a nonce: the nonce is
// not sent, and the flow's state and PKCE challenge bind the code to it.
func (g *GitHub) AuthURL(_ context.Context, state, _, verifier string) (string, error) {
	c := g.oauth
	c.RedirectURL = g.callback
	return c.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil
}

// Exchange implements auth.SSOProvider: the code and verifier buy an access token, which
// reads GET /user (the subject is the numeric id) and GET /user/emails (the verified email).
// The nonce is not checked: there is no ID token to carry it. The access token is used for
// these two requests only and never kept.
func (g *GitHub) Exchange(ctx context.Context, code, verifier, redirectURI, _ string) (auth.SSOIdentity, error) {
	if redirectURI == "" {
		redirectURI = g.callback
	}
	c := g.oauth
	c.RedirectURL = redirectURI
	tok, err := c.Exchange(context.WithValue(ctx, oauth2.HTTPClient, g.client), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			// GitHub answers 200 with {"error":"bad_verification_code"} for a wrong, used or
			// expired code, and for a verifier that does not match; the library makes that
			// a RetrieveError. Its text never holds the code.
			return auth.SSOIdentity{}, fmt.Errorf("%w: token endpoint refused the code: %s", auth.ErrExternalTokenRejected, clip(re.ErrorCode))
		}
		return auth.SSOIdentity{}, fmt.Errorf("%w: token endpoint of %q: %w", auth.ErrUnavailable, g.cfg.TokenURL, redactErr(err))
	}
	var user struct {
		ID json.Number `json:"id"`
	}
	if err := g.get(ctx, tok.AccessToken, "/user", &user); err != nil {
		return auth.SSOIdentity{}, err
	}
	// The numeric id, never the login: a login can be renamed, and then taken by someone
	// else, who would inherit every link made on it.
	id, err := strconv.ParseInt(user.ID.String(), 10, 64)
	if err != nil || id <= 0 {
		return auth.SSOIdentity{}, fmt.Errorf("%w: GET /user answered no numeric id", auth.ErrExternalTokenRejected)
	}
	out := auth.SSOIdentity{Subject: strconv.FormatInt(id, 10)}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	switch err := g.get(ctx, tok.AccessToken, "/user/emails", &emails); {
	case errors.Is(err, errNoEmailAccess):
		// A token without the user:email scope (or a GitHub App without the permission):
		// no email, so nothing links by one; a linked identity still signs in.
		return out, nil
	case err != nil:
		return auth.SSOIdentity{}, err
	}
	// Only an address GitHub marks verified counts, the primary one first. The public
	// profile email of /user is whatever its owner typed, and is never used.
	for _, primaryOnly := range []bool{true, false} {
		for _, e := range emails {
			if e.Verified && e.Email != "" && (e.Primary || !primaryOnly) {
				out.Email, out.EmailVerified = e.Email, true
				return out, nil
			}
		}
	}
	// None verified: the primary address is shown, and never links or provisions.
	for _, e := range emails {
		if e.Primary {
			out.Email = e.Email
		}
	}
	return out, nil
}

var errNoEmailAccess = errors.New("github: no access to the user's emails")

// get reads path of the API with the access token into v. 401: the token is refused; 403
// or 404 on /user/emails: no access to them; a rate limit, 5xx or a network error: the
// provider is unavailable.
func (g *GitHub) get(ctx context.Context, accessToken, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.cfg.APIURL+path, nil)
	if err != nil {
		return fmt.Errorf("github: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: GET %s: %w", auth.ErrUnavailable, path, redactErr(err))
	}
	defer resp.Body.Close()
	limited := resp.StatusCode == http.StatusTooManyRequests ||
		(resp.StatusCode == http.StatusForbidden && resp.Header.Get("X-RateLimit-Remaining") == "0")
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode >= 500 || limited:
		return fmt.Errorf("%w: GET %s: %s", auth.ErrUnavailable, path, resp.Status)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: GET %s: the access token was refused", auth.ErrExternalTokenRejected, path)
	case path == "/user/emails" && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound):
		return errNoEmailAccess
	default:
		return fmt.Errorf("%w: GET %s: %s", auth.ErrExternalTokenRejected, path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("%w: GET %s: %w", auth.ErrUnavailable, path, err)
	}
	return nil
}

// clip keeps an error code from the provider printable and short for the log.
func clip(s string) string {
	b := make([]byte, 0, min(len(s), 64))
	for i := 0; i < len(s) && len(b) < 64; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}
