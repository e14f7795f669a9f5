package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/redistest"
)

// The failover tests kill the Redis primary (SIGKILL) under a mixed load on two authgraph
// replicas — password sign-ins, refreshable sign-ins and their refreshes, user key creation,
// sign-outs and authenticated reads — and then check every write a client was told had
// succeeded: each session token still authenticates, each key still signs in, each refreshed
// pair still works, and each ended session stays ended. A write acknowledged by the old
// primary that its replica had not received is lost with it; with
// AUTHGRAPH_REDIS_WAIT_REPLICAS=1 none may be. To expose that risk deterministically rather
// than by luck (asynchronous replication on loopback copies within a millisecond), the
// "replica behind" runs stop the replica's replication link (redistest's FreezeReplication,
// a partition of that one link) a moment before the kill.
//
// The figures are logged as "FAILOVER" lines (go test -v -run Failover ./server/) and quoted
// in docs/operations.md.

// failoverTopology is what the tests do to one Redis deployment.
type failoverTopology struct {
	name, url string
	freeze    func() // stops replication to the replica that will take over; nil: cannot
	kill      func() // kills the primary
	// waitFailover waits until a replica has taken over and answers when.
	waitFailover func(killed time.Time) (time.Duration, error)
	restart      func() // starts the killed primary again, as a replica; nil: left dead
}

type failoverRun struct {
	wait   bool // AUTHGRAPH_REDIS_WAIT_REPLICAS=1
	freeze bool // the replica falls behind before the kill
}

// failoverFigures is what a run measured.
type failoverFigures struct {
	answers            map[string]int // every answer during the load, by status (and code)
	unauthorized       int            // 401s during the load
	gap5xx             int            // 5xx (and transport errors) from the kill to recovery
	failover, recovery time.Duration  // kill → replica promoted; kill → last failed answer
	acked, lost        map[string]int // acknowledged writes checked, and lost, by kind
}

func (f failoverFigures) lostTotal() int {
	n := 0
	for _, v := range f.lost {
		n += v
	}
	return n
}

func TestFailoverSentinel(t *testing.T) {
	for _, run := range []failoverRun{{false, false}, {false, true}, {true, true}} {
		t.Run(runName(run), func(t *testing.T) {
			r := redistest.StartReplicated(t)
			topo := failoverTopology{
				name: "sentinel", url: r.URL, freeze: r.FreezeReplication, kill: r.KillPrimary,
				waitFailover: func(k time.Time) (time.Duration, error) { return r.WaitFailover(k, 30*time.Second) },
				restart:      r.RestartOldPrimary,
			}
			checkFailover(t, topo, run, runFailover(t, topo, run))
		})
	}
}

// With two replicas, the promoted one still has a replica to acknowledge credential writes:
// with the option on, writes resume once the failover is done, the old primary left dead,
// and nothing acknowledged is lost although both replicas were behind.
func TestFailoverSentinelTwoReplicas(t *testing.T) {
	r := redistest.StartReplicatedN(t, 2)
	topo := failoverTopology{
		name: "sentinel, 2 replicas", url: r.URL, freeze: r.FreezeReplication, kill: r.KillPrimary,
		waitFailover: func(k time.Time) (time.Duration, error) { return r.WaitFailover(k, 30*time.Second) },
	}
	run := failoverRun{wait: true, freeze: true}
	f := runFailover(t, topo, run)
	checkFailover(t, topo, run, f)
	// runFailover has checked that the answers recovered although the old primary stays
	// dead: the second replica acknowledges the credential writes. How fast depends on the
	// Sentinels pointing it at the new primary, which a loaded machine can delay.
	if n, err := r.ReplicasOfMaster(t.Context()); err != nil || n != 1 {
		t.Errorf("the new primary has %d replicas online (%v), want the second one", n, err)
	}
}

func TestFailoverCluster(t *testing.T) {
	// The cluster cannot freeze one replication link (its replicas find their masters through
	// the cluster bus), so it runs without the replica held back.
	for _, run := range []failoverRun{{false, false}, {true, false}} {
		t.Run(runName(run), func(t *testing.T) {
			c := redistest.StartReplicatedCluster(t, 2*time.Second)
			masters, err := c.Masters(t.Context())
			if err != nil || len(masters) != redistest.ClusterMasters {
				t.Fatalf("masters: %v %v", masters, err)
			}
			victim := masters[0]
			topo := failoverTopology{
				name: "cluster", url: c.URL, kill: func() { c.Kill(victim) },
				waitFailover: func(k time.Time) (time.Duration, error) {
					if err := c.WaitPromoted(victim, 30*time.Second); err != nil {
						return 0, err
					}
					if err := c.WaitHealed(10*time.Second, victim); err != nil {
						return 0, err
					}
					return time.Since(k), nil
				},
				restart: func() { c.Restart(victim) },
			}
			checkFailover(t, topo, run, runFailover(t, topo, run))
		})
	}
}

func runName(r failoverRun) string {
	s := "wait off"
	if r.wait {
		s = "wait on"
	}
	if r.freeze {
		s += ", replica behind"
	}
	return s
}

// checkFailover logs the figures and holds them to the rules: with the option on, no write
// acknowledged is lost and no request is refused with 401; with the replica held back and
// the option off, writes are lost (else the test could not see a loss at all).
func checkFailover(t *testing.T, topo failoverTopology, run failoverRun, f failoverFigures) {
	t.Helper()
	t.Logf("FAILOVER %s | %s | 401: %d | 5xx in gap: %d | failover: %v | recovered: %v | lost: %d of %d %v | answers %v",
		topo.name, runName(run), f.unauthorized, f.gap5xx, f.failover.Round(10*time.Millisecond),
		f.recovery.Round(10*time.Millisecond), f.lostTotal(), sum(f.acked), f.lost, f.answers)
	for k, n := range f.acked {
		if n == 0 {
			t.Errorf("no %s was acknowledged: the load did not exercise it", k)
		}
	}
	switch {
	case run.wait:
		if f.lostTotal() != 0 {
			t.Errorf("with AUTHGRAPH_REDIS_WAIT_REPLICAS=1, %d acknowledged writes were lost: %v", f.lostTotal(), f.lost)
		}
		if f.unauthorized != 0 {
			t.Errorf("with AUTHGRAPH_REDIS_WAIT_REPLICAS=1, %d requests were answered 401", f.unauthorized)
		}
	case run.freeze:
		if f.lostTotal() == 0 {
			t.Errorf("with the replica held back and no wait, no acknowledged write was lost: the check cannot see a loss")
		}
	}
	for k := range f.answers {
		if strings.HasPrefix(k, "500") {
			t.Errorf("a 500 during the failover: %v", f.answers)
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// ledger is what the clients were told: every acknowledged write, to check afterwards.
type ledger struct {
	mu        sync.Mutex
	sessions  []string    // session tokens of answered sign-ins
	keys      [][2]string // id, secret of answered createUserKey
	rotations [][2]string // access, refresh token of answered refreshes
	signedOut []string    // tokens whose deleteSession was answered
}

func (l *ledger) add(p *[]string, v string) {
	l.mu.Lock()
	*p = append(*p, v)
	l.mu.Unlock()
}

func (l *ledger) addPair(p *[][2]string, a, b string) {
	l.mu.Lock()
	*p = append(*p, [2]string{a, b})
	l.mu.Unlock()
}

func (l *ledger) randomSession() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.sessions) == 0 {
		return ""
	}
	return l.sessions[rand.IntN(len(l.sessions))]
}

// answer is one HTTP answer, or a transport error (status 0).
type answer struct {
	status int
	data   map[string]any
	code   string
}

var failoverHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func gql(ctx context.Context, base, token, query string, vars map[string]any) answer {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return answer{}
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("x-auth-token", token)
	}
	resp, err := failoverHTTP.Do(req)
	if err != nil {
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(b, &out)
	a := answer{status: resp.StatusCode, data: out.Data}
	if len(out.Errors) > 0 {
		a.code, _ = out.Errors[0].Extensions["code"].(string)
		if a.code == "" {
			a.code = "ERROR"
		}
	}
	return a
}

// field reads a string at a dotted path of the answer's data.
func (a answer) field(path string) string {
	var v any = a.data
	for p := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (a answer) ok() bool { return a.status == http.StatusOK && a.code == "" }

const (
	failoverKeyLogin = `mutation($k: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $k, secret: $s}) { token } }`
	failoverMe       = `{ me { id } }`
)

// runFailover starts two authgraph replicas on the deployment, runs the load, kills the
// primary, waits for the failover, starts the old primary again (as an operator, or an
// orchestrator, would), and answers the figures once every acknowledged write is checked.
func runFailover(t *testing.T, topo failoverTopology, run failoverRun) failoverFigures {
	t.Helper()
	env := map[string]string{
		"AUTHGRAPH_REDIS_URL": topo.url, "AUTHGRAPH_REDIS_PREFIX": "fo:", "AUTHGRAPH_REDIS_TIMEOUT": "1s",
		"AUTHGRAPH_RATE_LIMITS": "off", "AUTHGRAPH_LOG_LEVEL": "warn",
		// Cheap hashes: the load is about Redis, and the box has two cores.
		"AUTHGRAPH_ARGON2_MEMORY": "1024", "AUTHGRAPH_ARGON2_TIME": "1",
		// Short, so that the checks after recovery read Redis, not a replica's memory.
		"AUTHGRAPH_SESSION_CACHE_TTL": "1s",
	}
	if run.wait {
		env["AUTHGRAPH_REDIS_WAIT_REPLICAS"], env["AUTHGRAPH_REDIS_WAIT_TIMEOUT"] = "1", "200ms"
	}
	servers := []*testServer{startServer(t, env), startServer(t, env)}
	admin := servers[0].login(t, adminName, adminPass)
	const workers = 6
	for i := range workers {
		servers[0].createUser(t, admin, fmt.Sprintf("worker%d", i), "worker-password-1")
	}

	var (
		led      ledger
		mu       sync.Mutex
		answers  = map[string]int{}
		unauth   int
		gap      int
		lastFail time.Time
		killedAt atomic.Pointer[time.Time]
	)
	ctx, stop := context.WithCancel(context.Background())
	record := func(a answer) answer {
		if ctx.Err() != nil {
			return answer{} // cut short by the end of the load, not by Redis
		}
		mu.Lock()
		defer mu.Unlock()
		key := fmt.Sprint(a.status)
		if a.code != "" {
			key += " " + a.code
		}
		answers[key]++
		if a.status == http.StatusUnauthorized {
			unauth++
		}
		failed := a.status == 0 || a.status >= 500
		if failed {
			lastFail = time.Now()
			if killedAt.Load() != nil {
				gap++
			}
		}
		return a
	}

	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("worker%d", w)
			creds := map[string]any{"u": user, "p": "worker-password-1"}
			var mine string // a session of this worker's, for createUserKey
			for i := 0; ctx.Err() == nil; i++ {
				a, b := servers[(w+i)%2].URL, servers[(w+i+1)%2].URL
				switch i % 5 {
				case 0: // a sign-in, used at once on the other replica
					r := record(gql(ctx, a, "", loginMutation, creds))
					if tok := r.field("createSessionUsingUsername.token"); r.ok() && tok != "" {
						led.add(&led.sessions, tok)
						mine = tok
						record(gql(ctx, b, tok, failoverMe, nil))
					}
				case 1: // authenticated reads of sessions acknowledged earlier
					for range 3 {
						if tok := led.randomSession(); tok != "" {
							record(gql(ctx, a, tok, failoverMe, nil))
						}
					}
				case 2: // a user key
					if mine == "" {
						continue
					}
					r := record(gql(ctx, a, mine, `mutation { createUserKey { id secret } }`, nil))
					if id, sec := r.field("createUserKey.id"), r.field("createUserKey.secret"); r.ok() && id != "" {
						led.addPair(&led.keys, id, sec)
					}
				case 3: // a refreshable sign-in, refreshed on the other replica
					r := record(gql(ctx, a, "", loginRefreshable, creds))
					ref := r.field("createSessionUsingUsername.refreshToken")
					if !r.ok() || ref == "" {
						continue
					}
					r = record(gql(ctx, b, "", refreshMutation, map[string]any{"r": ref}))
					if acc, next := r.field("refreshSession.token"), r.field("refreshSession.refreshToken"); r.ok() && acc != "" {
						led.addPair(&led.rotations, acc, next)
					}
				case 4: // a sign-in, then its sign-out on the other replica
					r := record(gql(ctx, a, "", loginMutation, creds))
					tok := r.field("createSessionUsingUsername.token")
					if !r.ok() || tok == "" {
						continue
					}
					r = record(gql(ctx, b, tok, `mutation { deleteSession { id } }`, nil))
					if r.ok() {
						led.add(&led.signedOut, tok)
					}
				}
			}
		}()
	}

	var f failoverFigures
	time.Sleep(2 * time.Second)
	if run.freeze {
		topo.freeze()
		time.Sleep(time.Second)
	}
	killed := time.Now()
	killedAt.Store(&killed)
	topo.kill()
	took, err := topo.waitFailover(killed)
	if err != nil {
		stop()
		wg.Wait()
		t.Fatalf("failover: %v", err)
	}
	f.failover = took
	// The old primary comes back a second later, as a replica of the new one (as an
	// orchestrator restarts it): with the option on, credential writes need it, the promoted
	// replica having no replica of its own until then.
	if topo.restart != nil {
		time.Sleep(time.Second)
		topo.restart()
	}
	// Recovered: no failed answer for 2 s (or give up 30 s after the kill).
	deadline := killed.Add(30 * time.Second)
	quiet := false
	for !quiet && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		quiet = time.Since(lastFail) > 2*time.Second
		mu.Unlock()
	}
	stop()
	wg.Wait()
	mu.Lock()
	f.answers, f.unauthorized, f.gap5xx = answers, unauth, gap
	if lastFail.After(killed) {
		f.recovery = lastFail.Sub(killed)
	}
	mu.Unlock()
	if !quiet {
		t.Errorf("still failing 30 s after the kill: %v", f.answers)
	}

	// The checks read Redis, not a replica's session cache.
	time.Sleep(1500 * time.Millisecond)
	f.acked, f.lost = checkLedger(t, servers, &led)
	return f
}

// checkLedger checks every acknowledged write, retrying an answer that is not yet a verdict
// (a 503 while the deployment settles).
func checkLedger(t *testing.T, servers []*testServer, led *ledger) (acked, lost map[string]int) {
	t.Helper()
	ctx := t.Context()
	settle := func(q func(base string) answer) answer {
		var a answer
		for i := range 50 {
			a = q(servers[i%2].URL)
			if a.status != 0 && a.status < 500 {
				return a
			}
			time.Sleep(100 * time.Millisecond)
		}
		return a
	}
	acked, lost = map[string]int{}, map[string]int{}
	var examples []string
	miss := func(kind, what string) {
		lost[kind]++
		if len(examples) < 5 {
			examples = append(examples, kind+": "+what)
		}
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	for _, tok := range led.sessions {
		acked["session"]++
		if a := settle(func(u string) answer { return gql(ctx, u, tok, failoverMe, nil) }); !a.ok() {
			miss("session", fmt.Sprint(a.status, a.code))
		}
	}
	for _, k := range led.keys {
		acked["key"]++
		a := settle(func(u string) answer {
			return gql(ctx, u, "", failoverKeyLogin, map[string]any{"k": k[0], "s": k[1]})
		})
		if !a.ok() || a.field("createSessionUsingUserKey.token") == "" {
			miss("key", fmt.Sprint(a.status, a.code))
		}
	}
	for _, p := range led.rotations {
		acked["refresh rotation"]++
		if a := settle(func(u string) answer { return gql(ctx, u, p[0], failoverMe, nil) }); !a.ok() {
			miss("refresh rotation", "access "+fmt.Sprint(a.status, a.code))
			continue
		}
		a := settle(func(u string) answer { return gql(ctx, u, "", refreshMutation, map[string]any{"r": p[1]}) })
		if !a.ok() {
			miss("refresh rotation", "refresh "+fmt.Sprint(a.status, a.code))
		}
	}
	for _, tok := range led.signedOut {
		acked["sign-out"]++
		if a := settle(func(u string) answer { return gql(ctx, u, tok, failoverMe, nil) }); a.status != http.StatusUnauthorized {
			miss("sign-out", fmt.Sprint("session answered ", a.status, a.code))
		}
	}
	sort.Strings(examples)
	if len(examples) > 0 {
		t.Logf("lost, for example: %v", examples)
	}
	return acked, lost
}

// With AUTHGRAPH_REDIS_WAIT_REPLICAS set and no replica to acknowledge, every credential write
// answers 503 with Retry-After (never a success that a failover could take back), reads still
// work, and ending a session that could not be confirmed answers 503 again when retried,
// instead of an error saying the session is gone.
func TestWaitReplicasWithoutReplicaIs503(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_RATE_LIMITS": "off"})
	admin := srv.login(t, adminName, adminPass) // made before the option is on
	r := srv.post(t, "", `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { id token } }`,
		map[string]any{"u": adminName, "p": adminPass})
	second, secondID := r.str(t, "createSessionUsingUsername.token"), r.str(t, "createSessionUsingUsername.id")
	srv.stop()
	waiting := startServer(t, map[string]string{
		"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix, "AUTHGRAPH_RATE_LIMITS": "off",
		"AUTHGRAPH_REDIS_WAIT_REPLICAS": "1", "AUTHGRAPH_REDIS_WAIT_TIMEOUT": "20ms",
	})
	for _, c := range []struct {
		name, token, query string
		vars               map[string]any
	}{
		{"sign-in", "", loginMutation, map[string]any{"u": adminName, "p": adminPass}},
		{"createUserKey", admin, `mutation { createUserKey { id secret } }`, nil},
		{"deleteSession", admin, `mutation($s: ObjectID) { deleteSession(input: {sessionId: $s}) { id } }`, map[string]any{"s": secondID}},
		{"deleteSession retried", admin, `mutation($s: ObjectID) { deleteSession(input: {sessionId: $s}) { id } }`, map[string]any{"s": secondID}},
	} {
		r := waiting.post(t, c.token, c.query, c.vars)
		if r.Status != http.StatusServiceUnavailable || r.code() != "SERVICE_UNAVAILABLE" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s without a replica: %d %s (Retry-After %q); want 503 SERVICE_UNAVAILABLE with Retry-After",
				c.name, r.Status, r.Raw, r.Header.Get("Retry-After"))
		}
	}
	if r := waiting.post(t, admin, failoverMe, nil); r.Status != http.StatusOK || r.code() != "" {
		t.Errorf("a read without a replica: %d %s", r.Status, r.Raw)
	}
	// The primary applied the revocation it could not confirm: the session is refused already.
	if r := waiting.post(t, second, failoverMe, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the session whose sign-out was not confirmed: %d %s; want 401", r.Status, r.Raw)
	}
}
