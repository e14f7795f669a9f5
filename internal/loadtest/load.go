// Package loadtest drives authgraph the way `make bench` measures it: HTTP load (wrk when it
// is installed, else a Go load generator), Redis's own counters, and a TCP proxy that can
// silently cut a replica's pub/sub connection. cmd/benchrun puts it together.
package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Load is one load run: POST Body to URL with Headers on Connections keep-alive connections
// (spread over Threads wrk threads) for Duration.
type Load struct {
	URL         string
	Body        string
	Headers     map[string]string
	Connections int
	Threads     int
	Duration    time.Duration
}

// Result is what a run achieved.
type Result struct {
	Requests int64         // completed
	Errors   int64         // answers other than 2xx, and transport errors
	Elapsed  time.Duration // of the run
	P50, P99 time.Duration // latency
}

// RPS is the throughput.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

func (r Result) String() string {
	s := fmt.Sprintf("%8.0f req/s  p50 %-9v p99 %-9v", r.RPS(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
	if r.Errors > 0 {
		s += fmt.Sprintf("  %d ERRORS", r.Errors)
	}
	return s
}

// Runner runs loads.
type Runner interface {
	Run(ctx context.Context, l Load) (Result, error)
	Name() string
}

// NewRunner answers wrk when it is on PATH (it loads the two cores of a small machine less
// than a Go client would), else the Go load generator. dir holds wrk's scripts.
func NewRunner(dir string) Runner {
	if path, err := exec.LookPath("wrk"); err == nil {
		return &Wrk{Path: path, Dir: dir}
	}
	return GoLoad{}
}

// Wrk runs wrk (https://github.com/wg/wrk, Debian package wrk) with a Lua script for the
// request.
type Wrk struct {
	Path, Dir string
	n         atomic.Int64
}

// Name implements Runner.
func (w *Wrk) Name() string { return "wrk" }

// Run implements Runner.
func (w *Wrk) Run(ctx context.Context, l Load) (Result, error) {
	var script strings.Builder
	script.WriteString("wrk.method = \"POST\"\n")
	fmt.Fprintf(&script, "wrk.body = %s\n", luaString(l.Body))
	for k, v := range l.Headers {
		fmt.Fprintf(&script, "wrk.headers[%s] = %s\n", luaString(k), luaString(v))
	}
	path := filepath.Join(w.Dir, fmt.Sprintf("load%d.lua", w.n.Add(1)))
	if err := os.WriteFile(path, []byte(script.String()), 0o600); err != nil {
		return Result{}, err
	}
	threads := max(1, min(l.Threads, l.Connections))
	secs := max(1, int(l.Duration.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, w.Path, "--latency",
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(l.Connections), "-d", strconv.Itoa(secs)+"s",
		"--timeout", "5s", "-s", path, l.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	return ParseWrk(string(out))
}

// luaString quotes s for Lua.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var (
	wrkTotal   = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)\b`)
	wrkNon2xx  = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
	wrkSockErr = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s*(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\b`)
)

// ParseWrk reads wrk --latency's report.
func ParseWrk(out string) (Result, error) {
	var r Result
	m := wrkTotal.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no request count in:\n%s", out)
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.Elapsed = wrkDuration(m[2], m[3])
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		r.Errors += n
	}
	if m := wrkSockErr.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.Errors += n
		}
	}
	for _, m := range wrkPct.FindAllStringSubmatch(out, -1) {
		d := wrkDuration(m[2], m[3])
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.P99 == 0 {
		return r, fmt.Errorf("wrk: no latency distribution (--latency) in:\n%s", out)
	}
	return r, nil
}

func wrkDuration(num, unit string) time.Duration {
	f, _ := strconv.ParseFloat(num, 64)
	scale := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[unit]
	return time.Duration(f * float64(scale))
}

// GoLoad is a closed-loop load generator in Go: each connection sends its next request when
// the last is answered, as wrk does.
type GoLoad struct{}

// Name implements Runner.
func (GoLoad) Name() string { return "go" }

// Run implements Runner.
func (GoLoad) Run(ctx context.Context, l Load) (Result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: l.Connections, MaxConnsPerHost: l.Connections, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, l.Duration)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      atomic.Int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range l.Connections {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, strings.NewReader(l.Body))
				if err != nil {
					errs.Add(1)
					return
				}
				for k, v := range l.Headers {
					req.Header.Set(k, v)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if resp.StatusCode/100 != 2 {
					errs.Add(1)
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r := Result{Requests: int64(len(latencies)), Errors: errs.Load(), Elapsed: time.Since(start)}
	if len(latencies) == 0 {
		return r, errors.New("load: no request completed")
	}
	slices.Sort(latencies)
	r.P50 = Percentile(latencies, 50)
	r.P99 = Percentile(latencies, 99)
	return r, nil
}

// Percentile answers the p-th percentile of sorted (nearest rank).
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Post sends one GraphQL request and answers the status and body.
func Post(ctx context.Context, client *http.Client, url, token, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), err
}
