package httpapi

import (
	"crypto/tls"
	"github.com/authgraph/authgraph/internal/reqtoken"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/graph"
	"github.com/authgraph/authgraph/internal/token"
)

func TestCookiesHonoured(t *testing.T) {
	tests := []struct {
		method, contentType, xrw string
		want                     bool
	}{
		{"POST", "application/json", "", true},
		{"POST", "application/json; charset=utf-8", "", true},
		{"POST", "text/plain", "", false},
		{"POST", "application/x-www-form-urlencoded", "", false},
		{"POST", "multipart/form-data; boundary=x", "", false},
		{"POST", "", "", false},
		{"POST", "text/plain", "XMLHttpRequest", true},
		{"GET", "", "", false},
		{"GET", "application/json", "", false},
		{"GET", "", "XMLHttpRequest", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/graphql", nil)
		if tt.contentType != "" {
			r.Header.Set("Content-Type", tt.contentType)
		}
		if tt.xrw != "" {
			r.Header.Set("X-Requested-With", tt.xrw)
		}
		if got := cookiesHonoured(r); got != tt.want {
			t.Errorf("%s %q X-Requested-With=%q: honoured %v, want %v", tt.method, tt.contentType, tt.xrw, got, tt.want)
		}
	}
}

func TestRequestCredential(t *testing.T) {
	const a, b = "ags_a", "ags_b"
	on := transportOptions{allowQueryToken: true}
	req := func(target string, headers ...string) *http.Request {
		r := httptest.NewRequest("POST", target, nil)
		r.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Add(headers[i], headers[i+1])
		}
		return r
	}
	tests := []struct {
		name    string
		r       *http.Request
		opts    transportOptions
		want    credential
		wantErr bool
	}{
		{"none", req("/graphql"), on, credential{}, false},
		{"header", req("/graphql", "x-auth-token", a), on, credential{token: a, source: fromHeader}, false},
		{"cookie", req("/graphql", "Cookie", "authgraph_session="+a), on, credential{token: a, source: fromCookie}, false},
		{"secure cookie name only when secure", req("/graphql", "Cookie", "__Host-authgraph_session="+a), on, credential{}, false},
		{"query when on", req("/graphql?access_token=" + a), on, credential{token: a, source: fromQuery}, false},
		{"query when off", req("/graphql?access_token=" + a), transportOptions{}, credential{}, true},
		{"same token in header and cookie", req("/graphql", "x-auth-token", a, "Cookie", "authgraph_session="+a), on, credential{token: a, source: fromCookie}, false},
		{"a service key alone", req("/graphql", "x-api-key", a), on, credential{apiKey: a, source: reqtoken.FromAPIKey}, false},
		{"a service key and a session token", req("/graphql", "x-api-key", a, "x-auth-token", a), on, credential{}, true},
		{"a service key and a bearer token", req("/graphql", "x-api-key", a, "Authorization", "Bearer "+a), on, credential{}, true},
		{"a service key and a session cookie", req("/graphql", "x-api-key", a, "Cookie", "authgraph_session="+a), on, credential{}, true},
		{"two service keys", req("/graphql", "x-api-key", a, "x-api-key", a), on, credential{}, true},
		{"header and cookie differ", req("/graphql", "x-auth-token", a, "Cookie", "authgraph_session="+b), on, credential{}, true},
		{"bearer and query differ", req("/graphql?access_token="+b, "Authorization", "Bearer "+a), on, credential{}, true},
		{"cookie and query differ", req("/graphql?access_token="+b, "Cookie", "authgraph_session="+a), on, credential{}, true},
		{"two query tokens differ", req("/graphql?access_token=" + a + "&access_token=" + b), on, credential{}, true},
		{"two session cookies differ", req("/graphql", "Cookie", "authgraph_session="+a+"; authgraph_session="+b), on, credential{}, true},
		{"two equal session cookies", req("/graphql", "Cookie", "authgraph_session="+a+"; authgraph_session="+a), on, credential{}, true},
		{"two equal query tokens", req("/graphql?access_token=" + a + "&access_token=" + a), on, credential{}, true},
	}
	// A bare token in Authorization is taken only when it is a well-formed session token.
	sess, refresh := mustToken(t, token.Session), mustToken(t, token.Refresh)
	tests = append(tests, []struct {
		name    string
		r       *http.Request
		opts    transportOptions
		want    credential
		wantErr bool
	}{
		{"a bare session token", req("/graphql", "Authorization", sess), on, credential{token: sess, source: fromHeader}, false},
		{"a bare session token with spaces around", req("/graphql", "Authorization", "  "+sess+" "), on, credential{token: sess, source: fromHeader}, false},
		{"a bare session token and the same in x-auth-token", req("/graphql", "Authorization", sess, "x-auth-token", sess), on, credential{token: sess, source: fromHeader}, false},
		{"a bare session token and another in x-auth-token", req("/graphql", "Authorization", sess, "x-auth-token", a), on, credential{}, true},
		{"a bare token whose checksum fails", req("/graphql", "Authorization", sess[:len(sess)-1]+flip(sess[len(sess)-1])), on, credential{}, true},
		{"a bare refresh token", req("/graphql", "Authorization", refresh), on, credential{}, true},
		{"a bare string that is no token", req("/graphql", "Authorization", a), on, credential{}, true},
		{"another scheme", req("/graphql", "Authorization", "Basic YWRtaW46YWRtaW4="), on, credential{}, true},
		{"another scheme around a session token", req("/graphql", "Authorization", "Token "+sess), on, credential{}, true},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := requestCredential(tt.r, tt.opts)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("= %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}

	// A cookie on a request that may not use it is as if absent, and so cannot conflict.
	r := httptest.NewRequest("GET", "/graphql", nil)
	r.Header.Set("Cookie", "authgraph_session="+b)
	r.Header.Set("x-auth-token", a)
	if got, err := requestCredential(r, on); err != nil || got != (credential{token: a, source: fromHeader}) {
		t.Fatalf("GET with a cookie and a header: %+v, %v", got, err)
	}
}

func TestWithoutQueryToken(t *testing.T) {
	r := httptest.NewRequest("GET", "/graphql?query=%7Bversion%7D&access_token=ags_secret", nil)
	got := withoutQueryToken(r)
	if strings.Contains(got.URL.String(), "ags_secret") || strings.Contains(got.RequestURI, "ags_secret") {
		t.Fatalf("token still in %s / %s", got.URL, got.RequestURI)
	}
	if got.URL.Query().Get("query") != "{version}" {
		t.Fatalf("query lost: %s", got.URL)
	}
	if r := httptest.NewRequest("GET", "/graphql?query=x", nil); withoutQueryToken(r) != r {
		t.Fatal("a request without the parameter was copied")
	}
}

func TestCookieJarAttributes(t *testing.T) {
	for _, tt := range []struct {
		name   string
		opts   transportOptions
		tls    bool
		cookie string
		secure bool
	}{
		{"plain", transportOptions{}, false, "authgraph_refresh", false},
		{"operator says TLS", transportOptions{cookieSecure: true}, false, "__Host-authgraph_refresh", true},
		{"TLS", transportOptions{}, true, "__Host-authgraph_refresh", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			jar := newCookieJar(w, r, tt.opts)
			jar.Set(graph.RefreshCookie, "agr_x", 90*time.Second+time.Nanosecond) // rounded up
			jar.Clear(graph.SessionCookie)
			cookies := w.Result().Cookies()
			if len(cookies) != 2 {
				t.Fatalf("cookies: %v", w.Header()["Set-Cookie"])
			}
			c := cookies[0]
			if c.Name != tt.cookie || c.Value != "agr_x" || c.MaxAge != 91 || !c.HttpOnly || c.Secure != tt.secure ||
				c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
				t.Fatalf("Set-Cookie: %s", w.Header()["Set-Cookie"][0])
			}
			if cleared := cookies[1]; !strings.HasSuffix(cleared.Name, "authgraph_session") || cleared.MaxAge != -1 ||
				!strings.Contains(w.Header()["Set-Cookie"][1], "Max-Age=0") {
				t.Fatalf("clearing Set-Cookie: %s", w.Header()["Set-Cookie"][1])
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Fatal("an answer setting a token cookie may be cached")
			}
		})
	}
}

func mustToken(t *testing.T, kind token.Kind) string {
	t.Helper()
	s, err := token.New(kind)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// flip answers another base62 digit than c.
func flip(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}
