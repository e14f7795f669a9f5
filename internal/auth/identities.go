package auth

import (
	"context"
	"time"

	"github.com/authgraph/authgraph/internal/token"
)

// LinkedIdentity is a user's account at an external identity provider that signs them in
// through the authorization code flow (sso.go). (Provider, Subject) is unique: one account
// at a provider belongs to at most one local user.
type LinkedIdentity struct {
	UserID int64
	// Provider is the configured provider's name; Subject the user's "sub" there, which the
	// provider promises never to reassign (an email can change, a subject cannot).
	Provider, Subject string
	// Email is the address the provider gave when the link was made, if it said it was
	// verified; shown to the user, never used to sign in.
	Email    string
	LinkedAt time.Time
}

// AuthFlow is an authorization code flow under way: what the start of the flow keeps for
// its callback, found by the digest of the state it sent to the provider. It is single use
// (ConsumeAuthFlow) and short-lived.
type AuthFlow struct {
	// StateDigest is the SHA-256 of the state parameter; the state itself is never stored.
	StateDigest token.Digest
	// Binding is the digest of the secret put in the starting browser's cookie: only the
	// browser that started the flow can finish it.
	Binding  token.Digest
	Provider string
	// Nonce is the value the ID token must echo; Verifier is the PKCE code verifier.
	Nonce, Verifier string
	// ReturnTo is the same-origin path the browser goes to at the end.
	ReturnTo string
	// LinkUserID, when not 0, makes the flow link the provider's identity to that user
	// instead of signing in.
	LinkUserID int64
	// AppRedirect, when not "", makes the flow end with a one-time code (AppCode) sent to
	// this redirect URI of an app, with AppState (the app's own state, echoed), instead of a
	// session cookie; AppChallenge is the app's PKCE S256 challenge that the code is bound to.
	AppRedirect, AppState, AppChallenge string
	ExpiresAt                           time.Time
}

// AppCode is the one-time code a flow started for an app ends with: the app trades it for a
// session with createSessionUsingAuthorizationCode, proving with its PKCE verifier that it is
// the app that started the flow. Found by the digest of the code, which is never stored; single
// use (ConsumeAppCode) and short-lived (AppCodeTTL).
type AppCode struct {
	Digest token.Digest
	// Provider, RedirectURI and Challenge are the flow's: the trade must name the same provider
	// and redirect URI, and bring the verifier of the challenge.
	Provider, RedirectURI, Challenge string
	// UserID and Subject are who the flow signed in: the user, and the provider's subject
	// that is linked to them.
	UserID    int64
	Subject   string
	ExpiresAt time.Time
}

// IdentityStore keeps linked identities, the authorization code flows under way and the
// one-time codes they hand to apps.
//
// Links are tied to their user: DeleteUser removes them. Flows and codes are tied to nothing;
// their consumer checks that a user they name still exists.
type IdentityStore interface {
	// CreateAuthFlow saves f until f.ExpiresAt; ErrConflict if a flow with its state digest
	// exists (which 256 random bits make impossible short of a bug).
	CreateAuthFlow(ctx context.Context, f *AuthFlow) error
	// ConsumeAuthFlow removes the flow with state digest d and answers it if it has not
	// expired; else ErrNotFound. Of concurrent calls for one flow exactly one answers it.
	ConsumeAuthFlow(ctx context.Context, d token.Digest) (*AuthFlow, error)
	// CreateAppCode saves c until c.ExpiresAt; ErrConflict if a code with its digest exists.
	CreateAppCode(ctx context.Context, c *AppCode) error
	// ConsumeAppCode removes the code with digest d and answers it if it has not expired;
	// else ErrNotFound. Of concurrent calls for one code exactly one answers it.
	ConsumeAppCode(ctx context.Context, d token.Digest) (*AppCode, error)

	// LinkIdentity saves l; ErrConflict if (l.Provider, l.Subject) is linked already (to
	// anyone), ErrNotFound if the user does not exist, also when DeleteUser removes the user
	// while it runs (nothing is left behind then).
	LinkIdentity(ctx context.Context, l *LinkedIdentity) error
	// IdentityBySubject answers the link of (provider, subject), or ErrNotFound.
	IdentityBySubject(ctx context.Context, provider, subject string) (*LinkedIdentity, error)
	// IdentitiesOf lists a user's links, by provider then subject.
	IdentitiesOf(ctx context.Context, userID int64) ([]*LinkedIdentity, error)
	// UnlinkIdentity removes the link of (provider, subject) if it is userID's and answers
	// it; else ErrNotFound. Of concurrent calls for one link exactly one answers it.
	UnlinkIdentity(ctx context.Context, userID int64, provider, subject string) (*LinkedIdentity, error)
}
