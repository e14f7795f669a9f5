package httpapi

import (
	"net/http"
	"strings"
)

// corsAllowHeaders are the request headers browsers may send: the token headers, Apollo
// Client's name and version headers, and the headers Apollo clients add to pass a server's
// CSRF prevention (apollo-require-preflight, x-apollo-operation-name).
const corsAllowHeaders = "Content-Type, Authorization, X-Auth-Token, Apollographql-Client-Name, Apollographql-Client-Version, Apollo-Require-Preflight, X-Apollo-Operation-Name, X-Requested-With"

// CORSPolicy is AUTHGRAPH_CORS_ORIGINS, parsed: "*" (any origin), "none" (no cross-origin
// access), or a comma-separated list of origins such as https://app.example.com, each answered
// with its own origin. Credentials are never allowed (no Access-Control-Allow-Credentials):
// cross-origin clients send tokens in headers, and COOKIE mode is for same-origin clients, so
// another origin can neither read an answer made with the user's cookies nor get a
// preflighted request sent with them.
type CORSPolicy struct {
	any     bool
	origins map[string]bool
}

func ParseCORS(v string) (CORSPolicy, error) {
	p := CORSPolicy{origins: map[string]bool{}}
	for _, o := range strings.Split(v, ",") {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		switch {
		case o == "" || strings.EqualFold(o, "none"):
		case o == "*":
			p.any = true
		case !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://"), strings.Count(o, "/") != 2:
			return p, errBadOrigin(o)
		default:
			p.origins[strings.ToLower(o)] = true
		}
	}
	return p, nil
}

type errBadOrigin string

func (e errBadOrigin) Error() string {
	return "not an origin (want *, none, or scheme://host[:port] without a path): " + string(e)
}

// cors answers preflights and adds CORS headers for the origins the policy allows.
func cors(p CORSPolicy) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			origin := r.Header.Get("Origin")
			allowed := false
			if origin != "" {
				h.Add("Vary", "Origin")
				switch {
				case p.origins[strings.ToLower(origin)]:
					h.Set("Access-Control-Allow-Origin", origin)
					allowed = true
				case p.any:
					h.Set("Access-Control-Allow-Origin", "*")
					allowed = true
				}
				if allowed {
					h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
				}
			}
			if r.Method == http.MethodOptions {
				if allowed {
					h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
					h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
					h.Set("Access-Control-Max-Age", "600")
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
