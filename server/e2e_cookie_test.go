package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/authgraph/authgraph/internal/token"
)

// COOKIE mode and the token transports end to end.

const thirtyDays = 30 * 24 * 3600

// setCookie answers the Set-Cookie of the answer for name, parsed and as sent; nil if none.
func setCookie(t *testing.T, r *gqlResponse, name string) (*http.Cookie, string) {
	t.Helper()
	for _, line := range r.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("unparsable Set-Cookie %q: %v", line, err)
		}
		if c.Name == name {
			return c, line
		}
	}
	return nil, ""
}

// wantTokenCookie checks the attributes of a cookie that carries a token for maxAge seconds.
func wantTokenCookie(t *testing.T, r *gqlResponse, name string, maxAge int, secure bool) string {
	t.Helper()
	c, line := setCookie(t, r, name)
	if c == nil {
		t.Fatalf("no Set-Cookie %s in %v", name, r.Header.Values("Set-Cookie"))
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="} {
		if !strings.Contains(line, attr) {
			t.Errorf("Set-Cookie %q lacks %s", line, attr)
		}
	}
	if c.MaxAge < maxAge-5 || c.MaxAge > maxAge {
		t.Errorf("Set-Cookie %q: Max-Age %d, want about %d", line, c.MaxAge, maxAge)
	}
	if c.Secure != secure || strings.Contains(line, "Secure") != secure {
		t.Errorf("Set-Cookie %q: Secure %v, want %v", line, c.Secure, secure)
	}
	if c.Domain != "" {
		t.Errorf("Set-Cookie %q names a Domain", line)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("an answer that sets a token cookie may be cached: Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	return c.Value
}

func wantCleared(t *testing.T, r *gqlResponse, name string) {
	t.Helper()
	if _, line := setCookie(t, r, name); !strings.Contains(line, "Max-Age=0") || !strings.Contains(line, "Path=/") {
		t.Errorf("cookie %s not cleared: %v", name, r.Header.Values("Set-Cookie"))
	}
}

func gqlBody(query string, vars map[string]any) string {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return string(b)
}

// postCookie POSTs JSON with only a cookie as credential (plus headers).
func (s *testServer) postCookie(t *testing.T, cookie, query string, vars map[string]any, headers ...string) *gqlResponse {
	t.Helper()
	return s.raw(t, "POST", "/graphql", gqlBody(query, vars), append([]string{"Content-Type", "application/json", "Cookie", cookie}, headers...)...)
}

func TestCookieModeRedis(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	secrets := runCookieFlow(t, srv)
	assertNoSecretInRedis(t, rs.Client, rs.Prefix, secrets)
	assertNoSecretIn(t, "the server log", srv.logs.String(), secrets)
}

func TestCookieModeEmbeddedStore(t *testing.T) {
	srv := startServer(t, nil)
	secrets := runCookieFlow(t, srv)
	assertNoSecretIn(t, "the server log", srv.logs.String(), secrets)
}

// A refresh made with the HttpOnly refresh cookie answers in COOKIE mode only. Any script on
// the page can send refreshSession with the cookie (the browser adds it); were JSON allowed,
// the script would read the refresh token the cookie keeps from it. The refusal comes before
// the refresh, so nothing is rotated, and no answer to a cookie refresh (refused, failed or
// replayed within the grace window) carries a refresh token.
func TestCookieRefreshAnswersInCookieModeOnlyRedis(t *testing.T) {
	// A grace window far longer than the test: the replay below is inside it, whatever the pace.
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_REFRESH_GRACE": "10m"})
	r := srv.post(t, "", loginRefreshable, map[string]any{"u": adminName, "p": adminPass, "m": "COOKIE"})
	first := wantTokenCookie(t, r, "authgraph_refresh", thirtyDays, false)
	secrets := []string{adminPass, r.str(t, "createSessionUsingUsername.token"), first}
	cookie := "authgraph_refresh=" + first
	const q = `mutation($r: String, $m: TokenMode) { refreshSession(input: {refreshToken: $r, mode: $m}) { token refreshToken refreshTokenExpiresAt } }`

	noRefreshToken := func(what string, r *gqlResponse) {
		t.Helper()
		if strings.Contains(r.Raw, "agr_") || r.field("refreshSession.refreshToken") != nil {
			t.Fatalf("%s: a refresh token in the body: %s", what, r.Raw)
		}
	}
	refused := func(what string, r *gqlResponse) {
		t.Helper()
		wantGQLCode(t, what, r, "BAD_USER_INPUT")
		noRefreshToken(what, r)
		if strings.Contains(r.Raw, "ags_") || !strings.Contains(r.Errors[0].Message, "COOKIE mode") {
			t.Fatalf("%s: %s", what, r.Raw)
		}
		if c := r.Header.Values("Set-Cookie"); len(c) != 0 {
			t.Fatalf("%s: the refusal touched the cookies: %v", what, c)
		}
	}
	refused("mode: JSON", srv.postCookie(t, cookie, `mutation { refreshSession(input: {mode: JSON}) { token refreshToken } }`, nil))
	refused("mode: JSON in a variable", srv.postCookie(t, cookie, q, map[string]any{"m": "JSON"}))
	refused("an empty refreshToken (the cookie, then) and mode: JSON", srv.postCookie(t, cookie, q, map[string]any{"r": "", "m": "JSON"}))
	refused("mode: JSON with X-Requested-With", srv.postCookie(t, cookie, q, map[string]any{"m": "JSON"}, "X-Requested-With", "XMLHttpRequest"))

	// Nothing was rotated by the refusals: the cookie's token refreshes, into the cookie.
	r = srv.postCookie(t, cookie, q, nil)
	noRefreshToken("a cookie refresh", r)
	access := r.str(t, "refreshSession.token")
	if r.field("refreshSession.refreshTokenExpiresAt") == nil {
		t.Fatalf("a cookie refresh: %s", r.Raw)
	}
	next := wantTokenCookie(t, r, "authgraph_refresh", thirtyDays, false)
	if next == first {
		t.Fatal("the refresh cookie was not rotated")
	}
	secrets = append(secrets, access, next)

	// Another tab sends the old cookie within the grace window: the same pair, the refresh
	// token again in the cookie only; JSON is refused there too.
	refused("mode: JSON within the grace window", srv.postCookie(t, cookie, q, map[string]any{"m": "JSON"}))
	r = srv.postCookie(t, cookie, q, map[string]any{"m": "COOKIE"})
	noRefreshToken("a replay within the grace window", r)
	if got := wantTokenCookie(t, r, "authgraph_refresh", thirtyDays, false); got != next || r.str(t, "refreshSession.token") != access {
		t.Fatalf("the replay within the grace window did not answer the same pair: %s", r.Raw)
	}

	// A dead cookie fails with no token in the body, and is cleared.
	dead, _ := token.New(token.Refresh)
	r = srv.postCookie(t, "authgraph_refresh="+dead, q, nil)
	if r.code() != "INVALID_CREDENTIALS" || strings.Contains(r.Raw, "agr_") || strings.Contains(r.Raw, "ags_") {
		t.Fatalf("a dead refresh cookie: %s", r.Raw)
	}
	wantCleared(t, r, "authgraph_refresh")

	// A refresh token given in the input is the client's already: JSON stays allowed, and a
	// cookie sent along is neither used nor touched.
	own, _ := srv.loginRefreshable(t, adminName, adminPass)
	r = srv.postCookie(t, "authgraph_refresh="+next, q, map[string]any{"r": own.refresh, "m": "JSON"})
	mine := r.pair(t, "refreshSession")
	if mine.refresh == next || mine.refresh == own.refresh {
		t.Fatalf("a refresh with the token in the input: %s", r.Raw)
	}
	if c := r.Header.Values("Set-Cookie"); len(c) != 0 {
		t.Fatalf("a refresh with the token in the input touched the cookies: %v", c)
	}
	secrets = append(secrets, own.access, own.refresh, mine.access, mine.refresh)
	r = srv.postCookie(t, "authgraph_refresh="+next, q, nil)
	noRefreshToken("the cookie after a refresh with another token", r)
	secrets = append(secrets, r.str(t, "refreshSession.token"), wantTokenCookie(t, r, "authgraph_refresh", thirtyDays, false))

	assertNoSecretInRedis(t, rs.Client, rs.Prefix, secrets)
	assertNoSecretIn(t, "the server log", srv.logs.String(), secrets)
}

func runCookieFlow(t *testing.T, srv *testServer) []string {
	secrets := []string{adminPass}
	const login = `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p, mode: COOKIE}) { id token expiresIn refreshable } }`

	// A plain session in COOKIE mode: the token is in the cookie, not in the JSON.
	r := srv.post(t, "", login, map[string]any{"u": adminName, "p": adminPass})
	if r.code() != "" || r.field("createSessionUsingUsername.token") != nil || !strings.Contains(r.Raw, `"token":null`) {
		t.Fatalf("COOKIE login: the token is in the JSON: %s", r.Raw)
	}
	tok := wantTokenCookie(t, r, "authgraph_session", thirtyDays, false)
	if token.Check(token.Session, tok) != nil {
		t.Fatal("the session cookie does not hold a session token")
	}
	secrets = append(secrets, tok)
	cookie := "authgraph_session=" + tok

	// Honoured: POST application/json, and any request with X-Requested-With.
	if r := srv.postCookie(t, cookie, `{ me { username } }`, nil); r.str(t, "me.username") != adminName {
		t.Fatalf("cookie POST application/json: %d %s", r.Status, r.Raw)
	}
	me := "/graphql?query=" + url.QueryEscape("{ me { username } }")
	if r := srv.raw(t, "GET", me, "", "Cookie", cookie, "X-Requested-With", "XMLHttpRequest"); r.str(t, "me.username") != adminName {
		t.Fatalf("cookie GET with X-Requested-With: %d %s", r.Status, r.Raw)
	}
	// Not honoured (CSRF): a GET without X-Requested-With runs as if there were no cookie.
	if r := srv.raw(t, "GET", me, "", "Cookie", cookie); r.Status != http.StatusOK || r.code() != "UNAUTHENTICATED" {
		t.Fatalf("cookie GET without X-Requested-With: %d %s", r.Status, r.Raw)
	}
	if !strings.Contains(srv.logs.String(), `"auth":"cookie_ignored"`) {
		t.Error("the ignored cookie is not in the request log")
	}
	// A cookie-only mutation via GET is refused, with or without X-Requested-With.
	logout := "/graphql?query=" + url.QueryEscape("mutation { deleteSession { id } }")
	for _, h := range [][]string{{"Cookie", cookie}, {"Cookie", cookie, "X-Requested-With", "XMLHttpRequest"}} {
		if r := srv.raw(t, "GET", logout, "", h...); r.Status == http.StatusOK || len(r.Errors) == 0 {
			t.Fatalf("a mutation via GET: %d %s", r.Status, r.Raw)
		}
	}
	// A cookie-only POST that a form could send (text/plain, no X-Requested-With) is not
	// honoured: the cookie is ignored, and GraphQL refuses the body type anyway.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded"} {
		r := srv.raw(t, "POST", "/graphql", `{"query":"mutation { deleteSession { id } }"}`, "Content-Type", ct, "Cookie", cookie)
		if r.Status < 400 || r.Status >= 500 || r.field("deleteSession") != nil {
			t.Fatalf("a %s cookie POST: %d %s", ct, r.Status, r.Raw)
		}
	}
	if r := srv.postCookie(t, cookie, `{ me { username } }`, nil); r.Status != http.StatusOK || r.code() != "" {
		t.Fatalf("the session ended through a refused request: %d %s", r.Status, r.Raw)
	}

	// Logout clears the cookies; the dead cookie then gets a 401 that clears it again.
	r = srv.postCookie(t, cookie, `mutation { deleteSession { id } }`, nil)
	if r.code() != "" {
		t.Fatalf("cookie logout: %s", r.Raw)
	}
	wantCleared(t, r, "authgraph_session")
	wantCleared(t, r, "authgraph_refresh")
	r = srv.postCookie(t, cookie, `{ version }`, nil)
	if r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
		t.Fatalf("a logged-out cookie: %d %s", r.Status, r.Raw)
	}
	wantCleared(t, r, "authgraph_session")

	// A refreshable session in COOKIE mode: the access token in the JSON, the refresh token
	// in the refresh cookie only.
	r = srv.post(t, "", loginRefreshable, map[string]any{"u": adminName, "p": adminPass, "m": "COOKIE"})
	access := r.str(t, "createSessionUsingUsername.token")
	if r.field("createSessionUsingUsername.refreshToken") != nil || r.field("createSessionUsingUsername.refreshTokenExpiresAt") == nil {
		t.Fatalf("refreshable COOKIE login: %s", r.Raw)
	}
	if c, _ := setCookie(t, r, "authgraph_session"); c != nil {
		t.Fatal("a refreshable COOKIE login set the session cookie")
	}
	refresh := wantTokenCookie(t, r, "authgraph_refresh", thirtyDays, false)
	if token.Check(token.Refresh, refresh) != nil {
		t.Fatal("the refresh cookie does not hold a refresh token")
	}
	secrets = append(secrets, access, refresh)

	// refreshSession with no argument reads the cookie, and puts the successor back in it.
	r = srv.postCookie(t, "authgraph_refresh="+refresh, `mutation { refreshSession { token refreshToken expiresIn } }`, nil)
	access2 := r.str(t, "refreshSession.token")
	if r.field("refreshSession.refreshToken") != nil || access2 == access {
		t.Fatalf("cookie refresh: %s", r.Raw)
	}
	refresh2 := wantTokenCookie(t, r, "authgraph_refresh", thirtyDays, false)
	if refresh2 == refresh {
		t.Fatal("the refresh cookie was not rotated")
	}
	secrets = append(secrets, access2, refresh2)
	// Not over GET, even with X-Requested-With.
	q := "/graphql?query=" + url.QueryEscape("mutation { refreshSession { token } }")
	if r := srv.raw(t, "GET", q, "", "Cookie", "authgraph_refresh="+refresh2, "X-Requested-With", "x"); r.Status == http.StatusOK {
		t.Fatalf("a refresh via GET: %d %s", r.Status, r.Raw)
	}
	// Asking for JSON with the cookie is refused: the refresh token stays where scripts cannot
	// read it (TestCookieRefreshAnswersInCookieModeOnlyRedis has the details).
	r = srv.postCookie(t, "authgraph_refresh="+refresh2, `mutation { refreshSession(input: {mode: JSON}) { token refreshToken } }`, nil)
	if r.code() != "BAD_USER_INPUT" || strings.Contains(r.Raw, "agr_") {
		t.Fatalf("a cookie refresh asking for JSON: %s", r.Raw)
	}
	r = srv.postCookie(t, "authgraph_refresh="+refresh2, `mutation { refreshSession(input: {mode: COOKIE}) { token refreshToken } }`, nil)
	p3 := pair{access: r.str(t, "refreshSession.token"), refresh: wantTokenCookie(t, r, "authgraph_refresh", thirtyDays, false)}
	secrets = append(secrets, p3.access, p3.refresh)
	// A dead refresh cookie answers INVALID_CREDENTIALS and is cleared.
	unknown, _ := token.New(token.Refresh)
	r = srv.postCookie(t, "authgraph_refresh="+unknown, `mutation { refreshSession { token } }`, nil)
	if r.Status != http.StatusOK || r.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("an unknown refresh cookie: %d %s", r.Status, r.Raw)
	}
	wantCleared(t, r, "authgraph_refresh")
	// Logging out with the access token clears the refresh cookie and ends the family.
	r = srv.post(t, p3.access, `mutation { deleteSession { id } }`, nil)
	wantCleared(t, r, "authgraph_refresh")
	if r := srv.refresh(t, p3.refresh); r.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("the refresh token after logout: %s", r.Raw)
	}
	return secrets
}

// With AUTHGRAPH_COOKIE_SECURE (TLS ends at a proxy in front), cookies are Secure and named
// __Host-, and only that name is read.
func TestSecureCookies(t *testing.T) {
	srv := startServer(t, map[string]string{"AUTHGRAPH_COOKIE_SECURE": "true"})
	r := srv.post(t, "", `mutation { createSessionUsingUsername(input: {username: "`+adminName+`", password: "`+adminPass+`", mode: COOKIE}) { token } }`, nil)
	tok := wantTokenCookie(t, r, "__Host-authgraph_session", thirtyDays, true)
	if c, _ := setCookie(t, r, "authgraph_session"); c != nil {
		t.Fatal("an unprefixed cookie was set too")
	}
	if r := srv.postCookie(t, "__Host-authgraph_session="+tok, `{ me { username } }`, nil); r.str(t, "me.username") != adminName {
		t.Fatalf("the __Host- cookie: %s", r.Raw)
	}
	if r := srv.postCookie(t, "authgraph_session="+tok, `{ me { username } }`, nil); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("an unprefixed cookie was read: %s", r.Raw)
	}
	r = srv.post(t, "", loginRefreshable, map[string]any{"u": adminName, "p": adminPass, "m": "COOKIE"})
	refresh := wantTokenCookie(t, r, "__Host-authgraph_refresh", thirtyDays, true)
	r = srv.postCookie(t, "__Host-authgraph_refresh="+refresh, `mutation { refreshSession { token } }`, nil)
	wantTokenCookie(t, r, "__Host-authgraph_refresh", thirtyDays, true)
	r = srv.post(t, r.str(t, "refreshSession.token"), `mutation { deleteSession { id } }`, nil)
	wantCleared(t, r, "__Host-authgraph_refresh")
	wantCleared(t, r, "__Host-authgraph_session")
}

func TestQueryTokenIsRefusedByDefault(t *testing.T) {
	srv := startServer(t, nil)
	tok := srv.login(t, adminName, adminPass)
	for _, method := range []string{"GET", "POST"} {
		target := "/graphql?access_token=" + tok
		body := ""
		if method == "GET" {
			target += "&query=" + url.QueryEscape("{ me { username } }")
		} else {
			body = `{"query":"{ me { username } }"}`
		}
		r := srv.raw(t, method, target, body, "Content-Type", "application/json")
		if r.Status != http.StatusBadRequest || r.code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "access_token") {
			t.Fatalf("%s with ?access_token= while it is off: %d %s", method, r.Status, r.Raw)
		}
	}
	assertNoSecretIn(t, "the server log", srv.logs.String(), []string{tok})
}

func TestQueryTokenWhenAllowed(t *testing.T) {
	srv := startServer(t, map[string]string{"AUTHGRAPH_ALLOW_QUERY_TOKEN": "true"})
	tok := srv.login(t, adminName, adminPass)
	me := "/graphql?query=" + url.QueryEscape("{ me { username } }") + "&access_token="
	if r := srv.raw(t, "GET", me+tok, ""); r.Status != http.StatusOK || r.str(t, "me.username") != adminName {
		t.Fatalf("GET with ?access_token=: %d %s", r.Status, r.Raw)
	}
	if r := srv.raw(t, "POST", "/graphql?access_token="+tok, `{"query":"{ me { username } }"}`, "Content-Type", "application/json"); r.str(t, "me.username") != adminName {
		t.Fatalf("POST with ?access_token=: %d %s", r.Status, r.Raw)
	}
	// Its last character changed to one it is not (a token ends in "x" one time in 62).
	bad := tok[:len(tok)-1] + map[bool]string{true: "y", false: "x"}[strings.HasSuffix(tok, "x")]
	if r := srv.raw(t, "GET", me+bad, ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("an invalid ?access_token=: %d %s", r.Status, r.Raw)
	}
	if r := srv.raw(t, "GET", me+tok+"&access_token="+bad, ""); r.Status != http.StatusBadRequest {
		t.Fatalf("two different ?access_token=: %d %s", r.Status, r.Raw)
	}
	logs := srv.logs.String()
	if !strings.Contains(logs, `"path":"/graphql"`) {
		t.Fatal("no request was logged: the check below would prove nothing")
	}
	assertNoSecretIn(t, "the server log", logs, []string{tok, bad, tok[4:]})
}

// Two transports with different tokens: 400 (RFC 6750 §2), whichever the two are.
func TestTwoTransportsWithDifferentTokens(t *testing.T) {
	srv := startServer(t, map[string]string{"AUTHGRAPH_ALLOW_QUERY_TOKEN": "true"})
	a := srv.login(t, adminName, adminPass)
	b := srv.login(t, adminName, adminPass)
	ct := []string{"Content-Type", "application/json"}
	body := `{"query":"{ version }"}`
	tests := []struct {
		name, target string
		headers      []string
		want         int
	}{
		{"header and cookie", "/graphql", []string{"x-auth-token", a, "Cookie", "authgraph_session=" + b}, 400},
		{"bearer and cookie", "/graphql", []string{"Authorization", "Bearer " + a, "Cookie", "authgraph_session=" + b}, 400},
		{"header and query", "/graphql?access_token=" + b, []string{"x-auth-token", a}, 400},
		{"bearer and query", "/graphql?access_token=" + b, []string{"Authorization", "Bearer " + a}, 400},
		{"cookie and query", "/graphql?access_token=" + b, []string{"Cookie", "authgraph_session=" + a}, 400},
		{"header and bearer", "/graphql", []string{"x-auth-token", a, "Authorization", "Bearer " + b}, 400},
		{"the same token everywhere", "/graphql?access_token=" + a, []string{"x-auth-token", a, "Authorization", "Bearer " + a, "Cookie", "authgraph_session=" + a}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.raw(t, "POST", tt.target, body, append(append([]string{}, ct...), tt.headers...)...)
			if r.Status != tt.want || (tt.want == 400 && r.code() != "BAD_USER_INPUT") {
				t.Fatalf("%d %s, want %s", r.Status, r.Raw, strconv.Itoa(tt.want))
			}
		})
	}
}
