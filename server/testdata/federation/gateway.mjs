// The gateway of TestFederationComposesWithAProductSubgraph. It reads one JSON object on
// stdin: {subgraphs: [{name, url, sdl}], headers: {…}, query}. It composes the subgraphs'
// SDL (what each answers in `_service { sdl }`) into a supergraph with @apollo/composition,
// runs @apollo/gateway on it inside an Apollo Server, forwards the client's x-auth-token and
// apollographql-client-name/-version headers to every subgraph, as docs/federation.md's
// router configuration does, runs the query and prints the result as JSON on stdout. A
// composition failure prints its errors and exits 2.
import { readFileSync } from "node:fs";
import { parse } from "graphql";
import { composeServices } from "@apollo/composition";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";

const input = JSON.parse(readFileSync(0, "utf8"));
const composed = composeServices(
  input.subgraphs.map((s) => ({ name: s.name, url: s.url, typeDefs: parse(s.sdl) })),
);
if (composed.errors) {
  console.log(JSON.stringify({ compositionErrors: composed.errors.map((e) => e.message) }));
  process.exit(2);
}

const forwarded = ["x-auth-token", "apollographql-client-name", "apollographql-client-version"];
const gateway = new ApolloGateway({
  supergraphSdl: composed.supergraphSdl,
  buildService: ({ url }) =>
    new RemoteGraphQLDataSource({
      url,
      willSendRequest({ request, context }) {
        for (const name of forwarded) {
          const value = context.headers?.[name];
          if (value) request.http.headers.set(name, value);
        }
      },
    }),
});
const server = new ApolloServer({ gateway });
await server.start();
const response = await server.executeOperation(
  { query: input.query },
  { contextValue: { headers: input.headers ?? {} } },
);
await server.stop();
console.log(JSON.stringify(response.body.kind === "single" ? response.body.singleResult : { errors: [{ message: "incremental answer" }] }));
