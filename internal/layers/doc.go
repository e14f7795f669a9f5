// Package layers holds no code, only the test that keeps authgraph's packages layered: each
// package imports only packages of a lower layer, so the domain (internal/auth) never depends
// on a store, a transport or the wiring, and a newcomer can read the packages bottom-up.
//
// The layers, lowest first:
//
//   - basics: clock, token, seal, testenv — no authgraph imports;
//   - utilities: self-contained pieces (argon2id, gid, oidc, apq, metrics…);
//   - domain: internal/auth;
//   - adapters: what implements or wraps the domain's interfaces (memstore, redisstore,
//     sessioncache, ratelimit, hashpool), the conformance suite, and GraphQL's models;
//   - GraphQL: graph, the resolvers;
//   - wiring: server and every command (a path with a cmd element).
//
// A new package gets a row in layers_test.go, and a package doc saying what it owns; the
// test fails until it has both.
package layers
