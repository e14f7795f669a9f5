package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/redistest"
)

// The first seed's GraphQL flow, curl for curl: password login, createUserKey with the seed's
// operation and Apollo headers, createSessionUsingUserKey with the seed's operation and
// variables (string id and integer id), {version} with the new token, 401 for an invalid
// token, INVALID_CREDENTIALS for a wrong secret, ownership, a restart, and a scan for secrets.
func TestSeedFlowRedis(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	secrets := runSeedFlow(t, srv, func() *testServer {
		srv.stop()
		return startServer(t, map[string]string{"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix})
	})
	assertNoSecretInRedis(t, rs.Client, rs.Prefix, secrets)
	assertNoSecretIn(t, "the server log", srv.logs.String(), secrets)
}

func TestSeedFlowEmbeddedStore(t *testing.T) {
	srv := startServer(t, nil)
	if !strings.Contains(srv.logs.String(), "embedded in-process store") {
		t.Fatalf("the embedded store is not announced in the log:\n%s", srv.logs)
	}
	secrets := runSeedFlow(t, srv, nil)
	assertNoSecretIn(t, "the server log", srv.logs.String(), secrets)
}

// runSeedFlow runs the flow and answers every secret it saw. restart, if not nil, restarts
// the server on the same store and answers the new one.
func runSeedFlow(t *testing.T, srv *testServer, restart func() *testServer) []string {
	apollo := []string{"apollographql-client-name", "docs-example-client", "apollographql-client-version", "1.0.0"}
	secrets := []string{adminPass}

	adminToken := srv.login(t, adminName, adminPass)
	secrets = append(secrets, adminToken)
	const alicePass, bobPass = "alice-password-1", "bob-password-123"
	secrets = append(secrets, alicePass, bobPass)
	srv.createUser(t, adminToken, "alice", alicePass)
	srv.createUser(t, adminToken, "bob", bobPass)
	alice := srv.login(t, "alice", alicePass)
	bob := srv.login(t, "bob", bobPass)
	secrets = append(secrets, alice, bob)

	// mutation GenerateUserKey { createUserKey { id secret } }, exactly as the seed's curl.
	r := srv.raw(t, http.MethodPost, "/graphql", `{"query":"mutation GenerateUserKey { createUserKey { id secret } }"}`,
		append([]string{"Content-Type", "application/json", "x-auth-token", alice}, apollo...)...)
	if r.Status != http.StatusOK || r.code() != "" {
		t.Fatalf("createUserKey: %d %s", r.Status, r.Raw)
	}
	keyID, secret := r.str(t, "createUserKey.id"), r.str(t, "createUserKey.secret")
	secrets = append(secrets, secret)

	// The seed's LoginWithUserKey, with the string id and then with the integer id.
	const login = `mutation LoginWithUserKey($secret: String!, $userKeyId: ObjectID!) { createSessionUsingUserKey(input: { userKeyId: $userKeyId, secret: $secret }) { token } }`
	rawID := srv.post(t, alice, `{ me { userKeys { nodes { id rawID } } } }`, nil)
	n, err := strconv.Atoi(nodeField(t, rawID, "me.userKeys", 0, "rawID"))
	if err != nil {
		t.Fatalf("rawID: %v in %s", err, rawID.Raw)
	}
	var keyTokens []string
	for _, id := range []any{keyID, n, strconv.Itoa(n)} {
		body, _ := json.Marshal(map[string]any{"query": login, "variables": map[string]any{"userKeyId": id, "secret": secret}})
		r := srv.raw(t, http.MethodPost, "/graphql", string(body), append([]string{"Content-Type", "application/json"}, apollo...)...)
		if r.Status != http.StatusOK || r.code() != "" {
			t.Fatalf("createSessionUsingUserKey with id %v: %d %s", id, r.Status, r.Raw)
		}
		keyTokens = append(keyTokens, r.str(t, "createSessionUsingUserKey.token"))
	}
	secrets = append(secrets, keyTokens...)
	keyToken := keyTokens[0]

	// curl -H "x-auth-token: <session token>" -XPOST … --data-raw '{"query": "{version}"}'
	r = srv.raw(t, http.MethodPost, "/graphql", `{"query": "{version}"}`, "x-auth-token", keyToken, "Content-Type", "application/json")
	if r.Status != http.StatusOK || r.str(t, "version") == "" {
		t.Fatalf("{version}: %d %s", r.Status, r.Raw)
	}

	// The session records the Apollo client that made it.
	r = srv.post(t, keyToken, `{ me { username sessions { nodes { clientName clientVersion method current userKey { id } } } } }`, nil)
	if r.str(t, "me.username") != "alice" {
		t.Fatalf("me: %s", r.Raw)
	}
	found := false
	for _, node := range r.Data["me"].(map[string]any)["sessions"].(map[string]any)["nodes"].([]any) {
		s := node.(map[string]any)
		if s["current"] == true {
			found = true
			if s["clientName"] != "docs-example-client" || s["clientVersion"] != "1.0.0" || s["method"] != "USER_KEY" {
				t.Fatalf("current session does not record its client: %v", s)
			}
			if uk, _ := s["userKey"].(map[string]any); uk == nil || uk["id"] != keyID {
				t.Fatalf("current session does not name its key: %v", s)
			}
		}
	}
	if !found {
		t.Fatalf("no current session in %s", r.Raw)
	}

	// Passing an invalid session token results in a 401, with the contract's body.
	const want401 = `{"errors":[{"message":"Unauthorized. Please provide a valid authentication token.","extensions":{"code":"UNAUTHENTICATED"}}]}`
	// The second one changes the checksum's last character (to one it is not: a token ends in
	// "x" one time in 62).
	flipped := keyToken[:len(keyToken)-1] + map[bool]string{true: "y", false: "x"}[strings.HasSuffix(keyToken, "x")]
	for _, bad := range []string{"not-a-token", flipped, strings.Replace(keyToken, "ags_", "agr_", 1)} {
		r = srv.raw(t, http.MethodPost, "/graphql", `{"query": "{version}"}`, "x-auth-token", bad, "Content-Type", "application/json")
		if r.Status != http.StatusUnauthorized || strings.TrimSpace(r.Raw) != want401 {
			t.Fatalf("invalid token: %d %s", r.Status, r.Raw)
		}
	}

	// A wrong secret: INVALID_CREDENTIALS and no token.
	r = srv.post(t, "", login, map[string]any{"userKeyId": keyID, "secret": secret[:len(secret)-2] + "00"})
	if r.code() != "INVALID_CREDENTIALS" || r.Data != nil && r.Data["createSessionUsingUserKey"] != nil {
		t.Fatalf("wrong secret: %s", r.Raw)
	}

	// Bob can neither see nor delete Alice's key: it is not found, not forbidden.
	r = srv.post(t, bob, `mutation($id: ObjectID!) { deleteUserKey(input: {userKeyId: $id}) { userKey { id } } }`, map[string]any{"id": keyID})
	if r.code() != "NOT_FOUND" {
		t.Fatalf("bob deleting alice's key: %s", r.Raw)
	}
	r = srv.post(t, bob, `{ me { userKeys { totalCount } } }`, nil)
	if !strings.Contains(r.Raw, `"totalCount":0`) {
		t.Fatalf("bob sees keys: %s", r.Raw)
	}

	if restart != nil {
		srv = restart()
		r = srv.post(t, keyToken, `{ me { username } }`, nil)
		if r.Status != http.StatusOK || r.str(t, "me.username") != "alice" {
			t.Fatalf("session after restart: %d %s", r.Status, r.Raw)
		}
	}

	// Alice deletes her key: the sessions made from it end, the others do not.
	r = srv.post(t, alice, `mutation($id: ObjectID!) { deleteUserKey(input: {userKeyId: $id}) { userKey { id } } }`, map[string]any{"id": keyID})
	if r.code() != "" || r.str(t, "deleteUserKey.userKey.id") != keyID {
		t.Fatalf("deleteUserKey: %s", r.Raw)
	}
	if r = srv.post(t, keyToken, `{ version }`, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("a session of a deleted key still works: %d %s", r.Status, r.Raw)
	}
	if r = srv.post(t, alice, `{ version }`, nil); r.Status != http.StatusOK {
		t.Fatalf("alice's password session ended with her key: %d %s", r.Status, r.Raw)
	}

	// Log out: the answer echoes the ended token, which then gets 401.
	r = srv.post(t, alice, `mutation { deleteSession { token } }`, nil)
	if r.code() != "" || r.str(t, "deleteSession.token") != alice {
		t.Fatalf("deleteSession: %s", r.Raw)
	}
	if r = srv.post(t, alice, `{ version }`, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("a logged-out token still works: %d %s", r.Status, r.Raw)
	}
	return secrets
}

func nodeField(t *testing.T, r *gqlResponse, conn string, i int, field string) string {
	t.Helper()
	var v any = r.Data
	for _, p := range strings.Split(conn, ".") {
		v = v.(map[string]any)[p]
	}
	nodes := v.(map[string]any)["nodes"].([]any)
	if len(nodes) <= i {
		t.Fatalf("no node %d in %s", i, r.Raw)
	}
	return fmt.Sprint(nodes[i].(map[string]any)[field])
}

// assertNoSecretInRedis reads every key under prefix, and every value of every type, and
// fails if any secret appears in it.
func assertNoSecretInRedis(t *testing.T, rdb redis.UniversalClient, prefix string, secrets []string) {
	t.Helper()
	ctx := context.Background()
	var dump strings.Builder
	all, err := redistest.Keys(ctx, rdb, prefix+"*") // every master of a cluster
	if err != nil {
		t.Fatal(err)
	}
	keys := 0
	for _, k := range all {
		keys++
		dump.WriteString(k + "\n")
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "string":
			dump.WriteString(rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				dump.WriteString(f + "=" + v + "\n")
			}
		case "set":
			dump.WriteString(strings.Join(rdb.SMembers(ctx, k).Val(), "\n"))
		case "zset":
			dump.WriteString(strings.Join(rdb.ZRange(ctx, k, 0, -1).Val(), "\n"))
		case "list":
			dump.WriteString(strings.Join(rdb.LRange(ctx, k, 0, -1).Val(), "\n"))
		case "stream": // the audit trail, the mail queue
			for _, m := range rdb.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					fmt.Fprintf(&dump, "%s=%v\n", f, v)
				}
			}
		default:
			t.Fatalf("key %q has a type the scan does not read: %s", k, typ)
		}
		dump.WriteString("\n")
	}
	if keys == 0 {
		t.Fatal("the scan found no key: it proves nothing")
	}
	assertNoSecretIn(t, "Redis", dump.String(), secrets)
}

func assertNoSecretIn(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains a secret in plaintext (%d characters starting %q)", where, len(s), s[:4])
		}
	}
}
