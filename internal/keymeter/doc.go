// Package keymeter meters the requests of service keys (machines that send x-api-key): a
// per-key rate limit, a per-key quota that may refill per period, and usage (requests per
// key per hour for the last 30 days, and when the key was last used).
//
// The request path calls Meter.Take once per x-api-key request; the GraphQL layer reads
// Meter.Usage. Redis keeps the meters for every replica (NewRedis); Memory keeps them in
// process for the embedded store (NewMemory). Both pass one conformance suite.
package keymeter
