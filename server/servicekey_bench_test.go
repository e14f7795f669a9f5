package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/redistest"
)

// BenchmarkServiceKeyRequest measures requests authenticated by x-api-key against anonymous
// ones, through a real listener on Redis: the figures of docs/service-keys.md. Modes, each run
// for a second by 8 clients with keep-alive, interleaved over 3 rounds: anonymous `{ version }`;
// the same with a service key (verified from the cache, metered from the meter's leases); and
// with a key that has a rate limit it never reaches. It reports each mode's requests per second and p99, and the ratios to
// anonymous (medians over the rounds): throughput ≥ 0.90 (key) and ≥ 0.80 (limited), p99 ≤ 1.5×.
func BenchmarkServiceKeyRequest(b *testing.B) {
	srv, _ := startRedisServer(b, map[string]string{"AUTHGRAPH_RATE_LIMITS": "off", "AUTHGRAPH_LOG_LEVEL": "warn",
		"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1"})
	admin := srv.login(b, adminName, adminPass)
	r := srv.post(b, admin, qCreateSA, map[string]any{"a": "1", "n": "bench", "s": []string{"read"}})
	if r.code() != "" {
		b.Fatal(r.Raw)
	}
	sa := r.str(b, "createServiceAccount.id")
	plain := createSK(b, srv, admin, sa, nil)
	limited := createSK(b, srv, admin, sa, map[string]any{"r": map[string]any{"requests": 1_000_000_000, "periodSeconds": 3600}})
	modes := []struct{ name, key string }{{"anonymous", ""}, {"x-api-key", plain.secret}, {"x-api-key+limit", limited.secret}}
	const workers, span, rounds = 8, time.Second, 3
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
	body := `{"query":"{ version }"}`
	run := func(key string) (rps float64, p99 time.Duration) {
		var mu sync.Mutex
		var lat []time.Duration
		ctx, cancel := context.WithTimeout(context.Background(), span)
		defer cancel()
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for ctx.Err() == nil {
					req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					if key != "" {
						req.Header.Set("x-api-key", key)
					}
					start := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		slices.Sort(lat)
		return float64(len(lat)) / span.Seconds(), lat[len(lat)*99/100]
	}
	for b.Loop() {
		rps := make([][]float64, len(modes))
		p99 := make([][]time.Duration, len(modes))
		for range rounds {
			for i, m := range modes {
				r, p := run(m.key)
				rps[i], p99[i] = append(rps[i], r), append(p99[i], p)
			}
		}
		median := func(xs []float64) float64 { s := slices.Clone(xs); slices.Sort(s); return s[len(s)/2] }
		var ratio [3]float64
		var pratio [3]float64
		for i := range modes {
			var rr, pr []float64
			for k := range rounds {
				rr = append(rr, rps[i][k]/rps[0][k])
				pr = append(pr, float64(p99[i][k])/float64(p99[0][k]))
			}
			ratio[i], pratio[i] = median(rr), median(pr)
		}
		for i, m := range modes {
			b.ReportMetric(median(rps[i]), m.name+"-req/s")
			b.ReportMetric(float64(median(durs(p99[i])))/1e3, m.name+"-p99-µs")
		}
		b.ReportMetric(ratio[1], "key/anon")
		b.ReportMetric(ratio[2], "limited/anon")
		b.ReportMetric(pratio[1], "key-p99/anon")
		b.ReportMetric(pratio[2], "limited-p99/anon")
	}
}

func durs(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d)
	}
	return out
}

// TestServiceKeyRedisFootprint measures what a service key costs in Redis: its record, its
// digest index entry and its service account's key index, per key; and what an hour of a
// key's usage costs in the meter.
func TestServiceKeyRedisFootprint(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "8", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_LOG_LEVEL": "warn"})
	admin := srv.login(t, adminName, adminPass)
	sa := createSA(t, srv, admin, "1", "footprint", []string{"read"})
	ctx := context.Background()
	usage := func(pattern string) (total int64, n int) {
		keys, err := redistest.Keys(ctx, rs.Client, rs.Prefix+pattern) // every master of a cluster
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			m, _ := rs.Client.MemoryUsage(ctx, k, 0).Result()
			total += m
		}
		return total, len(keys)
	}
	before, _ := usage("{sk}:[dk]:*")
	const n = 50
	var keys []serviceKey
	for range n {
		keys = append(keys, createSK(t, srv, admin, sa, map[string]any{"q": map[string]any{"limit": 1000000}}))
	}
	after, count := usage("{sk}:[dk]:*")
	idx, _ := usage("{sk}:ks:*")
	perKey := float64(after-before+idx) / n
	t.Logf("Redis bytes per service key (record, digest entry, its share of the key index): %.0f over %d keys (%d key names)", perKey, n, count)
	if perKey <= 0 || perKey > 1500 {
		t.Errorf("%.0f bytes per service key: want a few hundred", perKey)
	}
	// An hour of usage: each key makes requests, all in this hour.
	m0, _ := usage("km*")
	for _, k := range keys {
		for range 3 {
			ok(t, "a request", srv.apiPost(t, k.secret, `{ version }`, nil))
		}
	}
	time.Sleep(1500 * time.Millisecond) // the meter writes the usage it counts in process every second
	m1, mk := usage("km*")
	t.Logf("Redis bytes of the meter per key with one hour of usage (quota, hour counts, lastUsed): %.0f (%d key names)", float64(m1-m0)/n, mk)
}
