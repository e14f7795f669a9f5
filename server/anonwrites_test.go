package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/apq"
	"github.com/authgraph/authgraph/internal/httpapi"
	"github.com/authgraph/authgraph/internal/ratelimit"
	"github.com/redis/go-redis/v9"
)

// TestAnonymousFloodsStayBounded floods each entry of httpapi.AnonymousWrites from one address over
// HTTP, on a real Redis, and checks that what it leaves in Redis is a handful of keys and a
// few KiB, however many requests were sent (each flood is twice its rules' bursts), and
// that sign-in still works after every flood. A new entry fails here until it has a flood.
func TestAnonymousFloodsStayBounded(t *testing.T) {
	op := startSSOProvider(t)
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1", "AUTHGRAPH_INTROSPECT_SECRET": introspectSecret,
		// Passkeys on (a public URL on a domain name) and a provider to start flows with.
		"AUTHGRAPH_SSO_PROVIDERS": ssoProviders(op, true), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL})
	loginU := `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`
	loginK := `mutation($k: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $k, secret: $s}) { token } }`
	ext := `mutation($t: String!) { createSessionUsingExternalToken(input: {token: $t}) { token } }`
	refresh := `mutation($r: String) { refreshSession(input: {refreshToken: $r}) { token } }`
	signUp := `mutation($u: String!, $e: String!) { signUp(input: {username: $u, email: $e, password: "a-long-sign-up-password"}) { email } }`
	// Every address another, so that only the address's own limit can stop them.
	mailFlood := func(field string) func(i int, ip string) *gqlResponse {
		return func(i int, ip string) *gqlResponse {
			return srv.post(t, "", fmt.Sprintf(`mutation($e: String!) { %s(input: {email: $e}) { email } }`, field),
				map[string]any{"e": fmt.Sprintf("%s%d@example.com", strings.ToLower(field), i)}, "X-Forwarded-For", ip)
		}
	}
	tokenFlood := func(q string) func(i int, ip string) *gqlResponse {
		return func(i int, ip string) *gqlResponse {
			return srv.post(t, "", q, map[string]any{"t": fmt.Sprintf("age_%043d%s", i, "AAAAAA")}, "X-Forwarded-For", ip)
		}
	}
	floods := map[string]func(i int, ip string) *gqlResponse{
		"Query.version": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", "{ version }", nil, "X-Forwarded-For", ip)
		},
		"Mutation.createSessionUsingUsername": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", loginU, map[string]any{"u": fmt.Sprint("nobody", i), "p": "wrong-password"}, "X-Forwarded-For", ip)
		},
		"Mutation.createSessionUsingUserKey": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", loginK, map[string]any{"k": 1000 + i, "s": "agk_wrong"}, "X-Forwarded-For", ip)
		},
		"Mutation.createSessionUsingExternalToken": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", ext, map[string]any{"t": "not-a-jwt"}, "X-Forwarded-For", ip)
		},
		"Mutation.refreshSession": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", refresh, map[string]any{"r": fmt.Sprint("agr_made_up_", i)}, "X-Forwarded-For", ip)
		},
		"Mutation.signUp": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", signUp, map[string]any{"u": fmt.Sprint("flood", i), "e": fmt.Sprintf("flood%d@example.com", i)}, "X-Forwarded-For", ip)
		},
		"Mutation.requestPasswordReset":     mailFlood("requestPasswordReset"),
		"Mutation.requestSignInCode":        mailFlood("requestSignInCode"),
		"Mutation.requestEmailVerification": mailFlood("requestEmailVerification"),
		"Mutation.verifyEmail":              tokenFlood(`mutation($t: String!) { verifyEmail(input: {token: $t}) { id } }`),
		"Mutation.resetPassword":            tokenFlood(`mutation($t: String!) { resetPassword(input: {token: $t, newPassword: "a-long-new-password"}) { id } }`),
		"Mutation.acceptInvitation":         tokenFlood(`mutation($t: String!) { acceptInvitation(input: {token: $t, password: "a-long-new-password"}) { id } }`),
		"Mutation.createSessionUsingEmailCode": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", `mutation($e: String!) { createSessionUsingEmailCode(input: {email: $e, code: "123456"}) { token } }`,
				map[string]any{"e": fmt.Sprintf("flood%d@example.com", i)}, "X-Forwarded-For", ip)
		},
		"Mutation.beginPasskeySignIn": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", `mutation { beginPasskeySignIn }`, nil, "X-Forwarded-For", ip)
		},
		"Mutation.createSessionUsingPasskey": func(i int, ip string) *gqlResponse {
			// A well-formed response to a challenge nobody made: refused, nothing kept.
			cd := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"type":"webauthn.get","challenge":"flood%d","origin":"http://localhost:8080"}`, i))
			return srv.post(t, "", `mutation($r: String!) { createSessionUsingPasskey(input: {response: $r}) { token } }`,
				map[string]any{"r": fmt.Sprintf(`{"response":{"clientDataJSON":%q}}`, cd)}, "X-Forwarded-For", ip)
		},
		"Query._service": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", "{ _service { sdl } }", nil, "X-Forwarded-For", ip)
		},
		"Query._entities": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id } } }`,
				map[string]any{"r": []map[string]any{{"__typename": "User", "id": strconv.Itoa(1 + i%3)}}}, "X-Forwarded-For", ip)
		},
		"APQ lookup": func(i int, ip string) *gqlResponse {
			return srv.postAPQ(t, "", sha256Hex(fmt.Sprint("guess ", i)), "", "X-Forwarded-For", ip)
		},
		"APQ registration": func(i int, ip string) *gqlResponse {
			q := floodQuery(i, apq.MaxQueryBytes)
			return srv.postAPQ(t, "", sha256Hex(q), q, "X-Forwarded-For", ip)
		},
		"Query.signInProviders": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", "{ signInProviders { name } }", nil, "X-Forwarded-For", ip)
		},
		"Mutation.createSessionUsingAuthorizationCode": func(i int, ip string) *gqlResponse {
			return srv.post(t, "", codeLogin, map[string]any{"c": fmt.Sprint("made-up-code-", i), "v": ssoVerifier, "r": ssoAppRedirect},
				"X-Forwarded-For", ip)
		},
		"GET /auth/{provider}/start": func(i int, ip string) *gqlResponse {
			return srv.get(t, nil, "/auth/acme/start", "X-Forwarded-For", ip)
		},
		"GET /auth/{provider}/callback": func(i int, ip string) *gqlResponse {
			return srv.get(t, nil, fmt.Sprintf("/auth/acme/callback?state=made-up-%d&code=c", i), "X-Forwarded-For", ip)
		},
		"POST /introspect": func(i int, ip string) *gqlResponse {
			return srv.introspect(t, fmt.Sprint("guess-", i), "Authorization", fmt.Sprint("Bearer guess-", i), "X-Forwarded-For", ip)
		},
	}
	// used is what the keys under the server's prefix take (MEMORY USAGE, summed): the data a
	// flood left, not Redis's own bookkeeping (its tables grow in steps as keys are added,
	// and client connections come and go), which INFO's used_memory would count too.
	used := func() int64 {
		var total int64
		for _, k := range prefixKeys(t, rs) {
			n, err := rs.Client.MemoryUsage(t.Context(), k).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				t.Fatal(err)
			}
			total += n
		}
		return total
	}
	srv.login(t, adminName, adminPass)
	// The mail queue's stream, group and scripts are made once, by the first mail: made here,
	// they are not counted against the first entry that mails.
	ok(t, "requestPasswordReset", srv.post(t, "", `mutation { requestPasswordReset(input: {email: "warm-up@example.com"}) { email } }`,
		nil, "X-Forwarded-For", "198.51.100.1"))
	// A worker poll later, the message was expanded and acknowledged (its scripts loaded).
	time.Sleep(2 * time.Second)
	for k, w := range httpapi.AnonymousWrites {
		flood, ok := floods[w.Entry]
		if !ok {
			t.Errorf("%s: no flood in this test", w.Entry)
			continue
		}
		ip := fmt.Sprintf("203.0.113.%d", 100+k)
		keys, mem := len(prefixKeys(t, rs)), used()
		// Many times the burst of every rule involved.
		n := 150
		for _, r := range w.Rules {
			n = max(n, 2*ratelimit.DefaultRules()[r].Burst)
		}
		statuses := map[int]int{}
		for i := range n {
			r := flood(i, ip)
			statuses[r.Status]++
			if r.Status >= 500 {
				t.Fatalf("%s, request %d: %d %s", w.Entry, i, r.Status, r.Raw)
			}
		}
		// Each rule keeps a bucket per address, and the per-account rules one per account
		// tried before the address's own limit stopped it (its burst, at most).
		bound := len(w.Rules)
		if slices.Contains(w.Rules, ratelimit.RuleLoginIP) {
			bound += 2 * ratelimit.DefaultRules()[ratelimit.RuleLoginIP].Burst
		}
		if slices.Contains(w.Rules, ratelimit.RuleEmailCodeID) {
			bound += ratelimit.DefaultRules()[ratelimit.RuleLoginIP].Burst // one more bucket per address tried
		}
		// A begun passkey sign-in keeps its ceremony (until it expires), one per request the
		// address's limit let through: its burst, and what refills while the flood runs.
		if slices.Contains(w.Rules, ratelimit.RulePasskeyIP) {
			bound += 2 * ratelimit.DefaultRules()[ratelimit.RulePasskeyIP].Burst
		}
		// A mail request the address's limit let through leaves the recipient's bucket, its
		// message's sent marker and (once) the queue's stream and group.
		// A start the address's limit let through leaves its flow (until it expires).
		if slices.Contains(w.Rules, ratelimit.RuleSSOIP) {
			bound += 2 * ratelimit.DefaultRules()[ratelimit.RuleSSOIP].Burst
		}
		for _, r := range []string{ratelimit.RuleMailIP, ratelimit.RuleSignUpIP} {
			if slices.Contains(w.Rules, r) {
				bound += 2*ratelimit.DefaultRules()[r].Burst + 2
			}
		}
		addedKeys, addedMem := len(prefixKeys(t, rs))-keys, used()-mem
		t.Logf("%s: %d requests (statuses %v): %d keys, %d bytes of Redis memory", w.Entry, n, statuses, addedKeys, addedMem)
		if addedKeys > bound {
			t.Errorf("%s: %d requests left %d keys in Redis, bound %d", w.Entry, n, addedKeys, bound)
		}
		if addedMem > 64<<10 {
			t.Errorf("%s: %d requests grew Redis by %d bytes", w.Entry, n, addedMem)
		}
		// Buckets of earlier floods expire meanwhile, so a read may see fewer keys than before.
		if w.Writes == "" && addedKeys > 0 {
			t.Errorf("%s: listed as writing nothing, and left %d keys", w.Entry, addedKeys)
		}
		if statuses[http.StatusTooManyRequests] == 0 && addedKeys > 0 {
			t.Errorf("%s: %d requests from one address wrote, and no limit refused any", w.Entry, n)
		}
		// From an address of its own each time: one address signing in after every flood
		// would meet login:ip (20 a minute) once there are more than 20 entries.
		if r := srv.post(t, "", loginU, map[string]any{"u": adminName, "p": adminPass},
			"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", 100+k)); r.code() != "" {
			t.Fatalf("sign-in after the flood of %s: %s", w.Entry, r.Raw)
		}
	}
}
