//go:build linux

// Command benchrun measures authgraph against the scale targets, on this machine, with a real
// server binary and a real redis-server on loopback, and prints each figure with its ratio.
// `make bench` runs it after the Go benchmarks; run it from the module root:
//
//	go run ./internal/loadtest/cmd/benchrun [-duration 5s] [-rounds 3] [-trials 100]
//
// It needs redis-server on PATH, and uses wrk when it is installed (else a Go load
// generator). Everything listens on 127.0.0.1 and is stopped at the end. The machine is
// shared by the server, Redis and the load generator, as on a small single host, so the
// figures that matter are ratios measured within one run: each round runs every load back
// to back, and the report gives the median over rounds.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/loadtest"
	"github.com/authgraph/authgraph/internal/redisstore"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

type options struct {
	duration    time.Duration
	rounds      int
	connections int
	threads     int
	trials      int
	cutTrials   int
	sessions    int
	keySeconds  time.Duration
	goBench     bool
	only        map[string]bool
}

// on reports whether the section runs: all of them unless -only names some.
func (o options) on(section string) bool { return len(o.only) == 0 || o.only[section] }

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "length of each throughput run")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of throughput runs (the report gives medians)")
	flag.IntVar(&o.connections, "connections", 32, "concurrent connections of the throughput runs")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.trials, "trials", 100, "revocation trials across two replicas")
	flag.IntVar(&o.cutTrials, "cut-trials", 3, "revocation trials with the replica's pub/sub connection silently cut")
	flag.IntVar(&o.sessions, "sessions", 100_000, "sessions written to measure Redis memory per session")
	flag.DurationVar(&o.keySeconds, "userkey-duration", 10*time.Second, "length of the createSessionUsingUserKey run")
	flag.BoolVar(&o.goBench, "middleware-bench", true, "also run BenchmarkAuthenticateMiddleware for the allocation figures")
	only := flag.String("only", "", "comma-separated sections to run: throughput,revocation,cut,userkey,memory,middleware (default all)")
	flag.Parse()
	o.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.only[s] = true
		}
	}
	ctx, stop := signalContext()
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// report collects the summary lines.
type report struct{ lines [][4]string }

func (r *report) add(target, figure, ratio, verdict string) {
	r.lines = append(r.lines, [4]string{target, figure, ratio, verdict})
	fmt.Printf("  => %s: %s %s %s\n", target, figure, ratio, verdict)
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "MISSED"
}

func run(ctx context.Context, o options) error {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New("redis-server is not on PATH (apt-get install redis-server)")
	}
	dir, err := os.MkdirTemp("", "authgraph-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	runner := loadtest.NewRunner(dir)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("benchrun: %d CPUs, load generator %s, load average at start %s\n", runtime.NumCPU(), runner.Name(), strings.TrimSpace(string(load)))

	fmt.Println("building the server…")
	bin := filepath.Join(dir, "authgraph")
	if out, err := exec.CommandContext(ctx, goCmd(), "build", "-o", bin, "./server").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./server: %w\n%s", err, out)
	}

	rs, err := redistest.NewStandalone(redisBin, mkdir(dir, "redis"))
	if err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	defer rs.Close()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()

	proxy, err := loadtest.NewProxy(rs.Addr())
	if err != nil {
		return err
	}
	defer proxy.Close()

	// A and B: two replicas with the cache; C: one without it (the baseline); D: a replica
	// reaching Redis through the proxy, whose pub/sub connection can be cut.
	base := map[string]string{
		"AUTHGRAPH_REDIS_PREFIX":   "bench:",
		"AUTHGRAPH_ADMIN_USERNAME": "admin",
		"AUTHGRAPH_ADMIN_PASSWORD": "bench-admin-password",
		"AUTHGRAPH_PLAYGROUND":     "false",
		"AUTHGRAPH_LOG_LEVEL":      "warn", // no per-request log line: measure the API, not the log
		// One load generator on one address signs in thousands of times a minute: the
		// rate limits (login:ip, 20 a minute) would answer it 429 and measure nothing.
		// make attack measures them.
		"AUTHGRAPH_RATE_LIMITS": "off",
	}
	url := "redis://" + rs.Addr()
	a, err := startServer(ctx, bin, dir, "a", base, map[string]string{"AUTHGRAPH_REDIS_URL": url})
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := startServer(ctx, bin, dir, "b", base, map[string]string{"AUTHGRAPH_REDIS_URL": url})
	if err != nil {
		return err
	}
	defer b.stop()
	c, err := startServer(ctx, bin, dir, "c", base, map[string]string{"AUTHGRAPH_REDIS_URL": url, "AUTHGRAPH_SESSION_CACHE_TTL": "0"})
	if err != nil {
		return err
	}
	defer c.stop()
	d, err := startServer(ctx, bin, dir, "d", base, map[string]string{"AUTHGRAPH_REDIS_URL": "redis://" + proxy.Addr(), "AUTHGRAPH_LOG_LEVEL": "info"})
	if err != nil {
		return err
	}
	defer d.stop()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	admin, err := login(ctx, client, a.url, "admin", "bench-admin-password")
	if err != nil {
		return err
	}
	rep := &report{}

	sections := []struct {
		name string
		run  func() error
	}{
		{"throughput", func() error { return throughput(ctx, o, runner, rdb, rs.Pid(), a, c, admin, rep) }},
		{"revocation", func() error { return revocation(ctx, o, client, a, b, admin, rep) }},
		{"cut", func() error { return cutChannel(ctx, o, client, a, d, proxy, rep) }},
		{"userkey", func() error { return userKeyLogins(ctx, o, runner, client, a, admin, rep) }},
		{"memory", func() error { return memoryPerSession(ctx, o, redisBin, dir, rep) }},
		{"middleware", func() error { return middlewareAllocs(ctx, rep) }},
	}
	if err := createUser(ctx, client, a.url, admin, "revoker", "revoker-password-1"); err != nil {
		return err
	}
	for _, s := range sections {
		if !o.on(s.name) || (s.name == "middleware" && !o.goBench) {
			continue
		}
		if err := s.run(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}

	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("\nSummary (load average at end %s)\n", strings.TrimSpace(string(load)))
	w := [3]int{}
	for _, l := range rep.lines {
		for i := range 3 {
			w[i] = max(w[i], len([]rune(l[i])))
		}
	}
	for _, l := range rep.lines {
		fmt.Printf("  %-*s  %-*s  %-*s  %s\n", w[0], l[0], w[1], l[1], w[2], l[2], l[3])
	}
	return nil
}

// ---- 1 and 3: throughput, latency, Redis commands per request ----

func throughput(ctx context.Context, o options, runner loadtest.Runner, rdb *redis.Client, redisPid int, a, c *server, admin string, rep *report) error {
	fmt.Printf("\n[1] throughput: %d rounds of %v per load, %d connections\n", o.rounds, o.duration, o.connections)
	version, me := `{"query":"{version}"}`, `{"query":"{ me { id } }"}`
	type kind struct {
		name, url, token, body string
		countRedis             bool
	}
	kinds := []kind{
		{"unauthenticated {version}", a.url, "", version, false},
		{"authenticated {version}", a.url, admin, version, true},
		{"authenticated { me { id } }", a.url, admin, me, false},
		{"authenticated {version}, cache off", c.url, admin, version, true},
	}
	results := make([][]loadtest.Result, len(kinds))
	commands := make([][]float64, len(kinds))
	// CPU time of the server and of Redis per request: what a request costs, which other work
	// on a shared machine disturbs much less than it disturbs throughput.
	cpus := make([][]float64, len(kinds))
	for round := range o.rounds {
		// Every other round runs the loads in the opposite order, so that a load that comes
		// and goes on a shared machine does not always land on the same one.
		order := []int{0, 1, 2, 3}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			k := kinds[i]
			if k.countRedis {
				if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
					return err
				}
			}
			srv := a
			if k.url == c.url {
				srv = c
			}
			cpu0 := srv.cpuTime() + pidCPU(redisPid)
			r, err := runner.Run(ctx, loadtest.Load{
				URL: k.url + "/graphql", Body: k.body, Connections: o.connections, Threads: o.threads, Duration: o.duration,
				Headers: headers(k.token),
			})
			if err != nil {
				return err
			}
			cpuPer := float64(srv.cpuTime()+pidCPU(redisPid)-cpu0) / float64(max(1, r.Requests))
			cpus[i] = append(cpus[i], cpuPer)
			line := fmt.Sprintf("  round %d  %-36s %s  %5.1f µs CPU/req", round+1, k.name, r, cpuPer/1e3)
			if k.countRedis {
				info, err := rdb.Info(ctx, "commandstats").Result()
				if err != nil {
					return err
				}
				per := float64(loadtest.DataCommands(loadtest.CommandCalls(info))) / float64(max(1, r.Requests))
				commands[i] = append(commands[i], per)
				line += fmt.Sprintf("  %.3f Redis commands/request", per)
			}
			fmt.Println(line)
			if r.Errors > 0 {
				return fmt.Errorf("%s: %d requests failed", k.name, r.Errors)
			}
			results[i] = append(results[i], r)
		}
	}
	ratio := func(i int, f func(loadtest.Result) float64) float64 {
		var rs []float64
		for round := range o.rounds {
			rs = append(rs, f(results[i][round])/f(results[0][round]))
		}
		return median(rs)
	}
	rps := func(r loadtest.Result) float64 { return r.RPS() }
	p99 := func(r loadtest.Result) float64 { return float64(r.P99) }
	med := func(i int, f func(loadtest.Result) float64) float64 {
		var v []float64
		for _, r := range results[i] {
			v = append(v, f(r))
		}
		return median(v)
	}
	fmt.Printf("  medians: unauthenticated %.0f req/s p99 %v\n", med(0, rps), time.Duration(med(0, p99)).Round(time.Microsecond))
	r1, l1 := ratio(1, rps), ratio(1, p99)
	rep.add("1. auth {version} throughput", fmt.Sprintf("%.0f req/s", med(1, rps)), fmt.Sprintf("%.2f× unauth (≥ 0.90)", r1), verdict(r1 >= 0.90))
	rep.add("1. auth {version} p99", time.Duration(med(1, p99)).Round(time.Microsecond).String(), fmt.Sprintf("%.2f× unauth (≤ 1.5)", l1), verdict(l1 <= 1.5))
	r2 := ratio(2, rps)
	rep.add("1. auth { me { id } } throughput", fmt.Sprintf("%.0f req/s", med(2, rps)), fmt.Sprintf("%.2f× unauth (≥ 0.85)", r2), verdict(r2 >= 0.85))
	r3 := ratio(3, rps)
	rep.add("   (cache off) auth {version}", fmt.Sprintf("%.0f req/s", med(3, rps)), fmt.Sprintf("%.2f× unauth (baseline)", r3), "-")
	cpuRatio := func(i int) float64 {
		var rs []float64
		for round := range o.rounds {
			rs = append(rs, cpus[0][round]/cpus[i][round])
		}
		return median(rs)
	}
	for _, i := range []int{1, 2, 3} {
		rep.add("   CPU (server + Redis) per request, "+kinds[i].name, fmt.Sprintf("%.1f µs", median(cpus[i])/1e3),
			fmt.Sprintf("unauth's %.1f µs ÷ this = %.2f", median(cpus[0])/1e3, cpuRatio(i)), "-")
	}
	c1, c3 := median(commands[1]), median(commands[3])
	rep.add("3. Redis commands per auth request", fmt.Sprintf("%.4f", c1), "(target 0 for a cached session)", verdict(c1 < 0.01))
	rep.add("   (cache off) commands per request", fmt.Sprintf("%.3f", c3), "", "-")
	return nil
}

func headers(token string) map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	if token != "" {
		h["X-Auth-Token"] = token
	}
	return h
}

// ---- 2: revocation across replicas ----

func revocation(ctx context.Context, o options, client *http.Client, a, b *server, admin string, rep *report) error {
	fmt.Printf("\n[2] revocation: %d sessions made on A, cached on B, ended on A; time until B refuses\n", o.trials)
	var took []time.Duration
	for range o.trials {
		tok, err := login(ctx, client, a.url, "revoker", "revoker-password-1")
		if err != nil {
			return err
		}
		d, err := timeToRefusal(ctx, client, a, b, tok)
		if err != nil {
			return err
		}
		took = append(took, d)
	}
	slices.Sort(took)
	p50, p99 := loadtest.Percentile(took, 50), loadtest.Percentile(took, 99)
	fmt.Printf("  p50 %v  p99 %v  max %v\n", p50, p99, took[len(took)-1])
	rep.add("2. revocation seen by replica B", fmt.Sprintf("p99 %v (p50 %v, max %v)", p99.Round(time.Microsecond), p50.Round(time.Microsecond), took[len(took)-1].Round(time.Microsecond)),
		"(≤ 100ms)", verdict(p99 <= 100*time.Millisecond))
	return nil
}

// timeToRefusal warms other's cache with tok, ends the session through via, and answers the
// time from sending the end to other's first 401.
func timeToRefusal(ctx context.Context, client *http.Client, via, other *server, tok string) (time.Duration, error) {
	for range 2 {
		st, body, err := loadtest.Post(ctx, client, other.url+"/graphql", tok, `{"query":"{version}"}`)
		if err != nil || st != 200 {
			return 0, fmt.Errorf("warming the other replica: %d %s %v", st, body, err)
		}
	}
	type seen struct {
		at  time.Time
		err error
	}
	start := make(chan struct{})
	done := make(chan seen, 1)
	go func() {
		<-start
		for {
			st, body, err := loadtest.Post(ctx, client, other.url+"/graphql", tok, `{"query":"{version}"}`)
			now := time.Now()
			switch {
			case err != nil:
				done <- seen{err: err}
				return
			case st == http.StatusUnauthorized:
				done <- seen{at: now}
				return
			case st != http.StatusOK:
				done <- seen{err: fmt.Errorf("poll: %d %s", st, body)}
				return
			}
		}
	}()
	close(start)
	t0 := time.Now()
	st, body, err := loadtest.Post(ctx, client, via.url+"/graphql", tok, `{"query":"mutation { deleteSession { id } }"}`)
	if err != nil || st != 200 || strings.Contains(string(body), `"errors"`) {
		return 0, fmt.Errorf("deleteSession: %d %s %v", st, body, err)
	}
	select {
	case s := <-done:
		if s.err != nil {
			return 0, s.err
		}
		return max(0, s.at.Sub(t0)), nil
	case <-time.After(30 * time.Second):
		return 0, errors.New("the other replica still accepts the session after 30s")
	}
}

// ---- 2, continued: with the push channel silently cut ----

func cutChannel(ctx context.Context, o options, client *http.Client, a, d *server, proxy *loadtest.Proxy, rep *report) error {
	const ttl = 10 * time.Second // the default AUTHGRAPH_SESSION_CACHE_TTL, which D runs with
	fmt.Printf("\n[2b] revocation with replica D's pub/sub connection silently cut (packets dropped, nothing closed): %d trials\n", o.cutTrials)
	var worst time.Duration
	for i := range o.cutTrials {
		if err := d.waitLog(ctx, "cache in use", i+1, 30*time.Second); err != nil {
			return err
		}
		tok, err := login(ctx, client, a.url, "revoker", "revoker-password-1")
		if err != nil {
			return err
		}
		proxy.CutPubSub(true)
		took, err := timeToRefusal(ctx, client, a, d, tok)
		proxy.CutPubSub(false)
		if err != nil {
			return err
		}
		fmt.Printf("  trial %d: refused after %v\n", i+1, took.Round(time.Millisecond))
		worst = max(worst, took)
	}
	rep.add("2. revocation, channel silently cut", fmt.Sprintf("max %v", worst.Round(time.Millisecond)),
		fmt.Sprintf("(≤ cache TTL %v)", ttl), verdict(worst <= ttl))
	return nil
}

// ---- 4: createSessionUsingUserKey ----

func userKeyLogins(ctx context.Context, o options, runner loadtest.Runner, client *http.Client, a *server, admin string, rep *report) error {
	fmt.Printf("\n[4] createSessionUsingUserKey throughput against cores ÷ argon2id verify time\n")
	h, err := argon2id.New(argon2id.DefaultParams)
	if err != nil {
		return err
	}
	enc, err := h.Hash(ctx, "bench secret")
	if err != nil {
		return err
	}
	verify, verifyCPU, err := verifyTime(ctx, h, enc)
	if err != nil {
		return err
	}
	cores := runtime.NumCPU()
	ideal := float64(cores) / verify.Seconds()
	fmt.Printf("  one argon2id verify (default parameters, median of 15): %v wall, %v CPU → ideal %.1f logins/s on %d cores\n",
		verify.Round(time.Microsecond), verifyCPU.Round(time.Microsecond), ideal, cores)
	capacity, concurrentCPU := hashCapacity(ctx, h, enc, cores, 3*time.Second)
	fmt.Printf("  %d goroutines verifying in this process, just before the load: %.1f verifies/s, %v CPU each (what the machine gives now)\n",
		cores, capacity, concurrentCPU.Round(time.Microsecond))

	st, body, err := loadtest.Post(ctx, client, a.url+"/graphql", admin, `{"query":"mutation { createUserKey { id secret } }"}`)
	if err != nil || st != 200 {
		return fmt.Errorf("createUserKey: %d %s %v", st, body, err)
	}
	var out struct {
		Data struct {
			CreateUserKey struct{ ID, Secret string }
		}
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Data.CreateUserKey.Secret == "" {
		return fmt.Errorf("createUserKey: %s", body)
	}
	q, _ := json.Marshal(map[string]any{
		"query":     `mutation($k: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $k, secret: $s}) { id } }`,
		"variables": map[string]any{"k": out.Data.CreateUserKey.ID, "s": out.Data.CreateUserKey.Secret},
	})
	cpu0 := a.cpuTime()
	r, err := runner.Run(ctx, loadtest.Load{
		URL: a.url + "/graphql", Body: string(q), Connections: 2 * cores, Threads: 1, Duration: o.keySeconds,
		Headers: headers(""),
	})
	if err != nil {
		return err
	}
	cpuPerLogin := time.Duration(float64(a.cpuTime()-cpu0) / float64(max(1, r.Requests)))
	fmt.Printf("  %d connections: %s, server CPU %v per login\n", 2*cores, r, cpuPerLogin.Round(time.Microsecond))
	if r.Errors > 0 {
		// Not fatal: on a machine too busy to hash in time, the hash pool answers 503 rather
		// than queue without bound, and wrk gives up after 5 s. Reported with the figure.
		fmt.Printf("  %d requests failed (503 from a full hash pool, or timed out): the machine is too busy for this figure\n", r.Errors)
	}
	ratio := r.RPS() / ideal
	rep.add("4. createSessionUsingUserKey", fmt.Sprintf("%.1f logins/s", r.RPS()), fmt.Sprintf("%.2f× cores÷verify (≥ 0.8)", ratio), verdict(ratio >= 0.8))
	rep.add("   against hashing alone, same moment", fmt.Sprintf("%.1f verifies/s", capacity), fmt.Sprintf("%.2f×", r.RPS()/capacity), "-")
	eff := float64(concurrentCPU) / float64(cpuPerLogin)
	rep.add("   server CPU per login", cpuPerLogin.Round(time.Microsecond).String(),
		fmt.Sprintf("hash share %.2f (verify CPU, %d at once, ÷ login CPU)", eff, cores), verdict(eff >= 0.8))
	return nil
}

// verifyTime is the median wall and CPU time of one argon2id verification. The CPU time is
// this process's (argon2 runs its lanes on goroutines of their own), which is otherwise idle:
// the load runs in wrk and the servers in their own processes.
func verifyTime(ctx context.Context, h *argon2id.Hasher, enc string) (wall, cpu time.Duration, err error) {
	var walls, cpus []time.Duration
	for range 15 {
		c0, t0 := processCPU(), time.Now()
		if _, _, err := h.Verify(ctx, "bench secret", enc); err != nil {
			return 0, 0, err
		}
		walls = append(walls, time.Since(t0))
		cpus = append(cpus, processCPU()-c0)
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	return walls[len(walls)/2], cpus[len(cpus)/2], nil
}

// hashCapacity is how many verifications n goroutines of this process complete per second,
// and the CPU time each took: on a machine shared with other work, what the hash alone can
// have at this moment, and what one costs when n run at once (they share memory bandwidth).
func hashCapacity(ctx context.Context, h *argon2id.Hasher, enc string, n int, d time.Duration) (float64, time.Duration) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		count int
	)
	cpu0 := processCPU()
	end := time.Now().Add(d)
	for range n {
		wg.Go(func() {
			c := 0
			for time.Now().Before(end) && ctx.Err() == nil {
				_, _, _ = h.Verify(ctx, "bench secret", enc)
				c++
			}
			mu.Lock()
			count += c
			mu.Unlock()
		})
	}
	wg.Wait()
	cpu := processCPU() - cpu0
	return float64(count) / d.Seconds(), cpu / time.Duration(max(1, count))
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ---- 5: Redis memory per session ----

// A desktop browser's user agent: the longest string a session usually carries.
const browserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

func memoryPerSession(ctx context.Context, o options, redisBin, dir string, rep *report) error {
	fmt.Printf("\n[5] Redis memory per session: %d sessions (10 per user, browser user agent) on a fresh redis-server\n", o.sessions)
	rs, err := redistest.NewStandalone(redisBin, mkdir(dir, "redis-memory"))
	if err != nil {
		return err
	}
	defer rs.Close()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), PoolSize: 32})
	defer rdb.Close()
	store := redisstore.New(rdb, redisstore.Options{})
	// Sessions need their users; they are made first, and not counted.
	for i := range (o.sessions + 9) / 10 {
		u := &auth.User{Username: fmt.Sprintf("user%d", i+1), PasswordHash: "x", Role: auth.RoleMember, CreatedAt: time.Now()}
		if err := store.CreateUser(ctx, u); err != nil {
			return err
		}
	}
	used := func() (int64, error) {
		info, err := rdb.Info(ctx, "memory").Result()
		if err != nil {
			return 0, err
		}
		n, ok := loadtest.Field(info, "used_memory")
		if !ok {
			return 0, errors.New("no used_memory in INFO")
		}
		return n, nil
	}
	before, err := used()
	if err != nil {
		return err
	}
	const workers = 32
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		fail error
	)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < o.sessions; i += workers {
				tok, err := token.New(token.Session)
				if err == nil {
					now := time.Now()
					err = store.CreateSession(ctx, &auth.Session{
						UserID: int64(i/10 + 1), TokenDigest: token.Sum(tok), Method: auth.MethodPassword, AuthenticatedAt: now,
						CreatedAt: now, ExpiresAt: now.Add(720 * time.Hour),
						ClientName: "web", ClientVersion: "1.4.2", UserAgent: browserUA, IP: "203.0.113.54",
					})
				}
				if err != nil {
					mu.Lock()
					fail = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if fail != nil {
		return fail
	}
	after, err := used()
	if err != nil {
		return err
	}
	per := float64(after-before) / float64(o.sessions)
	fmt.Printf("  used_memory %d → %d bytes\n", before, after)
	rep.add("5. Redis memory per session", fmt.Sprintf("%.0f B (%d sessions)", per, o.sessions),
		fmt.Sprintf("(≤ 350; 10M sessions ≈ %.1f GB)", per*10e6/1e9), verdict(per <= 350))
	return nil
}

// ---- 6: allocations in the auth middleware ----

var benchLine = regexp.MustCompile(`(?m)^BenchmarkAuthenticateMiddleware/(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op`)

func middlewareAllocs(ctx context.Context, rep *report) error {
	fmt.Printf("\n[6] allocations per authenticated request in the auth middleware (go test -bench AuthenticateMiddleware -benchmem ./server)\n")
	out, err := exec.CommandContext(ctx, goCmd(), "test", "-run", "^$", "-bench", "^BenchmarkAuthenticateMiddleware$", "-benchmem", "./server").CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	for _, m := range benchLine.FindAllStringSubmatch(string(out), -1) {
		ns, _ := strconv.ParseFloat(m[2], 64)
		fmt.Printf("  %-14s %8.0f ns/op %6s B/op %4s allocs/op\n", m[1], ns, m[3], m[4])
		if m[1] == "redis-cached" || m[1] == "redis" {
			rep.add("6. middleware allocs, "+m[1], m[4]+" allocs/op", m[3]+" B/op", "-")
		}
	}
	return nil
}

// ---- servers ----

type server struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startServer runs the authgraph binary on a free port with env, and waits until /healthz
// answers.
func startServer(ctx context.Context, bin, dir, name string, envs ...map[string]string) (*server, error) {
	port, err := loadtest.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	env := append(os.Environ(), "AUTHGRAPH_ADDR="+addr, "AUTHGRAPH_METRICS_ADDR=127.0.0.1:0") // replicas side by side
	for _, e := range envs {
		for k, v := range e {
			env = append(env, k+"="+v)
		}
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	s := &server{name: name, url: "http://" + addr, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		select {
		case <-s.done:
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("server %s exited:\n%s", name, out)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("server %s did not become ready", name)
		}
	}
}

// cpuTime is the CPU time the server process has used (user and system).
func (s *server) cpuTime() time.Duration { return pidCPU(s.cmd.Process.Pid) }

// pidCPU is the CPU time process pid has used (user and system), from /proc.
func pidCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ, 100 on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// waitLog waits until the server's log has at least n lines containing text.
func (s *server) waitLog(ctx context.Context, text string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		f, err := os.Open(s.log)
		if err != nil {
			return err
		}
		count := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.Contains(sc.Text(), text) {
				count++
			}
		}
		f.Close()
		if count >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %s: %q logged %d times, want %d", s.name, text, count, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func login(ctx context.Context, client *http.Client, url, username, password string) (string, error) {
	q, _ := json.Marshal(map[string]any{
		"query":     `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`,
		"variables": map[string]any{"u": username, "p": password},
	})
	st, body, err := loadtest.Post(ctx, client, url+"/graphql", "", string(q))
	if err != nil || st != 200 {
		return "", fmt.Errorf("login %s: %d %s %v", username, st, body, err)
	}
	var out struct {
		Data struct{ CreateSessionUsingUsername struct{ Token string } }
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Data.CreateSessionUsingUsername.Token == "" {
		return "", fmt.Errorf("login %s: %s", username, body)
	}
	return out.Data.CreateSessionUsingUsername.Token, nil
}

func createUser(ctx context.Context, client *http.Client, url, admin, username, password string) error {
	q, _ := json.Marshal(map[string]any{
		"query":     `mutation($u: String!, $p: String!) { createUser(input: {username: $u, password: $p}) { id } }`,
		"variables": map[string]any{"u": username, "p": password},
	})
	st, body, err := loadtest.Post(ctx, client, url+"/graphql", admin, string(q))
	if err != nil || st != 200 || strings.Contains(string(body), `"errors"`) {
		return fmt.Errorf("createUser %s: %d %s %v", username, st, body, err)
	}
	return nil
}

func mkdir(dir, name string) string {
	p := filepath.Join(dir, name)
	_ = os.MkdirAll(p, 0o700)
	return p
}

func goCmd() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
