package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/graph"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/errmap"
	"github.com/authgraph/authgraph/internal/metrics"
)

// Sign-in through an identity provider (the domain's sso.go), for browsers:
//
//	GET  /auth/{provider}/start?returnTo=/path   302 to the provider, and the binding cookie
//	GET  /auth/{provider}/start?redirect=URI&state&code_challenge&code_challenge_method=S256
//	                                             the same for an app: the flow ends at the
//	                                             app's redirect URI with a one-time code
//	                                             (redirect=/path is returnTo=/path)
//	POST /auth/{provider}/link                   {"returnTo"} with the session (cookie with
//	                                             the CSRF rule, or bearer): {"url"} to send
//	                                             the browser to, and the binding cookie
//	GET  /auth/{provider}/callback?code&state    the provider's redirect: a session cookie
//	                                             (COOKIE mode) or a link, then 303 to returnTo;
//	                                             for an app, 303 to its redirect URI with
//	                                             code and state (or error and state)
//
// The binding cookie (authgraph_sso, __Host- named when secure) holds the secret that ties a
// flow to the browser that started it: HttpOnly, SameSite=Lax (so the provider's top-level
// redirect back carries it), and it lasts as long as the flow. One flow at a time per browser:
// a second start replaces the first's cookie. Errors are the API's JSON error shape, with the
// code's status.
const bindingCookie = "authgraph_sso"

type ssoHandler struct {
	svc      *auth.Service
	opts     transportOptions
	fallback string // returnTo when none is given
	// page: the account page is served, and a browser whose sign-in failed is sent back to
	// it (#view=sso-error&code=…) rather than shown a JSON error.
	page bool
	// metrics counts the callbacks' sign-ins as auth_outcomes_total{method="external"}; nil:
	// off.
	metrics *metrics.Metrics
}

func (h ssoHandler) bindingName(r *http.Request) string {
	if secureCookies(r, h.opts) {
		return "__Host-" + bindingCookie
	}
	return bindingCookie
}

func (h ssoHandler) setBinding(w http.ResponseWriter, r *http.Request, value string, until time.Time) {
	secs := int(math.Ceil(time.Until(until).Seconds()))
	c := &http.Cookie{Name: h.bindingName(r), Value: value, MaxAge: max(secs, 1)}
	if value == "" {
		c.MaxAge = -1
	}
	c.Path, c.HttpOnly, c.Secure, c.SameSite = "/", true, secureCookies(r, h.opts), http.SameSiteLaxMode
	http.SetCookie(w, c)
}

func (h ssoHandler) returnTo(r *http.Request) string {
	if v := r.URL.Query().Get("returnTo"); v != "" {
		return v
	}
	return h.fallback
}

// start begins a sign-in: the flow is stored, the browser gets the binding cookie and goes to
// the provider. redirect is returnTo when it is a path; otherwise the redirect URI of an app,
// which also sends its state and PKCE challenge, and gets a one-time code there.
func (h ssoHandler) start(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	provider, redirect := r.PathValue("provider"), q.Get("redirect")
	var st *auth.SSOStart
	var err error
	switch {
	case redirect != "" && q.Has("returnTo"):
		writeError(w, http.StatusBadRequest, auth.CodeInvalidInput, "Give returnTo or redirect, not both.")
		return
	case strings.HasPrefix(redirect, "/"):
		st, err = h.svc.StartSSO(r.Context(), provider, redirect, false)
	case redirect != "":
		st, err = h.svc.StartSSOForApp(r.Context(), provider, auth.SSOApp{
			RedirectURI: redirect, State: q.Get("state"),
			CodeChallenge: q.Get("code_challenge"), CodeChallengeMethod: q.Get("code_challenge_method"),
		})
	default:
		st, err = h.svc.StartSSO(r.Context(), provider, h.returnTo(r), false)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.setBinding(w, r, st.Binding, st.ExpiresAt)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, st.URL, http.StatusFound)
}

// link begins the linking of a provider to the signed-in user. It is a POST answered in JSON,
// not a navigation: the session cookie counts only under the CSRF rule, so that another site
// cannot start a link in a signed-in browser.
func (h ssoHandler) link(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ReturnTo string `json:"returnTo"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, auth.CodeInvalidInput, "The body must be a JSON object such as {\"returnTo\":\"/account\"}.")
		return
	}
	if in.ReturnTo == "" {
		in.ReturnTo = h.fallback
	}
	if auth.PrincipalFrom(r.Context()) == nil {
		writeRefusal(w, auth.CodeUnauthenticated, auth.MsgUnauthenticated)
		return
	}
	st, err := h.svc.StartSSO(r.Context(), r.PathValue("provider"), in.ReturnTo, true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.setBinding(w, r, st.Binding, st.ExpiresAt)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"url": st.URL})
}

// callback ends a flow: the code is redeemed, and the browser signed in with the session
// cookie of COOKIE mode (or the identity linked) and sent to the flow's returnTo.
func (h ssoHandler) callback(w http.ResponseWriter, r *http.Request) {
	// The URL holds a code: never let it reach another site in a Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	var binding string
	if c, err := r.Cookie(h.bindingName(r)); err == nil {
		binding = c.Value
	}
	// Spent or not, the binding is of no further use.
	h.setBinding(w, r, "", time.Time{})
	if e := q.Get("error"); e != "" {
		zerolog.Ctx(r.Context()).Info().Str("event", "sso_provider_error").Str("error", clipASCII(e, 64)).Msg("the provider answered an error")
		if to := h.svc.AbandonSSO(r.Context(), r.PathValue("provider"), q.Get("state"), binding, e); to != "" {
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		if !h.backToPage(w, r, auth.CodeInvalidCredentials) {
			writeError(w, http.StatusUnauthorized, auth.CodeInvalidCredentials, "The sign-in at the provider did not complete.")
		}
		return
	}
	res, err := h.svc.FinishSSO(r.Context(), r.PathValue("provider"), q.Get("state"), binding, q.Get("code"))
	switch {
	case err != nil:
		h.metrics.AuthOutcome(metrics.MethodExternal, errmap.Of(auth.ErrorCode(err)).Outcome)
	case res.Session != nil:
		h.metrics.AuthOutcome(metrics.MethodExternal, metrics.OutcomeOK)
	}
	if res != nil && res.AppRedirect != "" {
		// An app's flow: the code (or the error) goes to the app's redirect URI, which the
		// provider's configuration allows.
		if err != nil {
			h.log(r, err)
		}
		http.Redirect(w, r, res.AppRedirect, http.StatusSeeOther)
		return
	}
	if err != nil {
		if code := auth.ErrorCode(err); code != "" && h.backToPage(w, r, code) {
			h.log(r, err)
			return
		}
		h.fail(w, r, err)
		return
	}
	if res.Session != nil {
		jar := newCookieJar(w, r, h.opts)
		jar.Set(graph.SessionCookie, res.Session.Token, res.Session.Session.ExpiresAt.Sub(h.svc.Now()))
		notes(r.Context()).userID = res.Session.Session.UserID
	}
	http.Redirect(w, r, res.ReturnTo, http.StatusSeeOther)
}

// backToPage sends a browser (a navigation that accepts HTML) whose flow failed with code
// back to the account page, which says what happened; false when there is no page or the
// client is not a browser, to be answered in JSON.
func (h ssoHandler) backToPage(w http.ResponseWriter, r *http.Request, code auth.Code) bool {
	if !h.page || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return false
	}
	http.Redirect(w, r, "/account#view=sso-error&code="+url.QueryEscape(string(code)), http.StatusSeeOther)
	return true
}

func (h ssoHandler) log(r *http.Request, err error) {
	switch auth.ErrorCode(err) {
	case "":
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("sso")
	case auth.CodeInvalidCredentials, auth.CodeIdentityNotLinked:
		zerolog.Ctx(r.Context()).Debug().Err(err).Str("event", "sso_refused").Msg("provider sign-in refused")
	case auth.CodeUnavailable:
		zerolog.Ctx(r.Context()).Warn().Err(err).Msg("identity provider or store unavailable")
	}
}

// fail answers a domain error with its code's status and message; the reason of a refused
// sign-in goes to the debug log only.
func (h ssoHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := auth.ErrorCode(err)
	h.log(r, err)
	if code == "" {
		writeInternal(w, r)
		return
	}
	var rl *auth.RateLimitedError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
	}
	writeError(w, ssoStatus(code), code, auth.ErrorMessage(err))
}

// ssoStatus is the HTTP status of a refused step: a navigation has no GraphQL body to carry
// a 200, so every refusal has its own status.
func ssoStatus(code auth.Code) int {
	if s := errmap.Of(code).Status; s != http.StatusOK {
		return s
	}
	return http.StatusBadRequest
}

func clipASCII(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}
