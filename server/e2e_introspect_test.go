package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redisstore"
	"github.com/authgraph/authgraph/internal/token"
)

// introspectSecret is the tests' AUTHGRAPH_INTROSPECT_SECRET.
const introspectSecret = "0123456789abcdef0123456789abcdef-introspection-tests"

// introspect posts token=tok to /introspect with the caller's headers.
func (s *testServer) introspect(t *testing.T, tok string, headers ...string) *gqlResponse {
	t.Helper()
	return s.raw(t, http.MethodPost, "/introspect", url.Values{"token": {tok}}.Encode(),
		append([]string{"Content-Type", "application/x-www-form-urlencoded"}, headers...)...)
}

// expiringSession writes, as authgraph's store would, a session of userID that expires in
// ttl, and answers its token.
func expiringSession(t *testing.T, st *redisstore.Store, userID int64, ttl time.Duration) string {
	t.Helper()
	tok, err := token.New(token.Session)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s := &auth.Session{UserID: userID, TokenDigest: token.Sum(tok), Method: auth.MethodPassword, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := st.CreateSession(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestIntrospection runs every kind of caller against every kind of token, through the real
// server on Redis: only the secret and an admin's session may ask; every token that is not
// active gets the same bytes; nothing is written to the introspected session; no token or
// secret reaches the log; the address limit answers 429.
func TestIntrospection(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{
		"AUTHGRAPH_INTROSPECT_SECRET": introspectSecret,
		"AUTHGRAPH_TRUSTED_PROXIES":   "127.0.0.1",
		"AUTHGRAPH_RATE_LIMITS":       "introspect:ip=200/1m/200",
	})
	st := redisstore.New(rs.Client, redisstore.Options{Prefix: rs.Prefix, Clock: clock.Real{}})
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "member", "member-password-1")
	member := srv.login(t, "member", "member-password-1")
	subjectUser := srv.createUser(t, admin, "subject", "subject-password-1")
	valid := srv.login(t, "subject", "subject-password-1")
	revoked := srv.login(t, "subject", "subject-password-1")
	if r := srv.post(t, revoked, `mutation { deleteSession { id } }`, nil); r.code() != "" {
		t.Fatal(r.Raw)
	}
	subjectID, _ := strconvID(t, srv.rawUserID(t, valid))
	expired := expiringSession(t, st, subjectID, 300*time.Millisecond)
	unknown, _ := token.New(token.Session)
	time.Sleep(400 * time.Millisecond)
	before, err := st.SessionByDigest(t.Context(), token.Sum(valid))
	if err != nil {
		t.Fatal(err)
	}

	tokens := []struct{ name, tok string }{
		{"valid", valid}, {"unknown", unknown}, {"expired", expired}, {"revoked", revoked}, {"malformed", "not-a-token"},
	}
	callers := []struct {
		name    string
		headers []string
		status  int
	}{
		{"no auth", nil, 401},
		{"wrong secret", []string{"Authorization", "Bearer " + strings.ToUpper(introspectSecret)}, 401},
		{"short secret", []string{"Authorization", "Bearer " + introspectSecret[:31]}, 401},
		{"secret not as Bearer", []string{"Authorization", introspectSecret}, 401},
		{"right secret", []string{"Authorization", "Bearer " + introspectSecret}, 200},
		{"admin session", []string{"x-auth-token", admin}, 200},
		{"non-admin session", []string{"x-auth-token", member}, 403},
	}
	var inactive []string
	for _, c := range callers {
		for _, tk := range tokens {
			t.Run(c.name+"/"+tk.name, func(t *testing.T) {
				r := srv.introspect(t, tk.tok, c.headers...)
				if r.Status != c.status {
					t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Raw)
				}
				if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control %q", cc)
				}
				switch {
				case c.status == 401:
					if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") || r.code() != "UNAUTHENTICATED" {
						t.Errorf("401 without its challenge or code: %v %s", r.Header, r.Raw)
					}
				case c.status == 403:
					if !strings.Contains(r.Header.Get("WWW-Authenticate"), "insufficient_scope") || r.code() != "FORBIDDEN" {
						t.Errorf("403: %v %s", r.Header, r.Raw)
					}
				case tk.name == "valid":
					var a map[string]any
					if err := json.Unmarshal([]byte(r.Raw), &a); err != nil {
						t.Fatal(err)
					}
					if a["active"] != true || a["sub"] != a["user_id"] || a["username"] != "subject" || a["token_type"] != "session" ||
						a["scope"] != "read keys:write sessions:write account:write" || a["role"] != "MEMBER" || a["auth_method"] != "PASSWORD" {
						t.Errorf("active answer: %s", r.Raw)
					}
					if a["sub"] != subjectUser {
						t.Errorf("sub %v, want the user's global id %s", a["sub"], subjectUser)
					}
					exp, _ := a["exp"].(float64)
					iat, _ := a["iat"].(float64)
					if time.Unix(int64(exp), 0).Before(time.Now()) || time.Unix(int64(iat), 0).After(time.Now()) {
						t.Errorf("exp %v, iat %v", exp, iat)
					}
					if _, ok := a["client_id"]; ok {
						t.Errorf("a sign-in session has no client_id: %s", r.Raw)
					}
				default:
					inactive = append(inactive, r.Raw)
					if r.Raw != "{\"active\":false}\n" {
						t.Errorf("inactive answer %q", r.Raw)
					}
				}
			})
		}
	}
	if len(inactive) != 8 {
		t.Errorf("%d inactive answers, want 8", len(inactive))
	}

	// The JSON form.
	body, _ := json.Marshal(map[string]string{"token": valid})
	r := srv.raw(t, http.MethodPost, "/introspect", string(body), "Content-Type", "application/json", "Authorization", "Bearer "+introspectSecret)
	if r.Status != 200 || !strings.HasPrefix(r.Raw, `{"active":true,`) {
		t.Errorf("JSON body: %d %s", r.Status, r.Raw)
	}
	// Only POST; a request without a token, or with two, is a bad request.
	if r := srv.raw(t, http.MethodGet, "/introspect?token="+valid, "", "Authorization", "Bearer "+introspectSecret); r.Status != 405 || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d %v", r.Status, r.Header)
	}
	if r := srv.raw(t, http.MethodPost, "/introspect", "token=a&token=b", "Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer "+introspectSecret); r.Status != 400 {
		t.Errorf("two tokens: %d %s", r.Status, r.Raw)
	}
	if r := srv.raw(t, http.MethodPost, "/introspect", "token="+strings.Repeat("a", 8<<10), "Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer "+introspectSecret); r.Status != 413 {
		t.Errorf("a large body: %d %s", r.Status, r.Raw)
	}

	// The auth_request variant: the proxy's secret in its own header, the user's token in
	// the user's headers; 204 with the principal, 401, or 403 for a proxy without the secret.
	ar := func(headers ...string) *gqlResponse {
		return srv.raw(t, http.MethodGet, "/introspect/auth_request", "", headers...)
	}
	if r := ar("x-auth-token", valid); r.Status != 403 {
		t.Errorf("auth_request without the secret: %d", r.Status)
	}
	if r := ar("x-auth-token", valid, "X-Authgraph-Introspect-Secret", introspectSecret+"x"); r.Status != 403 {
		t.Errorf("auth_request with a wrong secret: %d", r.Status)
	}
	if r := ar("Authorization", "Bearer "+valid, "X-Authgraph-Introspect-Secret", introspectSecret); r.Status != 204 ||
		r.Header.Get("X-Authgraph-User") != subjectUser || r.Header.Get("X-Authgraph-Scopes") != "read keys:write sessions:write account:write" {
		t.Errorf("auth_request, valid: %d %v", r.Status, r.Header)
	}
	for _, tk := range tokens[1:] {
		if r := ar("x-auth-token", tk.tok, "X-Authgraph-Introspect-Secret", introspectSecret); r.Status != 401 || r.Header.Get("X-Authgraph-User") != "" {
			t.Errorf("auth_request, %s: %d %v", tk.name, r.Status, r.Header)
		}
	}
	if r := srv.raw(t, http.MethodPost, "/introspect/auth_request", "", "x-auth-token", valid, "X-Authgraph-Introspect-Secret", introspectSecret); r.Status != 405 {
		t.Errorf("auth_request, POST: %d", r.Status)
	}

	// Introspection wrote nothing to the session it read.
	after, err := st.SessionByDigest(t.Context(), token.Sum(valid))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(before.LastUsedAt) != fmt.Sprint(after.LastUsedAt) {
		t.Errorf("lastUsedAt moved from %v to %v", before.LastUsedAt, after.LastUsedAt)
	}

	// One address past introspect:ip is refused with 429, whoever it claims to be.
	limited := 0
	for range 210 {
		r := srv.introspect(t, valid, "X-Forwarded-For", "198.51.100.7", "Authorization", "Bearer wrong")
		if r.Status == http.StatusTooManyRequests {
			limited++
			if r.Header.Get("Retry-After") == "" || r.code() != "RATE_LIMITED" {
				t.Fatalf("429 without Retry-After or code: %v %s", r.Header, r.Raw)
			}
		}
	}
	// 200 a minute refills about 3 a second: a slow run of 210 requests may see a few less
	// than 10 refused, never none.
	if limited == 0 {
		t.Errorf("none of 210 requests refused, past a burst of 200")
	}
	if r := srv.introspect(t, valid, "X-Forwarded-For", "198.51.100.8", "Authorization", "Bearer "+introspectSecret); r.Status != 200 {
		t.Errorf("another address is not limited: %d", r.Status)
	}

	logs := srv.logs.String()
	for _, secret := range []string{valid, revoked, expired, unknown, member, admin, introspectSecret} {
		if strings.Contains(logs, secret) {
			t.Error("the log holds a token or the secret")
		}
	}
	if !strings.Contains(logs, `"path":"/introspect"`) {
		t.Error("introspection requests are not in the request log")
	}
}

// strconvID reads a raw (integer) id.
func strconvID(t *testing.T, raw string) (int64, error) {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(raw, &n); err != nil || n <= 0 {
		t.Fatalf("raw id %q", raw)
	}
	return n, nil
}

// TestIntrospectionIsOffWithoutASecret: without AUTHGRAPH_INTROSPECT_SECRET both routes are
// unknown paths, whoever asks.
func TestIntrospectionIsOffWithoutASecret(t *testing.T) {
	srv := startServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	for _, path := range []string{"/introspect", "/introspect/auth_request"} {
		if r := srv.raw(t, http.MethodPost, path, "token=x", "Content-Type", "application/x-www-form-urlencoded", "x-auth-token", admin); r.Status != 404 {
			t.Errorf("%s: %d, want 404", path, r.Status)
		}
	}
}

// TestIntrospectSecretIsLongEnough: a short secret is refused at start, without quoting it.
func TestIntrospectSecretIsLongEnough(t *testing.T) {
	short := "only-thirty-one-bytes-of-secret"
	_, err := loadConfig(nil, func(k string) string {
		if k == "AUTHGRAPH_INTROSPECT_SECRET" {
			return short
		}
		return ""
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "at least 32 bytes") || strings.Contains(err.Error(), short) {
		t.Fatalf("got %v", err)
	}
	if _, err := loadConfig(nil, func(k string) string {
		if k == "AUTHGRAPH_INTROSPECT_SECRET" {
			return short + "!"
		}
		return ""
	}, nil); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkIntrospect measures POST /introspect of a valid token with the shared secret,
// through the real server and a real loopback listener, on Redis with the session cache
// warm: without rate limits (no Redis round trip at all), with introspect:ip counted in
// Redis (one round trip), and a service key with a rate limit instead of a session (the
// key's meter answers from its lease in process, so introspect:ip is the round trip). Client and server share the process; with -cpu 1 they share one
// core.
//
//	go test -run X -bench Introspect -cpu 1 -benchtime 2000x ./server/
func BenchmarkIntrospect(b *testing.B) {
	for _, tc := range []struct {
		name, limits string
		serviceKey   bool // introspect a service key (with a rate limit, so metered) instead
	}{
		{"limits=off", "off", false},
		{"limits=redis", "introspect:ip=100000000/1m/100000000", false},
		{"service_key", "introspect:ip=100000000/1m/100000000", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv, _ := startRedisServer(b, map[string]string{"AUTHGRAPH_INTROSPECT_SECRET": introspectSecret, "AUTHGRAPH_RATE_LIMITS": tc.limits, "AUTHGRAPH_LOG_LEVEL": "warn"})
			tok := srv.login(b, adminName, adminPass)
			if tc.serviceKey {
				sa := srv.post(b, tok, qCreateSA, map[string]any{"a": "1", "n": "bench"}).str(b, "createServiceAccount.id")
				tok = createSK(b, srv, tok, sa, map[string]any{"r": map[string]any{"requests": 100000000, "periodSeconds": 60}}).secret
			}
			body := url.Values{"token": {tok}}.Encode()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			do := func() {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/introspect", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Bearer "+introspectSecret)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var a struct {
					Active bool `json:"active"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&a)
				resp.Body.Close()
				if !a.Active {
					b.Fatal("not active")
				}
			}
			do()
			start := time.Now()
			for b.Loop() {
				do()
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
