// Package httpapi is authgraph's HTTP layer: everything between a connection's request and
// the GraphQL resolvers (package graph), and back. New assembles it from Deps; the server
// command (package main in server/) only reads the configuration, builds the Deps and
// listens.
//
// It owns:
//
//   - the middleware chain of /graphql, in request order (server.go, newHandler), and the
//     other routes: /healthz, /readyz, the account page, the playground, token introspection
//     and its nginx auth_request variant (introspect.go);
//   - token transports: x-auth-token, Authorization, the COOKIE mode cookies with their CSRF
//     rule, ?access_token= (transport.go, on the rules of internal/reqtoken, which the
//     embeddable verifier shares), resolved to a principal (authn.go);
//   - refusing what is not one GraphQL request over HTTP (guard.go), the body limit, CORS
//     (cors.go), the client's address behind trusted proxies (clientip.go);
//   - gqlgen's configuration: operation shape limits (gqllimits.go), queries only over GET
//     (getquery.go), persisted queries (apq.go);
//   - error answers in the contract's shape and their HTTP statuses (respond.go), the
//     request log (requestlog.go), metrics and tracing of requests (observe.go,
//     tracing.go), the metrics listener's handler (metricsserver.go);
//   - the list of what an anonymous client can make the server write (anonwrites.go).
//
// It depends on the domain (internal/auth) and the resolvers (graph), never the other way
// round: the domain knows nothing of HTTP, and the resolvers reach the request only through
// the context (auth.PrincipalFrom, auth.ClientFrom, graph.CookieJar).
package httpapi
