package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authgraph/authgraph/internal/loadtest"
)

// soak runs a constant mixed rate against one authgraph and one Redis for duration, and every
// sample interval reads the server's resident memory, goroutines and open sockets and
// Redis's used_memory. After warm-up they must stay flat: a leak (memory, goroutines,
// connections, keys that never expire) shows as growth from the first sample after warm-up
// to the last. Every request sent must be answered, and answered well: the counts by status
// add up to what was sent.
//
// The mix, in every 20 requests: 13 authenticated reads ({ me { id } }), a password sign-in
// and the sign-out of a session signed in earlier, a refreshable sign-in and the refresh of
// an earlier one, a user key's creation, a sign-in with an earlier key and the deletion of an
// earlier key; every 200, the reads move to a new session. Sessions and refresh tokens live minutes (the run's TTLs are
// short), so that what the load creates also expires within the run: Redis's memory levels
// off once the first of them expire, as a deployment's does at its TTLs.
func soak(ctx context.Context, bin string, duration, sample, warmup time.Duration, rate int) error {
	rs, srv, env, err := startStack(bin, "everysec", map[string]string{
		"AUTHGRAPH_RATE_LIMITS":       "off", // one client address signs in many times
		"AUTHGRAPH_SESSION_TTL":       "2m",
		"AUTHGRAPH_ACCESS_TOKEN_TTL":  "1m",
		"AUTHGRAPH_REFRESH_TOKEN_TTL": "2m",
		"AUTHGRAPH_ARGON2_MEMORY":     "8192", // the box is shared: cheaper hashes, same code
		"AUTHGRAPH_ARGON2_TIME":       "1",
	})
	if err != nil {
		return err
	}
	defer rs.remove()
	defer srv.stop()
	c := newClient(srv.addr, 8)
	pass := env["AUTHGRAPH_ADMIN_PASSWORD"]
	admin, err := c.login(ctx, "admin", pass)
	if err != nil {
		return err
	}
	rdb := rs.client()
	defer rdb.Close()

	fmt.Printf("soak: %d requests/s for %v (open loop, vegeta), sampled every %v; warm-up %v.\n"+
		"One authgraph, one Redis (AOF everysec) on loopback; sessions live 2m, refresh tokens 2m.\n\n",
		rate, duration, sample, warmup)

	mix := newSoakMix("http://"+srv.addr+"/graphql", admin, pass)
	// At most 64 connections: without a bound, a stall (this machine is shared) makes the
	// generator open more, which the server then keeps alive, and the figures would measure
	// the generator's pool rather than the server.
	attacker := vegeta.NewAttacker(vegeta.Workers(16), vegeta.MaxWorkers(2048), vegeta.Connections(64), vegeta.MaxConnections(64))
	results := attacker.Attack(vegeta.Targeter(mix.next), vegeta.Rate{Freq: rate, Per: time.Second}, duration, "soak")
	go func() { // an interrupt ends the run early, with its figures so far
		<-ctx.Done()
		attacker.Stop()
	}()

	var (
		mu      sync.Mutex
		total   = map[string]int{}
		window  vegeta.Metrics
		samples []soakSample
	)
	start := time.Now()
	done := make(chan struct{})
	go func() { // the sampler
		defer close(done)
		tick := time.NewTicker(sample)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			s := readSample(ctx, srv, rdb)
			mu.Lock()
			window.Close()
			s.at, s.p99, s.answered = time.Since(start), window.Latencies.P99, int(window.Requests)
			window = vegeta.Metrics{}
			mu.Unlock()
			samples = append(samples, s)
			if len(samples) == 1 {
				fmt.Printf("%8s %9s %10s %8s %8s %10s %10s %10s\n", "minute", "answered", "RSS MiB", "gorout.", "sockets", "Redis MiB", "audit MiB", "p99")
			}
			fmt.Printf("%8.1f %9d %10.1f %8d %8d %10.2f %10.2f %10s\n", s.at.Minutes(), s.answered, s.rssMiB, s.goroutines, s.sockets, s.redisMiB, s.auditMiB, ms(s.p99))
			if s.at+sample/2 > duration {
				return
			}
		}
	}()
	sent := 0
	for r := range results {
		sent++
		k := resultKey(r)
		if r.Code == http.StatusOK {
			k = mix.observe(r.Body)
		}
		mu.Lock()
		total[k]++
		window.Add(r)
		mu.Unlock()
	}
	<-done

	fmt.Printf("\nanswers: %d sent, by answer %v\n", sent, total)
	answered, shed, bad := 0, 0, 0
	for k, n := range total {
		answered += n
		switch k {
		case "200":
		case "503": // load shed (a full hashing queue): answered, with Retry-After
			shed += n
		default:
			bad += n
		}
	}
	fmt.Printf("clean 200: %d, shed 503: %d, other: %d\n", total["200"], shed, bad)
	var problems []string
	if answered != sent || sent < int(float64(rate)*duration.Seconds()*0.99) {
		problems = append(problems, fmt.Sprintf("%d sent at %d/s for %v, %d answered", sent, rate, duration, answered))
	}
	if bad > 0 {
		problems = append(problems, fmt.Sprintf("%d answers neither a clean 200 nor a shed 503", bad))
	}
	problems = append(problems, flatness(samples, warmup)...)
	if len(samples) >= 2 {
		first, last := samples[0], samples[len(samples)-1]
		fmt.Printf("\n%-22s %14s %14s\n", "", fmt.Sprintf("minute %.0f", first.at.Minutes()), fmt.Sprintf("minute %.0f", last.at.Minutes()))
		fmt.Printf("%-22s %14.1f %14.1f\n", "RSS MiB", first.rssMiB, last.rssMiB)
		fmt.Printf("%-22s %14d %14d\n", "goroutines", first.goroutines, last.goroutines)
		fmt.Printf("%-22s %14d %14d\n", "open sockets", first.sockets, last.sockets)
		fmt.Printf("%-22s %14.2f %14.2f\n", "Redis used_memory MiB", first.redisMiB, last.redisMiB)
		fmt.Printf("%-22s %14.2f %14.2f\n", "  of which audit MiB", first.auditMiB, last.auditMiB)
		fmt.Printf("%-22s %14s %14s\n", "p99", ms(first.p99), ms(last.p99))
	}
	if len(problems) > 0 {
		return fmt.Errorf("soak: %s", strings.Join(problems, "; "))
	}
	fmt.Println("\nsoak: every answer accounted for; flat after warm-up")
	return nil
}

type soakSample struct {
	at                  time.Duration
	answered            int
	rssMiB, redisMiB    float64
	auditMiB            float64 // the audit trail's streams, kept for their retention (90 days)
	goroutines, sockets int
	p99                 time.Duration
}

// flatness compares the last sample with the highest of those up to the end of warm-up (the
// noise a garbage-collected heap and a connection pool make): growth beyond that, by a share
// and an absolute floor both, is reported. Redis's memory is judged without the audit trail,
// which grows by design until its retention (90 days) and is reported apart.
func flatness(samples []soakSample, warmup time.Duration) []string {
	i := slices.IndexFunc(samples, func(s soakSample) bool { return s.at >= warmup })
	if i < 0 || i == len(samples)-1 {
		return []string{fmt.Sprintf("too few samples after the %v warm-up to judge flatness (run longer)", warmup)}
	}
	var base soakSample
	for _, s := range samples[:i+1] {
		base.rssMiB = max(base.rssMiB, s.rssMiB)
		base.goroutines = max(base.goroutines, s.goroutines)
		base.sockets = max(base.sockets, s.sockets)
		base.redisMiB = max(base.redisMiB, s.redisMiB-s.auditMiB)
	}
	b := samples[len(samples)-1]
	var out []string
	grew := func(what string, from, to, share, floor float64) {
		if to > from*(1+share) && to-from > floor {
			out = append(out, fmt.Sprintf("%s grew from %.1f (warm-up's highest) to %.1f", what, from, to))
		}
	}
	grew("RSS MiB", base.rssMiB, b.rssMiB, 0.20, 8)
	grew("goroutines", float64(base.goroutines), float64(b.goroutines), 0.25, 20)
	grew("open sockets", float64(base.sockets), float64(b.sockets), 0.25, 20)
	grew("Redis used_memory MiB without the audit trail", base.redisMiB, b.redisMiB-b.auditMiB, 0.20, 1)
	return out
}

// readSample reads the server's and Redis's figures now.
func readSample(ctx context.Context, srv *server, rdb *redis.Client) soakSample {
	var s soakSample
	pid := srv.cmd.Process.Pid
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				s.rssMiB = kb / 1024
			}
		}
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		for _, fd := range fds {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:") {
				s.sockets++
			}
		}
	}
	if srv.metrics != "" {
		if resp, err := http.Get("http://" + srv.metrics + "/metrics"); err == nil {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
					s.goroutines, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	if info, err := rdb.Info(ctx, "memory").Result(); err == nil {
		if n, ok := loadtest.Field(info, "used_memory"); ok {
			s.redisMiB = float64(n) / (1 << 20)
		}
	}
	iter := rdb.Scan(ctx, 0, "*}:audit", 1000).Iterator()
	for iter.Next(ctx) {
		if n, err := rdb.MemoryUsage(ctx, iter.Val()).Result(); err == nil {
			s.auditMiB += float64(n) / (1 << 20)
		}
	}
	return s
}

// soakMix is the targeter: the mix above, fed by what earlier answers handed out.
type soakMix struct {
	url, pass string

	mu sync.Mutex
	n  int
	// reader is the session the reads and key creations use: renewed every 200 requests, as
	// sessions live only minutes in the soak.
	reader    string
	signOut   []string    // session tokens to sign out
	refreshes []string    // refresh tokens to refresh
	keyLogins [][2]string // user keys (id, secret) to sign in with
	keyDrops  []string    // user key ids to delete
}

func newSoakMix(url, reader, pass string) *soakMix {
	return &soakMix{url: url, reader: reader, pass: pass}
}

const (
	soakLogin        = `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`
	soakLoginReader  = `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token expiresAt } }`
	soakLoginRefresh = `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p, refreshable: true}) { refreshToken } }`
	soakRefresh      = `mutation($r: String) { refreshSession(input: {refreshToken: $r}) { token } }`
	soakSignOut      = `mutation { deleteSession { id } }`
	soakCreateKey    = `mutation { createUserKey { id secret } }`
	soakKeyLogin     = `mutation($k: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $k, secret: $s}) { id } }`
	soakDeleteKey    = `mutation($k: ObjectID!) { deleteUserKey(input: {userKeyId: $k}) { userKey { id } } }`
)

// next is the mix's vegeta.Targeter: the next request.
func (m *soakMix) next(t *vegeta.Target) error {
	m.mu.Lock()
	slot := m.n % 20
	if m.n%200 == 199 {
		slot = 20 // a new session for the reads, every 200 requests
	}
	m.n++
	token, query, vars := m.reader, meQ, map[string]any(nil)
	pop := func(q *[]string) (string, bool) {
		if len(*q) == 0 {
			return "", false
		}
		v := (*q)[0]
		*q = (*q)[1:]
		return v, true
	}
	switch slot {
	case 20:
		token, query, vars = "", soakLoginReader, map[string]any{"u": "admin", "p": m.pass}
	case 12:
		token, query, vars = "", soakLogin, map[string]any{"u": "admin", "p": m.pass}
	case 13:
		if tok, ok := pop(&m.signOut); ok {
			token, query = tok, soakSignOut
		}
	case 14:
		token, query, vars = "", soakLoginRefresh, map[string]any{"u": "admin", "p": m.pass}
	case 15:
		if r, ok := pop(&m.refreshes); ok {
			token, query, vars = "", soakRefresh, map[string]any{"r": r}
		}
	case 16:
		query = soakCreateKey
	case 17:
		if len(m.keyLogins) > 0 {
			k := m.keyLogins[0]
			m.keyLogins = m.keyLogins[1:]
			token, query, vars = "", soakKeyLogin, map[string]any{"k": k[0], "s": k[1]}
			m.keyDrops = append(m.keyDrops, k[0])
		}
	case 18:
		// Deleted 20 key sign-ins (some 4 s at 100/s) after its own was sent, so that the two
		// do not race even when answers queue.
		if len(m.keyDrops) > 20 {
			id, _ := pop(&m.keyDrops)
			query, vars = soakDeleteKey, map[string]any{"k": id}
		}
	}
	m.mu.Unlock()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	t.Method, t.URL, t.Body = http.MethodPost, m.url, body
	t.Header = http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		t.Header.Set("X-Auth-Token", token)
	}
	return nil
}

// observe reads a 200 answer: it hands what it carries to later requests of the mix, and
// answers the answer's key for the counts ("200", or "200 CODE" for a GraphQL error).
func (m *soakMix) observe(body []byte) string {
	var a struct {
		Data struct {
			Login *struct {
				Token        *string `json:"token"`
				ExpiresAt    *string `json:"expiresAt"`
				RefreshToken *string `json:"refreshToken"`
			} `json:"createSessionUsingUsername"`
			Key *struct {
				ID     string `json:"id"`
				Secret string `json:"secret"`
			} `json:"createUserKey"`
		} `json:"data"`
		Errors []struct {
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return "200 unreadable"
	}
	if len(a.Errors) > 0 {
		return "200 " + a.Errors[0].Extensions.Code
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := a.Data.Login; l != nil {
		switch {
		case l.Token != nil && l.ExpiresAt != nil:
			m.reader = *l.Token
		case l.Token != nil:
			m.signOut = append(m.signOut, *l.Token)
		}
		if l.RefreshToken != nil {
			m.refreshes = append(m.refreshes, *l.RefreshToken)
		}
	}
	if k := a.Data.Key; k != nil {
		m.keyLogins = append(m.keyLogins, [2]string{k.ID, k.Secret})
	}
	return "200"
}

func cpus() int { return runtime.NumCPU() }
