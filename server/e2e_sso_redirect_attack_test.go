package main

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// An attacker's view of an app's start (/auth/acme/start?redirect=…): every redirect that is
// not a listed URI, nor a listed loopback one in its one canonical spelling with another
// port, is refused before anything is stored, and what an anonymous client can make the
// server keep stays small. Over HTTP, on Redis.

// hostileRedirects are redirects an attacker might try against the listed appLoopback
// (http://127.0.0.1/callback) and ssoAppRedirect (http://app.test/cb).
var hostileRedirects = []string{
	// Other hosts, disguised.
	"https://evil.example/cb",
	"http://127.0.0.1@evil.example/callback",
	"http://127.0.0.1:49152@evil.example/callback",
	"http://127.0.0.1.evil.example/callback",
	"http://127.0.0.1%2eevil.example/callback",
	"http://127.0.0.1%2f@evil.example/callback",
	`http://127.0.0.1:49152\@evil.example/callback`,
	`http://127.0.0.1:49152\evil.example/callback`,
	"http://evil.example#@127.0.0.1/callback",
	"http://evil.example?@127.0.0.1/callback",
	"//127.0.0.1:49152/callback",
	"http:127.0.0.1/callback",
	"http:/127.0.0.1/callback",
	"http:///127.0.0.1/callback",
	"http://app.test.evil.example/cb",
	"http://app.test@evil.example/cb",
	"http://evil.example/http://app.test/cb",
	// Loopback in other spellings: not the literal listed, so not the machine's own for sure.
	"http://localhost:49152/callback",
	"http://127.0.0.2:49152/callback",
	"http://127.1:49152/callback",
	"http://2130706433:49152/callback",
	"http://0x7f000001:49152/callback",
	"http://[::ffff:127.0.0.1]:49152/callback",
	"http://[0:0:0:0:0:0:0:1]:49152/callback",
	"http://[::1%25lo]:49152/callback",
	"http://127.0.0.1.:49152/callback",
	"https://127.0.0.1:49152/callback",
	// The listed loopback URI, spelt another way: one canonical form only, so that the
	// checked string, the stored one and the one the browser is sent to are the same.
	"HTTP://127.0.0.1:49152/callback",
	"http://127.0.0.1:049152/callback",
	"http://127.0.0.1:" + strings.Repeat("0", 40) + "49152/callback",
	"http://127.0.0.1:/callback",
	"http://127.0.0.1:49152/callback#",
	"http://127.0.0.1:49152/callback#frag",
	"http://127.0.0.1:0/callback",
	"http://127.0.0.1:65536/callback",
	"http://127.0.0.1:-1/callback",
	"http://127.0.0.1:+80/callback",
	// Other paths and queries.
	"http://127.0.0.1:49152/callback?",
	"http://127.0.0.1:49152/callback?x=1",
	"http://127.0.0.1:49152/callback/",
	"http://127.0.0.1:49152//callback",
	"http://127.0.0.1:49152/%63allback",
	"http://127.0.0.1:49152/Callback",
	"http://127.0.0.1:49152/callback/../callback",
	"http://127.0.0.1:49152/callback;x",
	"http://app.test/cb?x=1",
	"http://app.test/cb#x",
	"http://app.test:80/cb",
	"http://APP.test/cb",
	"http://app.test./cb",
	// Schemes that run or read.
	"javascript:alert(1)",
	"javascript://127.0.0.1/callback%0aalert(1)",
	"data:text/html,<script>alert(1)</script>",
	"file:///etc/passwd",
	"com.example.app:/oauth2redirect", // a private-use scheme this provider does not list
	// Control characters and spaces.
	" http://127.0.0.1:49152/callback",
	"http://127.0.0.1:49152/callback ",
	"http://127.0.0.1:49152/callback\t",
	"http://127.0.0.1:49152/callback\r\nSet-Cookie: x=y",
	"http://127.0.0.1:49152/call\x00back",
}

func TestSSORedirectAttacks(t *testing.T) {
	op := startSSOProvider(t)
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_SSO_PROVIDERS": appProviders(op), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL,
		"AUTHGRAPH_SIGNUP": "OPEN", "AUTHGRAPH_RATE_LIMITS": "sso:ip=1000/1m/1000"})
	flows := func() int {
		n := 0
		for _, k := range prefixKeys(t, rs) {
			if strings.HasPrefix(k, rs.Prefix+"af:") {
				n++
			}
		}
		return n
	}
	challenge := s256(strings.Repeat("v", 43))
	for _, redirect := range hostileRedirects {
		q := url.Values{"redirect": {redirect}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		r := srv.get(t, nil, "/auth/acme/start?"+q.Encode())
		if r.Status == http.StatusFound || r.Header.Get("Location") != "" {
			t.Errorf("redirect=%q: %d, to %s", redirect, r.Status, r.Header.Get("Location"))
			continue
		}
		wantStatusCode(t, "redirect="+redirect, r, http.StatusBadRequest, "BAD_USER_INPUT")
		if len(readSetCookies(r.Header)) != 0 {
			t.Errorf("redirect=%q: a refused start set a cookie", redirect)
		}
	}
	if n := flows(); n != 0 {
		t.Errorf("refused starts stored %d flows", n)
	}
	// The canonical spellings still work.
	for _, redirect := range []string{"http://127.0.0.1:49152/callback", "http://127.0.0.1/callback", "http://[::1]:49152/callback", ssoAppRedirect} {
		q := url.Values{"redirect": {redirect}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		if r := srv.get(t, nil, "/auth/acme/start?"+q.Encode()); r.Status != http.StatusFound {
			t.Errorf("redirect=%q: %d %s", redirect, r.Status, r.Raw)
		}
	}
}

// TestSSOAppStartStorageBounded: an anonymous client floods the app's start from one
// address with the largest parameters it can (a 512-character state, and redirects padded
// every way the server might accept), under the default limits. Each flow kept is a small
// record, and all of them together a few tens of KiB, as for the other anonymous writes
// (TestAnonymousFloodsStayBounded).
func TestSSOAppStartStorageBounded(t *testing.T) {
	op := startSSOProvider(t)
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_SSO_PROVIDERS": appProviders(op), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL})
	state := strings.Repeat("s", 512)
	challenge := s256(strings.Repeat("v", 43))
	// Near the server's 32 KiB header limit.
	pad := strings.Repeat("0", 28<<10)
	padded := []string{
		"http://127.0.0.1:" + pad + "49152/callback",
		"http://[::1]:" + pad + "49152/callback",
		"http://127.0.0.1:49152/callback#" + pad,
	}
	statuses := map[int]int{}
	for i := range 40 {
		q := url.Values{"redirect": {padded[i%len(padded)]}, "state": {state}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		statuses[srv.get(t, nil, "/auth/acme/start?"+q.Encode()).Status]++
	}
	// And the largest start that is allowed, until the address's limit stops it.
	for range 40 {
		q := url.Values{"redirect": {"http://127.0.0.1:65535/callback"}, "state": {state}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		statuses[srv.get(t, nil, "/auth/acme/start?"+q.Encode()).Status]++
	}
	var total, largest int64
	for _, k := range prefixKeys(t, rs) {
		if !strings.HasPrefix(k, rs.Prefix+"af:") {
			continue
		}
		n, err := rs.Client.MemoryUsage(t.Context(), k).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		total, largest = total+n, max(largest, n)
	}
	t.Logf("80 starts from one address (statuses %v): flows take %d bytes of Redis memory, the largest %d", statuses, total, largest)
	if statuses[http.StatusTooManyRequests] == 0 {
		t.Errorf("no start was limited: %v", statuses)
	}
	if largest > 2<<10 {
		t.Errorf("one anonymous start stored a flow of %d bytes", largest)
	}
	if total > 64<<10 {
		t.Errorf("80 anonymous starts from one address stored %d bytes of flows", total)
	}
}
