package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := Handler("/account")
	get := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	page := get("GET", "/account")
	if page.Code != 200 || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") || !strings.Contains(page.Body.String(), `src="/account/account.js"`) {
		t.Fatalf("page: %d %v", page.Code, page.Header())
	}
	for name, want := range map[string]string{
		"Content-Security-Policy": "script-src 'self'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	} {
		if !strings.Contains(page.Header().Get(name), want) {
			t.Errorf("%s: %q", name, page.Header().Get(name))
		}
	}
	if strings.Contains(page.Body.String(), "<script>") || strings.Contains(page.Body.String(), "http://") || strings.Contains(page.Body.String(), "https://") {
		t.Error("the page has inline script or loads something from elsewhere")
	}
	if !strings.Contains(page.Body.String(), `rel="icon" href="/account/favicon.svg"`) {
		t.Error("the page names no favicon")
	}
	for path, ctype := range map[string]string{"/account/account.js": "javascript", "/account/account.css": "text/css", "/account/favicon.svg": "image/svg+xml"} {
		r := get("GET", path)
		if r.Code != 200 || !strings.Contains(r.Header().Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %s", path, r.Code, r.Header().Get("Content-Type"))
		}
	}
	js := get("GET", "/account/account.js").Body.String()
	for _, banned := range []string{"localStorage", "sessionStorage", "innerHTML", "document.cookie", "eval("} {
		if strings.Contains(js, banned+".") || strings.Contains(js, banned+" =") || (banned == "eval(" && strings.Contains(js, banned)) {
			t.Errorf("account.js uses %s", banned)
		}
	}
	// Every view a mail's link names has its panel, and the page takes the token out of the
	// address bar (and the history) as soon as it has read it.
	for _, id := range []string{"signup-form", "forgot-form", "code-request-form", "code-signin-form", "resend-form", "reset-form", "invite-form", "email-form"} {
		if !strings.Contains(page.Body.String(), `id="`+id+`"`) {
			t.Errorf("the page has no #%s", id)
		}
	}
	for _, view := range []string{`case "verify"`, `case "reset"`, `case "code"`, `case "invite"`, `case "forgot"`, "history.replaceState("} {
		if !strings.Contains(js, view) {
			t.Errorf("account.js has no %s", view)
		}
	}
	if r := get("GET", "/account/nope.js"); r.Code != 404 {
		t.Errorf("unknown file: %d", r.Code)
	}
	if r := get("POST", "/account"); r.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.Code)
	}
}
