package httpapi

import (
	"errors"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/authgraph/authgraph/graph"
)

// Token transports and COOKIE mode.
//
// An access (session) token may come in x-auth-token, in Authorization: Bearer, in the
// session cookie of COOKIE mode, or — only when the operator allows it — in the access_token
// query parameter. Two transports carrying different tokens are refused with 400 (RFC 6750
// §2: which one is meant would be a guess), and so is one transport used twice (two
// x-auth-token or Authorization headers, two session or refresh cookies, two access_token
// parameters), even with equal tokens.
//
// CSRF: a cookie is sent by the browser whoever made the page that sends the request, so the
// cookies are honoured only on requests a foreign page cannot forge without CORS's consent:
// POST with Content-Type: application/json (a preflighted type), or any request carrying an
// X-Requested-With header (a custom header, preflighted too). On any other request the cookies
// are ignored, as if absent: the request runs unauthenticated (and a GET never runs a
// mutation anyway). SameSite=Lax keeps them off cross-site subrequests besides, and
// credentialed cross-origin requests are never allowed (see cors).
//
// The query parameter is off by default because URLs end up in proxy and server logs, browser
// history and Referer headers. When it is on, it is removed from the request before anything
// below this layer sees it, and the request log never prints query strings.

// transportOptions says where tokens may travel.
type transportOptions struct {
	// cookieSecure marks the cookies Secure and gives them the __Host- prefix even when the
	// request did not arrive over TLS (TLS ends at a proxy in front).
	cookieSecure bool
	// allowQueryToken accepts ?access_token=.
	allowQueryToken bool
}

const (
	sessionCookieName = "authgraph_session"
	refreshCookieName = "authgraph_refresh"
	// hostPrefix makes browsers insist on Secure, Path=/ and no Domain, so that no sibling
	// subdomain can plant or shadow the cookie.
	hostPrefix       = "__Host-"
	queryTokenParam  = "access_token"
	errQueryTokenOff = "The access_token query parameter is turned off on this server (URLs leak into logs and Referer headers); send the token in x-auth-token or Authorization: Bearer."
)

// tokenSource says where the request's token came from.
type tokenSource string

const (
	fromHeader tokenSource = "header"
	fromCookie tokenSource = "cookie"
	fromQuery  tokenSource = "query"
)

// credential is the request's access token and where it came from.
type credential struct {
	token  string
	source tokenSource
}

// requestCredential reads the access token from every allowed transport, and refuses a
// request whose transports disagree.
func requestCredential(r *http.Request, opts transportOptions) (credential, error) {
	var found []credential
	tok, err := requestToken(r) // x-auth-token and Authorization: Bearer
	if err != nil {
		return credential{}, err
	}
	if tok != "" {
		found = append(found, credential{tok, fromHeader})
	}
	cookie, err := sessionCookie(r, opts)
	if err != nil {
		return credential{}, err
	}
	// refreshSession alone reads the refresh cookie, and would take two of them as none; a
	// second one is refused here instead, like a second session cookie.
	if r.Header["Cookie"] != nil {
		if name := cookieName(graph.RefreshCookie, secureCookies(r, opts)); len(r.CookiesNamed(name)) > 1 {
			return credential{}, errRepeated(name + " cookies")
		}
	}
	if cookie != "" {
		found = append(found, credential{cookie, fromCookie})
	}
	var query url.Values
	if r.URL.RawQuery != "" { // parsing even an empty query allocates, on every request
		query = r.URL.Query()
	}
	if values, ok := query[queryTokenParam]; ok {
		if !opts.allowQueryToken {
			return credential{}, errors.New(errQueryTokenOff)
		}
		if len(values) > 1 {
			return credential{}, errRepeated(queryTokenParam + " parameters")
		}
		for _, v := range values {
			if v = strings.TrimSpace(v); v != "" {
				found = append(found, credential{v, fromQuery})
			}
		}
	}
	if len(found) == 0 {
		return credential{}, nil
	}
	for _, c := range found[1:] {
		if c.token != found[0].token {
			return credential{}, errTwoTokens
		}
	}
	// The same token in several places is fine; report the most ambient one, so that a bad
	// token in the cookie gets the cookie cleared.
	for _, c := range found {
		if c.source == fromCookie {
			return c, nil
		}
	}
	return found[0], nil
}

// cookiesHonoured is the CSRF rule above.
func cookiesHonoured(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") != "" {
		return true
	}
	if r.Method != http.MethodPost {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// secureCookies reports whether this request's cookies are Secure and __Host- named.
func secureCookies(r *http.Request, opts transportOptions) bool {
	return opts.cookieSecure || r.TLS != nil
}

func cookieName(kind graph.CookieKind, secure bool) string {
	name := sessionCookieName
	if kind == graph.RefreshCookie {
		name = refreshCookieName
	}
	if secure {
		name = hostPrefix + name
	}
	return name
}

// readCookie answers the token in the request's cookie of kind, "" if none or if cookies are
// not honoured on this request. Two cookies of that name are refused, equal or not: a browser
// sends two when another one was planted beside authgraph's (by a sibling subdomain, or for
// another path), and which one is authgraph's is a guess.
func readCookie(r *http.Request, opts transportOptions, kind graph.CookieKind) (string, error) {
	name := cookieName(kind, secureCookies(r, opts))
	cookies := r.CookiesNamed(name)
	if len(cookies) > 1 {
		return "", errRepeated(name + " cookies")
	}
	value := ""
	if len(cookies) == 1 {
		value = strings.TrimSpace(cookies[0].Value)
	}
	if value != "" && !cookiesHonoured(r) {
		notes(r.Context()).outcome = "cookie_ignored"
		return "", nil
	}
	return value, nil
}

func sessionCookie(r *http.Request, opts transportOptions) (string, error) {
	return readCookie(r, opts, graph.SessionCookie)
}

// withoutQueryToken answers r without the access_token query parameter, so that nothing
// below (GraphQL, a future logger) can see or print it.
func withoutQueryToken(r *http.Request) *http.Request {
	if r.URL.RawQuery == "" {
		return r // nothing to take out, and nothing to parse (which would allocate)
	}
	q := r.URL.Query()
	if _, ok := q[queryTokenParam]; !ok {
		return r
	}
	q.Del(queryTokenParam)
	u := *r.URL
	u.RawQuery = q.Encode()
	r2 := r.Clone(r.Context())
	r2.URL = &u
	r2.RequestURI = u.RequestURI()
	return r2
}

// cookieJar is graph.CookieJar on one request and its response.
type cookieJar struct {
	w      http.ResponseWriter
	r      *http.Request
	opts   transportOptions
	secure bool

	mu sync.Mutex // resolvers of one query run concurrently
}

var _ graph.CookieJar = (*cookieJar)(nil)

func newCookieJar(w http.ResponseWriter, r *http.Request, opts transportOptions) *cookieJar {
	return &cookieJar{w: w, r: r, opts: opts, secure: secureCookies(r, opts)}
}

// Set implements graph.CookieJar: HttpOnly (no script reads it), SameSite=Lax, Path=/,
// Max-Age the token's lifetime; Secure and __Host- named when secure.
func (j *cookieJar) Set(kind graph.CookieKind, token string, maxAge time.Duration) {
	secs := int(math.Ceil(maxAge.Seconds()))
	if secs <= 0 {
		j.Clear(kind)
		return
	}
	j.write(&http.Cookie{Name: cookieName(kind, j.secure), Value: token, MaxAge: secs})
}

// Clear implements graph.CookieJar (Max-Age=0).
func (j *cookieJar) Clear(kind graph.CookieKind) {
	j.write(&http.Cookie{Name: cookieName(kind, j.secure), MaxAge: -1})
}

// Get implements graph.CookieJar.
func (j *cookieJar) Get(kind graph.CookieKind) string {
	v, err := readCookie(j.r, j.opts, kind)
	if err != nil {
		return "" // two different refresh cookies: use neither
	}
	return v
}

func (j *cookieJar) write(c *http.Cookie) {
	c.Path, c.HttpOnly, c.Secure, c.SameSite = "/", true, j.secure, http.SameSiteLaxMode
	j.mu.Lock()
	defer j.mu.Unlock()
	http.SetCookie(j.w, c)
	j.w.Header().Set("Cache-Control", "no-store") // an answer that sets a token is never cached
}
