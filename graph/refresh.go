package graph

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/graph/model"
	"github.com/authgraph/authgraph/internal/auth"
)

// loginOptions turns a sign-in input's refreshable flag into domain options.
func loginOptions(refreshable *bool) []auth.LoginOption {
	if refreshable != nil && *refreshable {
		return []auth.LoginOption{auth.Refreshable(true)}
	}
	return nil
}

// modeOf answers the requested token mode, JSON if none, and checks that COOKIE mode can be
// honoured before anything is made.
func modeOf(ctx context.Context, m *model.TokenMode, fallback model.TokenMode) (model.TokenMode, error) {
	mode := fallback
	if m != nil {
		mode = *m
	}
	if mode == model.TokenModeCookie && cookieJarFrom(ctx) == nil {
		return "", auth.Errorf(auth.CodeInvalidInput, "COOKIE mode is not available on this transport.")
	}
	return mode, nil
}

// sessionAnswer turns a new session into its GraphQL answer. In COOKIE mode the longest-lived token
// (the refresh token of a refreshable session, else the session token) goes into its cookie
// and is left out of the answer.
func (r *Resolver) sessionAnswer(ctx context.Context, ns *auth.NewSession, mode model.TokenMode) *model.Session {
	s := newSession(ns)
	if ns.RefreshToken != "" {
		refresh, expires := ns.RefreshToken, ns.RefreshExpiresAt
		s.RefreshToken, s.RefreshTokenExpiresAt = &refresh, &expires
	}
	if mode != model.TokenModeCookie {
		return s
	}
	jar, now := cookieJarFrom(ctx), r.Service.Now()
	if ns.RefreshToken != "" {
		jar.Set(RefreshCookie, ns.RefreshToken, ns.RefreshExpiresAt.Sub(now))
		s.RefreshToken = nil
	} else {
		jar.Set(SessionCookie, ns.Token, ns.Session.ExpiresAt.Sub(now))
		s.Token = nil
	}
	return s
}

// refreshSession trades a refresh token, given or from the refresh cookie, for a new pair.
func (r *Resolver) refreshSession(ctx context.Context, input *model.RefreshSessionInput) (*model.Session, error) {
	if input == nil {
		input = &model.RefreshSessionInput{}
	}
	jar := cookieJarFrom(ctx)
	tok, fromCookie := deref(input.RefreshToken), false
	if tok == "" && jar != nil {
		tok = jar.Get(RefreshCookie)
		fromCookie = tok != ""
	}
	if tok == "" {
		return nil, auth.Errorf(auth.CodeInvalidInput, "Send the refresh token in refreshToken, or sign in with mode COOKIE to have it in a cookie.")
	}
	// A token read from the cookie goes back into the cookie, and only there: the cookie is
	// HttpOnly so that scripts never see the refresh token, and a script on the page can
	// send this request, cookie included. Were JSON allowed here, it would read the token
	// from the answer. Refused before the refresh, so that nothing is rotated either.
	fallback := model.TokenModeJSON
	if fromCookie {
		if input.Mode != nil && *input.Mode != model.TokenModeCookie {
			return nil, auth.Errorf(auth.CodeInvalidInput, "A refresh made with the refresh cookie answers in COOKIE mode: leave mode out, or sign out and sign in again to leave COOKIE mode.")
		}
		fallback = model.TokenModeCookie
	}
	mode, err := modeOf(ctx, input.Mode, fallback)
	if err != nil {
		return nil, err
	}
	ns, err := r.Service.Refresh(ctx, tok)
	if err != nil {
		code := auth.ErrorCode(err)
		if code == auth.CodeRefreshTokenReused {
			zerolog.Ctx(ctx).Warn().Str("event", "refresh_token_reuse").Msg("refresh token reused after its grace window: token family revoked")
		}
		if fromCookie && (code == auth.CodeInvalidCredentials || code == auth.CodeRefreshTokenReused) {
			jar.Clear(RefreshCookie) // dead: sending it again can only fail
		}
		return nil, err
	}
	return r.sessionAnswer(ctx, ns, mode), nil
}
