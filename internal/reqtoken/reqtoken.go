// Package reqtoken reads the session token of an HTTP request: from x-auth-token, from
// Authorization (Bearer, or a bare session token), from the session cookie of COOKIE mode,
// and, only when allowed, from the access_token query parameter. authgraph's own HTTP layer
// and the embeddable verifier (package verify) both read credentials here, so that a product
// behind authgraph accepts exactly the requests authgraph would, with the same names and
// the same refusals.
//
// A service key's secret travels in x-api-key (APIKeyHeader), on every request, with no
// sign-in step. It is a credential of its own: a request carrying it and a session token (in
// any transport above, even the same string) is refused with ErrTwoTokens, as two different
// tokens are, and so are two x-api-key headers.
//
// Two transports carrying different tokens are refused (RFC 6750 §2: which one is meant
// would be a guess), and so is one transport used twice (two x-auth-token or Authorization
// headers, two session or refresh cookies, two access_token parameters), even with equal
// tokens: which one a proxy or a library in between would have kept is a guess too.
//
// CSRF: a cookie is sent by the browser whoever made the page that sends the request, so the
// cookies are honoured only on requests a foreign page cannot forge without CORS's consent:
// POST with Content-Type: application/json (a preflighted type), or any request carrying an
// X-Requested-With header (a custom header, preflighted too). On any other request the
// cookies are ignored, as if absent.
package reqtoken

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/authgraph/authgraph/internal/token"
)

// Cookie and parameter names.
const (
	SessionCookieName = "authgraph_session"
	RefreshCookieName = "authgraph_refresh"
	// HostPrefix makes browsers insist on Secure, Path=/ and no Domain, so that no sibling
	// subdomain can plant or shadow the cookie. Cookies carry it when they are Secure.
	HostPrefix = "__Host-"
	// QueryParam is the query parameter of the query transport.
	QueryParam = "access_token"
)

// ErrQueryTokenOff is the refusal of a request carrying access_token when the transport is
// off.
var ErrQueryTokenOff = errors.New("The access_token query parameter is turned off on this server (URLs leak into logs and Referer headers); send the token in x-auth-token or Authorization: Bearer.")

// ErrTwoTokens refuses a request whose transports carry different tokens.
var ErrTwoTokens = errors.New("The request carries two different tokens; send one.")

// errRepeated refuses a credential that comes twice in one place.
func errRepeated(what string) error {
	return errors.New("The request carries two " + what + "; send one.")
}

// Source says where a request's token came from.
type Source string

// Sources.
const (
	FromHeader Source = "header"
	FromCookie Source = "cookie"
	FromQuery  Source = "query"
	// FromAPIKey: a service key's secret, in x-api-key (Credential.APIKey).
	FromAPIKey Source = "x-api-key"
)

// APIKeyHeader carries a service key's secret.
const APIKeyHeader = "X-Api-Key"

// Options says where tokens may travel.
type Options struct {
	// CookieSecure: the cookies are Secure and __Host- named even when the request did not
	// arrive over TLS (TLS ends at a proxy in front).
	CookieSecure bool
	// AllowQuery accepts ?access_token=.
	AllowQuery bool
}

// Credential is a request's session token and where it came from.
type Credential struct {
	Token  string
	Source Source
	// CookieIgnored: a session (or refresh) cookie was there but not honoured (the CSRF rule).
	CookieIgnored bool
	// APIKey is the service key secret of x-api-key (Source FromAPIKey, Token ""): never
	// together with a session token.
	APIKey string
}

// Read reads the session token from every allowed transport, and refuses a request whose
// transports disagree or repeat. No token at all is a zero Credential and no error. The
// error's message is meant for the client: it never quotes a token.
func Read(r *http.Request, opts Options) (Credential, error) {
	var found []Credential
	tok, err := Header(r)
	if err != nil {
		return Credential{}, err
	}
	if tok != "" {
		found = append(found, Credential{Token: tok, Source: FromHeader})
	}
	cookie, ignored, err := Cookie(r, opts, false)
	if err != nil {
		return Credential{}, err
	}
	// refreshSession alone reads the refresh cookie, and would take two of them as none; a
	// second one is refused here instead, like a second session cookie.
	if r.Header["Cookie"] != nil {
		if name := CookieName(true, Secure(r, opts)); len(r.CookiesNamed(name)) > 1 {
			return Credential{}, errRepeated(name + " cookies")
		}
	}
	if cookie != "" {
		found = append(found, Credential{Token: cookie, Source: FromCookie})
	}
	var query url.Values
	if r.URL != nil && r.URL.RawQuery != "" { // parsing even an empty query allocates, on every request
		query = r.URL.Query()
	}
	if values, ok := query[QueryParam]; ok {
		if !opts.AllowQuery {
			return Credential{}, ErrQueryTokenOff
		}
		if len(values) > 1 {
			return Credential{}, errRepeated(QueryParam + " parameters")
		}
		for _, v := range values {
			if v = strings.TrimSpace(v); v != "" {
				found = append(found, Credential{Token: v, Source: FromQuery})
			}
		}
	}
	if vals := r.Header[APIKeyHeader]; vals != nil {
		if len(vals) > 1 {
			return Credential{}, errRepeated("x-api-key headers")
		}
		if key := strings.TrimSpace(vals[0]); key != "" {
			if len(found) > 0 {
				return Credential{}, ErrTwoTokens
			}
			return Credential{APIKey: key, Source: FromAPIKey, CookieIgnored: ignored}, nil
		}
	}
	if len(found) == 0 {
		return Credential{CookieIgnored: ignored}, nil
	}
	for _, c := range found[1:] {
		if c.Token != found[0].Token {
			return Credential{}, ErrTwoTokens
		}
	}
	// The same token in several places is fine; report the most ambient one, so that a bad
	// token in the cookie gets the cookie cleared.
	for _, c := range found {
		if c.Source == FromCookie {
			return c, nil
		}
	}
	found[0].CookieIgnored = ignored
	return found[0], nil
}

// Header reads the session token from x-auth-token or Authorization. Two different tokens
// in one request are refused (RFC 6750 §2), and so is a header that comes twice: Header.Get
// would read the first and ignore the other without a word.
//
// Authorization is "Bearer <token>", or a session token alone: some clients document
// sending the token with no scheme. A bare value is taken only when it is recognisably an
// authgraph session token (its prefix, length and checksum: token.Check), so that another
// scheme's credential, or a typo, is never looked up as a token; anything else in
// Authorization is refused, saying the form it must have.
func Header(r *http.Request) (string, error) {
	// Canonical header names: Get would allocate the canonical form of any other spelling.
	if len(r.Header["X-Auth-Token"]) > 1 {
		return "", errRepeated("x-auth-token headers")
	}
	if len(r.Header["Authorization"]) > 1 {
		return "", errRepeated("Authorization headers")
	}
	header := strings.TrimSpace(r.Header.Get("X-Auth-Token"))
	bearer := ""
	if a := strings.TrimSpace(r.Header.Get("Authorization")); a != "" {
		scheme, rest, ok := strings.Cut(a, " ")
		switch {
		case ok && strings.EqualFold(scheme, "Bearer"):
			bearer = strings.TrimSpace(rest)
		case token.Check(token.Session, a) == nil:
			bearer = a
		default:
			return "", errors.New("The Authorization header must be of the form: Bearer <token>.")
		}
	}
	switch {
	case header != "" && bearer != "" && header != bearer:
		return "", ErrTwoTokens
	case header != "":
		return header, nil
	}
	return bearer, nil
}

// Cookie answers the token in the request's session cookie (refresh: the refresh cookie),
// "" if none; ignored reports a cookie that is there but not honoured on this request (the
// CSRF rule), which then answers "". Two cookies of that name are refused, equal or not: a
// browser sends two when another one was planted beside authgraph's (by a sibling
// subdomain, or for another path), and which one is authgraph's is a guess.
func Cookie(r *http.Request, opts Options, refresh bool) (value string, ignored bool, err error) {
	if r.Header["Cookie"] == nil {
		return "", false, nil
	}
	name := CookieName(refresh, Secure(r, opts))
	cookies := r.CookiesNamed(name)
	if len(cookies) > 1 {
		return "", false, errRepeated(name + " cookies")
	}
	if len(cookies) == 1 {
		value = strings.TrimSpace(cookies[0].Value)
	}
	if value != "" && !CookiesHonoured(r) {
		return "", true, nil
	}
	return value, false, nil
}

// CookiesHonoured is the CSRF rule of the package doc.
func CookiesHonoured(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") != "" {
		return true
	}
	if r.Method != http.MethodPost {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// Secure reports whether this request's cookies are Secure and __Host- named.
func Secure(r *http.Request, opts Options) bool {
	return opts.CookieSecure || r.TLS != nil
}

// CookieName is the name of the session cookie (refresh: the refresh cookie), with the
// __Host- prefix when secure.
func CookieName(refresh, secure bool) string {
	name := SessionCookieName
	if refresh {
		name = RefreshCookieName
	}
	if secure {
		name = HostPrefix + name
	}
	return name
}
