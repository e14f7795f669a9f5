// Package graph is authgraph's GraphQL layer: gqlgen's generated executor and thin resolvers
// that translate GraphQL to calls of the domain service (internal/auth) and back. It owns
// what is GraphQL's alone: ObjectIDs, connections and their cost, the error presenter, the
// token modes and cookies of sign-in answers, and the per-query loaders that batch what a
// list shows per row (loaders.go). The HTTP layer mounts it; resolver_test.go runs it in
// process.
package graph

//go:generate sh -c "cd .. && go tool gqlgen generate"
