package apq

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/authgraph/authgraph/internal/clock"
)

func hashOf(q string) string {
	b := sha256.Sum256([]byte(q))
	return hex.EncodeToString(b[:])
}

func TestCacheKeepsAndObserves(t *testing.T) {
	var seen []string
	c := New(1<<20, time.Hour, nil, func(r string) { seen = append(seen, r) })
	q := "{ version }"
	h := hashOf(q)
	if _, ok := c.Get(h); ok {
		t.Fatal("hit before anything was added")
	}
	if !c.Add(h, q) {
		t.Fatal("not kept")
	}
	if got, ok := c.Get(h); !ok || got != q {
		t.Fatalf("Get = %q, %v", got, ok)
	}
	if strings.Join(seen, ",") != "miss,store,hit" {
		t.Fatalf("observed %v", seen)
	}
}

func TestCacheRefusesOddHashesAndHugeQueries(t *testing.T) {
	c := New(1<<20, time.Hour, nil, nil)
	huge := "{ version }" + strings.Repeat(" ", MaxQueryBytes)
	if c.Add(hashOf(huge), huge) || c.Len() != 0 {
		t.Fatal("a query over MaxQueryBytes was kept")
	}
	for _, h := range []string{"", "abc", strings.Repeat("G", 64), strings.ToUpper(hashOf("{ version }")), hashOf("x") + "0"} {
		if c.Add(h, "{ version }") {
			t.Fatalf("hash %q was accepted", h)
		}
	}
	small := New(8*1024, time.Hour, nil, nil)
	mid := "{ version }" + strings.Repeat(" ", 1024) // over an eighth of 8 KiB with its overhead
	if small.Add(hashOf(mid), mid) {
		t.Fatal("a document over an eighth of the budget was kept")
	}
}

// TestCacheStaysWithinItsBudget: a flood of distinct documents, of the largest size kept and
// of the smallest, never takes the cache past its budget; the newest are kept, the oldest
// evicted.
func TestCacheStaysWithinItsBudget(t *testing.T) {
	const budget = 1 << 20
	c := New(budget, time.Hour, nil, nil)
	for i := range 2000 {
		q := fmt.Sprintf("query Q%d{version}#", i)
		q += strings.Repeat(" ", MaxQueryBytes-len(q))
		if !c.Add(hashOf(q), q) {
			t.Fatalf("document %d not kept", i)
		}
		if c.Bytes() > budget {
			t.Fatalf("after %d documents: %d bytes, budget %d", i+1, c.Bytes(), budget)
		}
	}
	if want := budget / (MaxQueryBytes + entryOverhead); c.Len() != want {
		t.Fatalf("%d documents kept, want %d", c.Len(), want)
	}
	last := fmt.Sprintf("query Q%d{version}#", 1999)
	last += strings.Repeat(" ", MaxQueryBytes-len(last))
	if !c.Has(hashOf(last)) || c.Has(hashOf("query Q0{version}#"+strings.Repeat(" ", MaxQueryBytes-len("query Q0{version}#")))) {
		t.Fatal("eviction is not least recently used")
	}
	tiny := New(budget, time.Hour, nil, nil)
	for i := range 20000 {
		q := fmt.Sprintf("{v%d:version}", i)
		tiny.Add(hashOf(q), q)
	}
	if tiny.Bytes() > budget || tiny.Len() > budget/entryOverhead {
		t.Fatalf("tiny documents: %d bytes in %d entries", tiny.Bytes(), tiny.Len())
	}
}

func TestCacheLeastRecentlyUsedGoesFirst(t *testing.T) {
	q := func(i int) string {
		s := fmt.Sprintf("query Q%d{version}#", i)
		return s + strings.Repeat(" ", 1000-len(s))
	}
	c := New(8*(1000+entryOverhead)*3, time.Hour, nil, nil) // room for 24
	for i := range 24 {
		c.Add(hashOf(q(i)), q(i))
	}
	c.Get(hashOf(q(0))) // used: no longer the oldest
	c.Add(hashOf(q(24)), q(24))
	if !c.Has(hashOf(q(0))) || c.Has(hashOf(q(1))) {
		t.Fatal("the evicted document is not the least recently used")
	}
}

func TestCacheExpiresUnusedDocuments(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := New(1<<20, time.Hour, clk, nil)
	q := "{ version }"
	c.Add(hashOf(q), q)
	clk.Advance(59 * time.Minute)
	if _, ok := c.Get(hashOf(q)); !ok {
		t.Fatal("expired early")
	}
	clk.Advance(59 * time.Minute) // a use restarted the hour
	if _, ok := c.Get(hashOf(q)); !ok {
		t.Fatal("a use did not restart the TTL")
	}
	clk.Advance(time.Hour)
	if _, ok := c.Get(hashOf(q)); ok {
		t.Fatal("kept past its TTL")
	}
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Fatalf("expired entry still counted: %d, %d bytes", c.Len(), c.Bytes())
	}
}

func parse(t *testing.T, q string) *ast.QueryDocument {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestInlineCredential(t *testing.T) {
	for _, tc := range []struct{ q, want string }{
		{`mutation { createSessionUsingUsername(input: {username: "a", password: "hunter2"}) { token } }`, "password"},
		{`mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`, ""},
		{`mutation($p: String! = "hunter2") { createSessionUsingUsername(input: {username: "a", password: $p}) { token } }`, "password"},
		{`mutation($p: String = null) { createSessionUsingUsername(input: {username: "a", password: $p}) { token } }`, ""},
		// A whole input object as the variable's default carries the credential inside.
		{`mutation($i: CreateSessionUsingUsernameInput! = {username: "alice", password: "correct horse"}) { createSessionUsingUsername(input: $i) { token } }`, "password"},
		{`mutation($i: RefreshSessionInput = {refreshToken: "agr_x"}) { refreshSession(input: $i) { token } }`, "refreshToken"},
		{`mutation($i: CreateSessionUsingUsernameInput! = {username: "alice", password: null}) { createSessionUsingUsername(input: $i) { token } }`, ""},
		{`mutation { refreshSession(input: {refreshToken: "agr_x"}) { token } }`, "refreshToken"},
		{`mutation { refreshSession(input: {refreshToken: null}) { token } }`, ""},
		{`mutation { changePassword(input: {currentPassword: $a, newPassword: "b"}) { id } }`, "newPassword"},
		{`mutation { confirmTotp(input: {code: "123456"}) { recoveryCodes } }`, "code"},
		{`mutation { createSessionUsingUserKey(input: {userKeyId: 1, secret: "agk_x"}) { token } }`, "secret"},
		{`mutation { x(list: [{otp: "1"}]) { id } }`, "otp"},
		{`mutation { x(token: ["a", $b]) { id } }`, "token"},
		{`query { ...F } fragment F on Query { x(input: {password: "p"}) }`, "password"},
		{`query { x @include(if: true) @d(secret: "s") }`, "secret"},
		{`query { me { username } version }`, ""},
		{`query { user(id: "N004User1") { username } }`, ""},
	} {
		if got := InlineCredential(parse(t, tc.q)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.q, got, tc.want)
		}
	}
}

// TestCacheRacingAddsStayWithinBudget: many goroutines adding and reading at once never take
// the cache past its budget, and its byte count matches what it holds (go test -race).
func TestCacheRacingAddsStayWithinBudget(t *testing.T) {
	const budget = 256 << 10
	c := New(budget, time.Hour, nil, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				q := floodDoc((g%2)*1000+i%150, 4096) // four goroutines add each document
				c.Add(hashOf(q), q)
				c.Get(hashOf(floodDoc(i, 4096)))
				if b := c.Bytes(); b > budget {
					t.Errorf("%d bytes, budget %d", b, budget)
					return
				}
			}
		}()
	}
	wg.Wait()
	sum := 0
	for el := c.lru.Front(); el != nil; el = el.Next() {
		sum += size(el.Value.(*entry).query)
	}
	if sum != c.Bytes() || c.lru.Len() != len(c.items) {
		t.Fatalf("accounting: %d bytes counted, %d held; %d in the list, %d in the map", c.Bytes(), sum, c.lru.Len(), len(c.items))
	}
}

func floodDoc(n, size int) string {
	q := fmt.Sprintf("query Q%d{version}#", n)
	return q + strings.Repeat(" ", size-len(q))
}
