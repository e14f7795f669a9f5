package httpapi

import (
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/authgraph/authgraph/graph"
	"github.com/authgraph/authgraph/internal/reqtoken"
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
	queryTokenParam = reqtoken.QueryParam
)

// tokenSource says where the request's token came from.
type tokenSource = reqtoken.Source

const (
	fromHeader = reqtoken.FromHeader
	fromCookie = reqtoken.FromCookie
	fromQuery  = reqtoken.FromQuery
)

// credential is the request's access token and where it came from.
type credential struct {
	token  string
	source tokenSource
	apiKey string // a service key's secret (x-api-key); never with token
}

func (o transportOptions) reqtoken() reqtoken.Options {
	return reqtoken.Options{CookieSecure: o.cookieSecure, AllowQuery: o.allowQueryToken}
}

// requestCredential reads the access token from every allowed transport, and refuses a
// request whose transports disagree (internal/reqtoken, which the embeddable verifier
// shares, so that a product behind authgraph reads tokens by the same rules).
func requestCredential(r *http.Request, opts transportOptions) (credential, error) {
	c, err := reqtoken.Read(r, opts.reqtoken())
	if err != nil {
		return credential{}, err
	}
	if c.CookieIgnored {
		notes(r.Context()).outcome = "cookie_ignored"
	}
	return credential{c.Token, c.Source, c.APIKey}, nil
}

// cookiesHonoured is the CSRF rule above.
func cookiesHonoured(r *http.Request) bool { return reqtoken.CookiesHonoured(r) }

// secureCookies reports whether this request's cookies are Secure and __Host- named.
func secureCookies(r *http.Request, opts transportOptions) bool {
	return reqtoken.Secure(r, opts.reqtoken())
}

func cookieName(kind graph.CookieKind, secure bool) string {
	return reqtoken.CookieName(kind == graph.RefreshCookie, secure)
}

// readCookie answers the token in the request's cookie of kind, "" if none or if cookies are
// not honoured on this request; two cookies of that name are refused (internal/reqtoken).
func readCookie(r *http.Request, opts transportOptions, kind graph.CookieKind) (string, error) {
	v, ignored, err := reqtoken.Cookie(r, opts.reqtoken(), kind == graph.RefreshCookie)
	if ignored {
		notes(r.Context()).outcome = "cookie_ignored"
	}
	return v, err
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
