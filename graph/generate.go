// Package graph is authgraph's GraphQL layer: gqlgen's generated executor and thin resolvers
// that translate GraphQL to calls of the domain service (internal/auth) and back.
package graph

//go:generate sh -c "cd .. && go tool gqlgen generate"
