package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/authgraph/authgraph/internal/loadtest"
)

// client talks GraphQL to one server.
type client struct {
	url  string
	http *http.Client
}

func newClient(addr string, conns int) *client {
	return &client{
		url: "http://" + addr + "/graphql",
		http: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns},
		},
	}
}

// answer is what one request got.
type answer struct {
	status  int
	code    string // extensions.code of the first error, "" for none
	data    map[string]any
	latency time.Duration
	at      time.Time // when it was answered
	err     error     // a transport error: no answer at all
}

func (a answer) key() string {
	if a.err != nil {
		return "no answer"
	}
	if a.code == "" {
		return fmt.Sprintf("%d", a.status)
	}
	return fmt.Sprintf("%d %s", a.status, a.code)
}

func (c *client) do(ctx context.Context, token, xff, query string, vars map[string]any) answer {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("x-auth-token", token)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{err: err, latency: time.Since(start), at: time.Now()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, latency: time.Since(start), at: time.Now(), err: err}
	var r struct {
		Data   map[string]any `json:"data"`
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(b, &r)
	a.data = r.Data
	if len(r.Errors) > 0 {
		a.code, _ = r.Errors[0].Extensions["code"].(string)
	}
	return a
}

const (
	loginQ = `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`
	keyQ   = `mutation($id: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s}) { token } }`
	meQ    = `{ me { id } }`
)

func (c *client) login(ctx context.Context, user, pass string) (string, error) {
	a := c.do(ctx, "", "", loginQ, map[string]any{"u": user, "p": pass})
	tok, _ := dig(a.data, "createSessionUsingUsername", "token").(string)
	if tok == "" {
		return "", fmt.Errorf("login %s: %s %v", user, a.key(), a.err)
	}
	return tok, nil
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// tally counts answers by kind and keeps latencies.
type tally struct {
	mu        sync.Mutex
	counts    map[string]int
	latencies []time.Duration
}

func newTally() *tally { return &tally{counts: map[string]int{}} }

func (t *tally) add(a answer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[a.key()]++
	t.latencies = append(t.latencies, a.latency)
}

func (t *tally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.counts {
		n += c
	}
	return n
}

// percentile of the latencies, p in [0, 100] (nearest rank, as make bench reports them).
func (t *tally) percentile(p float64) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := slices.Clone(t.latencies)
	slices.Sort(s)
	return loadtest.Percentile(s, p)
}

func (t *tally) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d, ", k, t.counts[k])
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte(", ")))
}
