// Package oidc verifies a JWT issued by an external OpenID Connect identity provider and maps
// it to a local authgraph username, so that a user can sign in with a token from a trusted
// provider (Auth0, Keycloak, Google, ...) instead of a password.
//
// It knows nothing of HTTP handlers or GraphQL: the caller hands Verify a raw token and gets
// back an Identity or an error. Errors fall in three classes that a caller must answer
// differently:
//
//   - ErrInvalidToken: the token is not one we accept (bad signature, expired, wrong
//     audience, unknown issuer, ...). Answer INVALID_CREDENTIALS.
//   - ErrNotAllowed: the token is genuine but its holder is not on the issuer's allow-list.
//     It also matches ErrInvalidToken, and callers must answer it the same way, so that a
//     probe cannot tell "not a user here" from "bad token".
//   - ErrUnavailable: the provider's keys could not be fetched, so nothing can be decided.
//     Answer 503 and let the client retry; never treat it as bad credentials.
//
// Trust is per issuer and nothing in a token can widen it: the issuer is chosen by the
// token's (unverified) "iss" only to pick which configuration to verify against, keys come
// only from that issuer's JWKS (never from "jku", "x5u" or an embedded "jwk"), and only
// asymmetric algorithms the operator allowed are accepted.
//
// The verifier is built on go-jose. coreos/go-oidc's verifier would do much of this, but its
// package imports golang.org/x/oauth2, which this module does not require. The key cache
// (keyset.go) follows go-oidc's RemoteKeySet design: cache the JWKS, refetch on an unknown key
// ID, share one fetch between concurrent callers.
package oidc
