// Package webui is the account page served at /account: sign in (to any account, with a
// username or email and password, or with a code sent by email), sign up, recover a
// forgotten password, see and manage your user keys and sessions (each told apart by its
// client and device), sign out one session or all others, change your password or email
// address, turn two-step sign-in (TOTP) on and off, add, rename and delete passkeys and sign
// in with one (a button, and autofill where the browser offers it). It is also where the
// links in mails lead: they carry their token in the URL fragment, which no browser sends to
// a server. It is plain HTML, CSS and JavaScript embedded in the binary (no build step, no CDN), and
// talks to the GraphQL API at /graphql like any other client.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// contentSecurityPolicy allows only the page's own files and the API on the same origin: no
// inline script, no third-party anything, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves the page at prefix (e.g. "/account": the page, prefix+"/account.js", …).
func Handler(prefix string) http.Handler {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	fileServer := http.StripPrefix(prefix, http.FileServer(http.FS(static)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		switch r.URL.Path {
		case prefix, prefix + "/":
			b, err := files.ReadFile("static/index.html")
			if err != nil {
				http.Error(w, "page missing", http.StatusInternalServerError)
				return
			}
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(b)
		case prefix + "/index.html":
			http.Redirect(w, r, prefix, http.StatusMovedPermanently)
		default:
			fileServer.ServeHTTP(w, r)
		}
	})
}
