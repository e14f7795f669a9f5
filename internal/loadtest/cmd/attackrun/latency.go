package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// latency measures { me { id } } open-loop: first the most a closed loop of workers gets
// through (the maximum rate), then a constant rate of 50 % and 80 % of it, each request sent
// on schedule whatever the earlier ones are doing, so that a slow answer delays nobody's
// start and queueing shows in the latency (a closed loop hides it: its clients wait, and
// send less). It prints p50, p99 and p99.9 of each.
func latency(ctx context.Context, bin string, duration time.Duration) error {
	rs, srv, env, err := startStack(bin, "everysec", nil)
	if err != nil {
		return err
	}
	defer rs.remove()
	defer srv.stop()
	c := newClient(srv.addr, 8)
	token, err := c.login(ctx, "admin", env["AUTHGRAPH_ADMIN_PASSWORD"])
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"query": meQ})
	target := vegeta.Target{
		Method: http.MethodPost, URL: "http://" + srv.addr + "/graphql", Body: body,
		Header: http.Header{"Content-Type": {"application/json"}, "X-Auth-Token": {token}},
	}
	fmt.Printf("latency: { me { id } } on one authgraph and one Redis (AOF everysec), on loopback;\n"+
		"the load generator shares the machine's %d cores. Each step runs %v.\n\n", cpus(), duration)

	// Closed loop: 32 workers, each sending its next request when its last is answered.
	const workers = 32
	closed := vegeta.NewAttacker(vegeta.Workers(workers), vegeta.MaxWorkers(workers), vegeta.Connections(workers))
	m, codes := attackOnceMetrics(ctx, closed, vegeta.NewStaticTargeter(target), vegeta.Rate{Freq: 0}, duration, "max")
	maxRate := m.Throughput
	fmt.Printf("%-28s %9s %9s %9s %9s %9s  %s\n", "step", "rate/s", "done/s", "p50", "p99", "p99.9", "answers")
	printLatency("closed loop, 32 workers", m, codes)

	for _, share := range []float64{0.5, 0.8} {
		rate := int(maxRate * share)
		// Open loop: as many workers as the schedule needs, so that none waits for a free one;
		// the connections are bounded as the closed loop's are (a request waiting for one is
		// timed from its start, so the wait shows in its latency), so that both steps cost the
		// server the same per request and only the schedule differs.
		time.Sleep(2 * time.Second) // the last step's connections close
		open := vegeta.NewAttacker(vegeta.Workers(workers), vegeta.MaxWorkers(4096), vegeta.Connections(workers), vegeta.MaxConnections(workers))
		m, codes := attackOnceMetrics(ctx, open, vegeta.NewStaticTargeter(target), vegeta.Rate{Freq: rate, Per: time.Second}, duration, "open")
		printLatency(fmt.Sprintf("open loop, %.0f %% of max", share*100), m, codes)
	}
	return nil
}

// attackOnceMetrics runs one attack and answers its metrics and its answers by status.
func attackOnceMetrics(ctx context.Context, a *vegeta.Attacker, tr vegeta.Targeter, rate vegeta.Rate, d time.Duration, name string) (*vegeta.Metrics, map[string]int) {
	var m vegeta.Metrics
	codes := map[string]int{}
	results := a.Attack(tr, rate, d, name)
	for {
		select {
		case <-ctx.Done():
			a.Stop()
		case r, ok := <-results:
			if !ok {
				m.Close()
				return &m, codes
			}
			m.Add(r)
			codes[resultKey(r)]++
			continue
		}
		break
	}
	for r := range results { // drain after a stop
		m.Add(r)
		codes[resultKey(r)]++
	}
	m.Close()
	return &m, codes
}

func resultKey(r *vegeta.Result) string {
	if r.Code == 0 {
		return "no answer"
	}
	return fmt.Sprint(r.Code)
}

func printLatency(step string, m *vegeta.Metrics, codes map[string]int) {
	fmt.Printf("%-28s %9.0f %9.0f %9s %9s %9s  %v\n", step, m.Rate, m.Throughput,
		ms(m.Latencies.P50), ms(m.Latencies.P99), ms(m.Latencies.Quantile(0.999)), codes)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
