// Package auth is authgraph's domain: users and their accounts, user keys, sessions, refresh
// token families and second factors, the rules that govern them (hashing, expiry, ownership,
// scopes, rate limits, re-authentication), and the interfaces its adapters implement. It
// knows nothing of HTTP, GraphQL or Redis, and imports no other package of authgraph but
// clock, seal, token and audit (the trail's vocabulary: audit.go records an event at every
// security-relevant point through Config.Auditor).
//
// # Where things are
//
// Service (service.go) is the one entry point of the transports. Its methods are spread by
// area: sign-in and Authenticate (login.go, external.go), sessions (sessions.go,
// lastused.go), refresh families (refresh.go), user keys and their scopes (keys.go,
// scopes.go), users (users.go, admin.go, password.go), accounts (accounts.go), second factors
// (totp.go), re-authentication and revocations (lifecycle.go). Rate limits are in
// limits.go, who is asking in context.go and client.go, errors and their codes in
// errors.go, the records in types.go.
//
// # Stores, by area
//
// Persistence is split by area too: UserStore, AccountStore, KeyStore, SessionStore,
// RefreshStore and TOTPStore each state the rules of their methods (store.go and the area's
// file), and Store is their union plus Ping. internal/memstore and internal/redisstore
// implement Store; internal/storetest checks both against those rules.
//
// Each consumer depends on the methods it uses, not on the union. The service keeps one
// field per area (users, accounts, keys, sessions, families, factors), each typed by an
// unexported interface in service.go listing what the service calls there; NewService fills
// them all from one Store, so wiring passes a single value. A decorator wraps only what it
// changes: internal/sessioncache embeds the areas and defines the two methods it caches and
// the ones that end sessions or change users, with a test that sorts every Store method so
// that none bypasses it unnoticed.
//
// A new area (email addresses, audit, passkeys…) adds its store interface beside its code,
// one line to Store, a field to Service with the narrow interface it uses, and its rows to
// storetest and to sessioncache's table.
package auth
