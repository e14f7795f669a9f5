package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// apqRedisMaxMemory is the Redis of the apq scenario: small, and noeviction, as docs/operations.md
// recommends for production, so that filling it shows as failed writes rather than silently
// evicted sessions.
const apqRedisMaxMemory = 64 << 20

// apqFlood: flooders send distinct valid queries of 16 KiB (`query Q<n>{version}#` and a
// comment of spaces) with their hashes, for the server to persist, while 2 clients sign in
// (each time from a fresh address, so that the login limits never refuse them) and 2 run
// { me { id } }. Run twice: every flood request from one address, then each from a new
// address (a botnet, which no per-address limit stops: the cache's budget must). It reports
// Redis's memory (used_memory before, at its peak, after) and keys, the flood's answers, and
// how the sign-ins and token checks were answered during the flood.
func apqFlood(ctx context.Context, bin string, flooders int, duration time.Duration) error {
	fmt.Printf("apq: %d clients send distinct 16 KiB queries to persist for %v, against Redis with\n"+
		"maxmemory %d MiB and noeviction; 2 clients sign in and 2 run { me { id } } beside them.\n\n",
		flooders, duration, apqRedisMaxMemory>>20)
	for _, botnet := range []bool{false, true} {
		if err := apqFloodOnce(ctx, bin, flooders, duration, botnet); err != nil {
			return err
		}
	}
	return nil
}

func apqFloodOnce(ctx context.Context, bin string, flooders int, duration time.Duration, botnet bool) error {
	rs, srv, env, err := startStack(bin, "everysec", nil,
		"--maxmemory", strconv.Itoa(apqRedisMaxMemory), "--maxmemory-policy", "noeviction")
	if err != nil {
		return err
	}
	defer rs.remove()
	defer srv.stop()
	c := newClient(srv.addr, flooders+8)
	pass := env["AUTHGRAPH_ADMIN_PASSWORD"]
	var meTokens []string
	for range 2 {
		tok, err := c.login(ctx, "admin", pass)
		if err != nil {
			return err
		}
		meTokens = append(meTokens, tok)
	}
	rc := rs.client()
	defer rc.Close()
	usedMemory := func() int64 {
		info, _ := rc.Info(context.Background(), "memory").Result()
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return -1
	}
	memBefore, keysBefore := usedMemory(), rc.DBSize(ctx).Val()
	rssBefore, _ := srv.peakRSS()

	fctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	flood, signIn, me := newTally(), newTally(), newTally()
	var peakMem atomic.Int64
	peakMem.Store(memBefore)
	var seq, addr atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // Redis's memory, sampled
		defer wg.Done()
		for fctx.Err() == nil {
			if m := usedMemory(); m > peakMem.Load() {
				peakMem.Store(m)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	pad := strings.Repeat(" ", 16<<10)
	for range flooders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fctx.Err() == nil {
				n := seq.Add(1)
				ip := "10.66.0.1"
				if botnet {
					ip = fmt.Sprintf("10.%d.%d.%d", 100+n/65536%100, n/256%256, n%256)
				}
				q := fmt.Sprintf("query Q%d{version}#", n)
				q += pad[:16<<10-len(q)]
				if a := c.persist(fctx, ip, q); fctx.Err() == nil {
					flood.add(a)
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fctx.Err() == nil {
				n := addr.Add(1)
				a := c.do(fctx, "", fmt.Sprintf("10.250.%d.%d", n/256%256, n%256), loginQ, map[string]any{"u": "admin", "p": pass})
				if fctx.Err() == nil {
					if tok, _ := dig(a.data, "createSessionUsingUsername", "token").(string); tok == "" && a.code == "" {
						a.code = "NO_TOKEN"
					}
					signIn.add(a)
				}
			}
		}()
	}
	for _, tok := range meTokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fctx.Err() == nil {
				me.do(c, fctx, tok)
			}
		}()
	}
	wg.Wait()
	memAfter, keysAfter := usedMemory(), rc.DBSize(ctx).Val()
	rss, _ := srv.peakRSS()
	// After the flood: can a user still sign in?
	_, afterErr := c.login(ctx, "admin", pass)

	who := "every flood request from one address"
	if botnet {
		who = "each flood request from a new address (a botnet)"
	}
	fmt.Printf("== %s\n", who)
	fmt.Printf("   flood:           %d requests (%.0f/s, %.0f MiB of documents): %s\n", flood.total(),
		float64(flood.total())/duration.Seconds(), float64(flood.total())*16/1024, flood.summary())
	fmt.Printf("   Redis memory:    %.1f MiB before, %.1f MiB at the peak, %.1f MiB after (maxmemory %d MiB); keys %d before, %d after\n",
		mib(memBefore), mib(peakMem.Load()), mib(memAfter), apqRedisMaxMemory>>20, keysBefore, keysAfter)
	fmt.Printf("   sign-ins:        %d: %s (%.1f%% succeeded)\n", signIn.total(), signIn.summary(), 100*signIn.share("200"))
	fmt.Printf("   { me { id } }:   %d: %s (%.1f%% succeeded); p99 %v\n", me.total(), me.summary(), 100*me.share("200"),
		me.percentile(99).Round(100*time.Microsecond))
	fmt.Printf("   authgraph RSS:   peak %.0f MiB (%.0f MiB before)\n", rss, rssBefore)
	if afterErr != nil {
		fmt.Printf("   sign-in after the flood: FAILED: %v\n\n", afterErr)
	} else {
		fmt.Printf("   sign-in after the flood: ok\n\n")
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// share is the fraction of answers of kind key.
func (t *tally) share(key string) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.counts {
		n += c
	}
	if n == 0 {
		return 0
	}
	return float64(t.counts[key]) / float64(n)
}

// persist sends query with its hash, as an APQ client registering it does.
func (c *client) persist(ctx context.Context, xff, query string) answer {
	sum := sha256.Sum256([]byte(query))
	body, _ := json.Marshal(map[string]any{"query": query,
		"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", xff)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{err: err, latency: time.Since(start), at: time.Now()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, latency: time.Since(start), at: time.Now()}
	var r struct {
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &r) == nil && len(r.Errors) > 0 {
		a.code, _ = r.Errors[0].Extensions["code"].(string)
	}
	return a
}
