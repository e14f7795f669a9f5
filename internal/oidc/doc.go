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
// The verifying is github.com/coreos/go-oidc/v3's: one IDTokenVerifier per issuer (signature,
// algorithm allow-list, iss, exp, a single audience) over a RemoteKeySet (JWKS cache, refetch
// on an unknown key ID, shared concurrent fetches), and its discovery. What this package adds
// is configuration around it: the issuers and their allow-lists (issuer.go, parse.go), the
// username mapping (identity.go), the claims go-oidc leaves to its caller (claims.go), which
// JWKS keys may be used at all (algorithms.go), and the key set's life (keyset.go).
//
// One piece is our own code because go-oidc has no setting for it: the floor between JWKS
// fetches. RemoteKeySet refetches whenever no cached key verifies a token, so made-up key IDs
// would make every sign-in a request to the provider. Rather than wrap or re-implement the
// key set, the floor sits under it, in the HTTP client it is given (transport.go): a
// RoundTripper that fetches a URL from the network at most once per minimum interval, shares
// that fetch between concurrent callers, and answers other requests in the interval with that
// fetch's outcome, its body or its error. go-oidc thus still does all the verifying, and a
// failure is replayed rather than hidden behind older keys, so a token that needs new keys
// while the provider is down gets ErrUnavailable, not a rejection. The transport's errors are
// typed, which is how the key set tells a failed fetch from a bad signature: go-oidc's
// verifier flattens its key set's errors into strings, so the key set reports a failed fetch
// to Verify through the context (fetchOutcome) instead.
package oidc
