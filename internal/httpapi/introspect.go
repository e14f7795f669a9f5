package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/gid"
	"github.com/authgraph/authgraph/internal/ratelimit"
	"github.com/authgraph/authgraph/internal/reqtoken"
	"github.com/authgraph/authgraph/internal/token"
)

// Token introspection (RFC 7662), for services that cannot embed package verify: a resource
// server, a gateway, a proxy. Two routes, on only when AUTHGRAPH_INTROSPECT_SECRET is set
// (else 404, as any unknown path):
//
//   - POST /introspect, token=… form-encoded or {"token": "…"} as JSON, answers
//     {"active": true, …} or exactly {"active":false}, with 200 either way: an inactive token
//     is never told apart (unknown, expired, revoked, malformed, disabled user…). The caller
//     authenticates with Authorization: Bearer <the shared secret>, or with an authgraph
//     session (or key session) of an admin holding the admin scope.
//   - GET /introspect/auth_request, for nginx's auth_request: the token is read from the
//     subrequest's x-auth-token, Authorization or session cookie (the user's own headers,
//     which nginx passes on), so the proxy proves itself with the secret in
//     X-Authgraph-Introspect-Secret instead. It answers 204 with the principal in
//     X-Authgraph-* headers, or 401: the statuses auth_request understands.
//
// Neither route writes to a session: the token's session is read as Authenticate reads it,
// but never touched (its lastUsedAt, its idle timer) or deleted. Each request is counted
// against introspect:ip before anything else, bounding secret guesses and store reads per
// address.
//
// POST /introspect also answers service keys (agm_…), for a product whose own clients send
// it a key: the key is verified as an x-api-key request's is (its digest, through the
// session cache) and metered as one request of the key, since the product asks on behalf
// of one. A key the meter refuses is inactive, so that a client reading only "active"
// enforces the key's limits; a non-standard "reason" (and "retry_after") tells a client
// that reads on why. The auth_request route does not read x-api-key.

// Introspector is what the routes need of the domain (auth.Service).
type Introspector interface {
	// Introspect answers the principal of a session token without writing anything.
	Introspect(ctx context.Context, tok string) (*auth.Principal, error)
	// Authenticate answers the principal of the caller's own session.
	Authenticate(ctx context.Context, tok string) (*auth.Principal, error)
	// AuthenticateServiceKey answers the principal of a service key's secret.
	AuthenticateServiceKey(ctx context.Context, secret string) (*auth.Principal, error)
}

// IntrospectLimiter counts introspection requests per client address (ratelimit.Policy).
type IntrospectLimiter interface {
	CheckIntrospection(ctx context.Context, ip string) error
}

// MinIntrospectSecret is the shortest shared secret accepted: 32 bytes (openssl rand -hex 32
// gives 64 characters) cannot be guessed, whatever the rate limit.
const MinIntrospectSecret = 32

// introspectBodyMax bounds the body of POST /introspect: a token is some 50 bytes.
const introspectBodyMax = 4 << 10

// SecretHeader carries the shared secret on GET /introspect/auth_request.
const SecretHeader = "X-Authgraph-Introspect-Secret"

// inactive is the one answer for every token that is not active, byte for byte.
var inactive = []byte(`{"active":false}` + "\n")

// introspection is the routes' state.
type introspection struct {
	secret [sha256.Size]byte // compared as digests: constant time whatever the lengths
	svc    Introspector
	lim    IntrospectLimiter
	tokens transportOptions
	meter  *serviceMeter // nil: service keys are not metered, as on the x-api-key path
}

func newIntrospection(secret string, svc Introspector, lim IntrospectLimiter, tokens transportOptions, meter *serviceMeter) *introspection {
	return &introspection{secret: sha256.Sum256([]byte(secret)), svc: svc, lim: lim, tokens: tokens, meter: meter}
}

func (in *introspection) secretIs(s string) bool {
	d := sha256.Sum256([]byte(s))
	return subtle.ConstantTimeCompare(d[:], in.secret[:]) == 1
}

// IntrospectionAnswer is the body of an active token's answer.
type IntrospectionAnswer struct {
	Active    bool   `json:"active"`
	Subject   string `json:"sub"`
	Scope     string `json:"scope"`
	ExpiresAt int64  `json:"exp"`
	IssuedAt  int64  `json:"iat"`
	// ClientID is the user key (its global id) a USER_KEY session was made from, the
	// program the token was issued to; absent for a sign-in.
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type"`
	Username  string `json:"username"`
	UserID    string `json:"user_id"`
	AccountID string `json:"account_id"`
	SessionID string `json:"session_id"`
	Role      string `json:"role"`
	// AuthMethod is how the session was made, as Session.method: PASSWORD, USER_KEY….
	AuthMethod string `json:"auth_method"`
	// AuthTime is when the user last proved a credential for the session (absent: unknown).
	AuthTime int64 `json:"auth_time,omitempty"`
}

func answerFor(p *auth.Principal) IntrospectionAnswer {
	u, s := p.User, p.Session
	a := IntrospectionAnswer{
		Active: true, Subject: gid.Encode("User", u.ID), Scope: scopeString(auth.HeldScopes(s, u.Role)),
		ExpiresAt: s.ExpiresAt.Unix(), IssuedAt: s.CreatedAt.Unix(), TokenType: "session",
		Username: u.Username, UserID: gid.Encode("User", u.ID), SessionID: gid.Encode("Session", s.ID),
		Role: string(u.Role), AuthMethod: string(s.Method),
	}
	if u.AccountID > 0 {
		a.AccountID = gid.Encode("Account", u.AccountID)
	}
	if s.Method == auth.MethodUserKey && s.UserKeyID > 0 {
		a.ClientID = gid.Encode("UserKey", s.UserKeyID)
	}
	if !s.AuthenticatedAt.IsZero() {
		a.AuthTime = s.AuthenticatedAt.Unix()
	}
	return a
}

// ServiceKeyAnswer is the body of an active service key's answer: the service account is the
// subject, the key the client. Every id is the global id the GraphQL API shows.
type ServiceKeyAnswer struct {
	Active  bool   `json:"active"`
	Subject string `json:"sub"` // ServiceAccount.id
	Scope   string `json:"scope"`
	// ExpiresAt is the key's expiry; absent for a key that does not expire.
	ExpiresAt int64  `json:"exp,omitempty"`
	IssuedAt  int64  `json:"iat"`       // ServiceKey.createdAt
	ClientID  string `json:"client_id"` // ServiceKey.id
	TokenType string `json:"token_type"`
	// Username is the service account's name (ServiceAccount.name): a label for logs,
	// which an admin may rename; sub is what to key on.
	Username  string `json:"username"`
	AccountID string `json:"account_id"`
}

// serviceKeyAnswerFor answers p, a service key's principal.
func serviceKeyAnswerFor(p *auth.Principal) ServiceKeyAnswer {
	c, k := p.Service, p.ServiceKey
	a := ServiceKeyAnswer{
		Active: true, Subject: gid.Encode("ServiceAccount", c.ServiceAccountID), Scope: scopeString(c.Scopes),
		IssuedAt: k.CreatedAt.Unix(), ClientID: gid.Encode("ServiceKey", c.KeyID), TokenType: "service_key",
		Username: c.Name, AccountID: gid.Encode("Account", c.AccountID),
	}
	if k.ExpiresAt != nil {
		a.ExpiresAt = k.ExpiresAt.Unix()
	}
	return a
}

// meteredOut is the answer for a live service key the meter refuses: inactive, as RFC 7662
// has every token that must not be honoured, with why as extension members.
type meteredOut struct {
	Active bool   `json:"active"`
	Reason string `json:"reason"` // rate_limited or quota_exceeded
	// RetryAfter is when the key may make a request again, in seconds (as Retry-After);
	// absent for a quota that never refills.
	RetryAfter int `json:"retry_after,omitempty"`
}

func scopeString(scopes []auth.Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, " ")
}

// limit counts the request against introspect:ip; false when it has been answered (429, or
// 503 when the limiter cannot count).
func (in *introspection) limit(w http.ResponseWriter, r *http.Request) bool {
	if in.lim == nil {
		return true
	}
	err := in.lim.CheckIntrospection(r.Context(), auth.ClientFrom(r.Context()).IP)
	var le *ratelimit.LimitedError
	switch {
	case err == nil:
		return true
	case errors.As(err, &le):
		rl := &auth.RateLimitedError{RetryAfter: le.RetryAfter(), Rule: le.Rule}
		w.Header().Set("Retry-After", strconv.Itoa(rl.RetryAfterSeconds()))
		writeRefusal(w, auth.CodeRateLimited, auth.MsgRateLimited)
	default:
		zerolog.Ctx(r.Context()).Warn().Err(err).Msg("cannot count an introspection request")
		writeRefusal(w, auth.CodeUnavailable, auth.MsgUnavailable)
	}
	return false
}

// introspect serves POST /introspect.
func (in *introspection) introspect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, auth.CodeInvalidInput, "POST the token to introspect (RFC 7662).")
		return
	}
	if !in.limit(w, r) || !in.authorize(w, r) {
		return
	}
	tok, err := introspectedToken(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, auth.CodeInvalidInput, err.Error())
		return
	}
	isKey := strings.HasPrefix(tok, token.Prefix(token.ServiceKeySecret))
	var p *auth.Principal
	if isKey {
		p, err = in.svc.AuthenticateServiceKey(r.Context(), tok)
	} else {
		p, err = in.svc.Introspect(r.Context(), tok)
	}
	switch code := auth.ErrorCode(err); code {
	case "":
	case auth.CodeUnauthenticated:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(inactive)
		return
	case auth.CodeUnavailable:
		zerolog.Ctx(r.Context()).Warn().Err(err).Msg("cannot introspect a token")
		writeRefusal(w, code, auth.MsgUnavailable)
		return
	default:
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("cannot introspect a token")
		writeInternal(w, r)
		return
	}
	if !isKey {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answerFor(p))
		return
	}
	in.answerServiceKey(w, r, p)
}

// answerServiceKey meters one request of a live service key and answers it: active, or
// inactive with the meter's reason. A meter that cannot count is 503, as on the x-api-key
// path: never an active answer the key's limits did not allow.
func (in *introspection) answerServiceKey(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	ctx := r.Context()
	d, err := in.meter.decide(ctx, p.ServiceKey)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("cannot meter service key")
		writeRefusal(w, auth.CodeUnavailable, auth.MsgUnavailable)
		return
	}
	var body any = serviceKeyAnswerFor(p)
	switch {
	case d.Limited:
		notes(ctx).outcome = "rate_limited"
		body = meteredOut{Reason: "rate_limited", RetryAfter: max(retryAfterSeconds(d), 1)}
	case d.QuotaExceeded:
		notes(ctx).outcome = "quota_exceeded"
		body = meteredOut{Reason: "quota_exceeded", RetryAfter: retryAfterSeconds(d)}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// authorize checks the caller of POST /introspect: the shared secret, or an admin's session
// holding the admin scope. A missing or wrong credential is 401; a valid session of anyone
// else is 403.
func (in *introspection) authorize(w http.ResponseWriter, r *http.Request) bool {
	challenge := func(extra string) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authgraph introspection"`+extra)
	}
	// Bearer takes any value, so the secret is read as a session token would be; a bare
	// Authorization value is taken only if it is a session token.
	cred, err := reqtoken.Read(r, reqtoken.Options{CookieSecure: in.tokens.cookieSecure})
	switch {
	case err != nil || cred.Token == "":
		challenge("")
		writeRefusal(w, auth.CodeUnauthenticated, auth.MsgUnauthenticated)
		return false
	case in.secretIs(cred.Token):
		return true
	}
	p, err := in.svc.Authenticate(r.Context(), cred.Token)
	switch code := auth.ErrorCode(err); {
	case code == auth.CodeUnavailable:
		writeRefusal(w, code, auth.MsgUnavailable)
		return false
	case code != "":
		challenge(`, error="invalid_token"`)
		writeRefusal(w, auth.CodeUnauthenticated, auth.MsgUnauthenticated)
		return false
	case p.User.Role != auth.RoleAdmin || !p.HasScope(auth.ScopeAdmin):
		notes(r.Context()).userID = p.User.ID
		challenge(`, error="insufficient_scope", scope="admin"`)
		writeError(w, http.StatusForbidden, auth.CodeForbidden, "Only the introspection secret or an admin's session holding the admin scope may introspect tokens.")
		return false
	}
	notes(r.Context()).userID = p.User.ID
	return true
}

// introspectedToken reads the token of an introspection request: the form's token, or a JSON
// body's. A token given twice, or none, is a bad request; token_type_hint is ignored: a
// token's prefix tells a service key (agm_) from a session token, so a hint can only be
// right or misleading.
func introspectedToken(r *http.Request) (string, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var tok string
	switch mt {
	case "application/json":
		var body struct {
			Token *string `json:"token"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Token == nil {
			return "", errors.New(`Send {"token": "<token>"}.`)
		}
		tok = *body.Token
	case "application/x-www-form-urlencoded", "":
		b, err := io.ReadAll(r.Body) // bounded by limitBody
		if err != nil {
			return "", errors.New("The request body could not be read.")
		}
		form, err := url.ParseQuery(string(b))
		if err != nil || len(form["token"]) != 1 {
			return "", errors.New("Send one token=<token>, form-encoded.")
		}
		tok = form.Get("token")
	default:
		return "", errors.New("Send the token form-encoded (token=…) or as JSON ({\"token\": …}).")
	}
	return strings.TrimSpace(tok), nil
}

// authRequest serves GET /introspect/auth_request for nginx's auth_request.
func (in *introspection) authRequest(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, auth.CodeInvalidInput, "auth_request subrequests are GET (proxy_method GET).")
		return
	}
	if !in.limit(w, r) {
		return
	}
	if len(r.Header[SecretHeader]) != 1 || !in.secretIs(r.Header.Get(SecretHeader)) {
		// 403, not 401: nginx passes a 401 on to the client, who would take its own token
		// for bad; a proxy without the secret is a misconfiguration, refused to everyone.
		zerolog.Ctx(r.Context()).Warn().Msg("auth_request without the introspection secret")
		writeError(w, http.StatusForbidden, auth.CodeForbidden, "The auth_request subrequest must carry "+SecretHeader+".")
		return
	}
	unauthorized := func() {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authgraph"`)
		w.WriteHeader(http.StatusUnauthorized)
	}
	cred, err := reqtoken.Read(r, in.tokens.reqtoken())
	if err != nil || cred.Token == "" {
		unauthorized()
		return
	}
	p, err := in.svc.Introspect(r.Context(), cred.Token)
	switch code := auth.ErrorCode(err); code {
	case "":
	case auth.CodeUnauthenticated:
		unauthorized()
		return
	default:
		zerolog.Ctx(r.Context()).Warn().Err(err).Msg("cannot introspect a token")
		w.WriteHeader(http.StatusServiceUnavailable) // nginx answers the client 500: fail closed
		return
	}
	a := answerFor(p)
	notes(r.Context()).userID = p.User.ID
	h := w.Header()
	h.Set("X-Authgraph-User", a.UserID)
	h.Set("X-Authgraph-Account", a.AccountID)
	h.Set("X-Authgraph-Role", a.Role)
	h.Set("X-Authgraph-Scopes", a.Scope)
	h.Set("X-Authgraph-Expires", strconv.FormatInt(a.ExpiresAt, 10))
	w.WriteHeader(http.StatusNoContent)
}
