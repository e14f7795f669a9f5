package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

func chaos(ctx context.Context, bin string, gap time.Duration) error {
	const (
		sessions  = 200 // made before the load starts
		readers   = 16  // clients running { me { id } }
		loginers  = 4   // clients signing in, each from its own address, one login every 4 s
		warm      = 5 * time.Second
		afterward = 10 * time.Second
	)
	rs, srv, env, err := startStack(bin, "always", nil)
	if err != nil {
		return err
	}
	defer rs.remove()
	defer srv.stop()
	c := newClient(srv.addr, 64)

	fmt.Printf("chaos: Redis with appendonly yes, appendfsync always; %d sessions made first;\n"+
		"%d clients run { me { id } } and %d sign in every 4 s; after %v Redis is killed (SIGKILL)\n"+
		"and started again %v later; the load goes on %v after that.\n\n", sessions, readers, loginers, warm, gap, afterward)

	var tokensMu sync.Mutex
	var tokens []string // every token issued: all must still work at the end
	for i := range sessions {
		a := c.do(ctx, "", fmt.Sprintf("10.200.%d.%d", i/256, i%256), loginQ, map[string]any{"u": "admin", "p": env["AUTHGRAPH_ADMIN_PASSWORD"]})
		tok, _ := dig(a.data, "createSessionUsingUsername", "token").(string)
		if tok == "" {
			return fmt.Errorf("setup login %d: %s", i, a.key())
		}
		tokens = append(tokens, tok)
	}

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var mu sync.Mutex
	var reads, logins []answer
	var wg sync.WaitGroup
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				a := c.do(loadCtx, tokens[i%len(tokens)], "", meQ, nil)
				if loadCtx.Err() == nil {
					mu.Lock()
					reads = append(reads, a)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range loginers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(4 * time.Second)
			defer tick.Stop()
			for loadCtx.Err() == nil {
				a := c.do(loadCtx, "", fmt.Sprintf("10.201.0.%d", i), loginQ, map[string]any{"u": "admin", "p": env["AUTHGRAPH_ADMIN_PASSWORD"]})
				if loadCtx.Err() != nil {
					return
				}
				mu.Lock()
				logins = append(logins, a)
				mu.Unlock()
				if tok, _ := dig(a.data, "createSessionUsingUsername", "token").(string); tok != "" {
					tokensMu.Lock()
					tokens = append(tokens, tok)
					tokensMu.Unlock()
				}
				select {
				case <-tick.C:
				case <-loadCtx.Done():
				}
			}
		}()
	}
	// /readyz, every 100 ms.
	var readyMu sync.Mutex
	var readyAt []struct {
		at time.Time
		ok bool
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		hc := &http.Client{Timeout: 10 * time.Second}
		for loadCtx.Err() == nil {
			resp, err := hc.Get("http://" + srv.addr + "/readyz")
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				resp.Body.Close()
			}
			readyMu.Lock()
			readyAt = append(readyAt, struct {
				at time.Time
				ok bool
			}{time.Now(), ok})
			readyMu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	}()

	sleep(ctx, warm)
	before, err := rs.countKeys(ctx, "ag:t:*")
	if err != nil {
		return err
	}
	tokensMu.Lock()
	issuedBeforeKill := len(tokens)
	tokensMu.Unlock()
	killAt := time.Now()
	rs.kill()
	sleep(ctx, gap)
	if err := rs.start(); err != nil {
		return err
	}
	restartAt := time.Now()
	after, err := rs.countKeys(ctx, "ag:t:*")
	if err != nil {
		return err
	}
	sleep(ctx, afterward)
	stopLoad()
	wg.Wait()

	// Every token issued before the kill, checked again.
	lost := 0
	for _, tok := range tokens[:issuedBeforeKill] {
		if a := c.do(ctx, tok, "", meQ, nil); a.status != http.StatusOK || a.code != "" {
			lost++
		}
	}

	gapTally, all := newTally(), newTally()
	var lastBad time.Time
	unauthorized := 0
	for _, a := range append(reads, logins...) {
		all.add(a)
		if a.status == http.StatusUnauthorized {
			unauthorized++
		}
	}
	for _, a := range reads {
		if !a.at.Before(killAt) && a.at.Before(restartAt) {
			gapTally.add(a)
		}
		if a.at.After(restartAt) && (a.status != http.StatusOK || a.code != "") && a.at.After(lastBad) {
			lastBad = a.at
		}
	}
	recovery := time.Duration(0)
	if !lastBad.IsZero() {
		recovery = lastBad.Sub(restartAt)
	}
	var redAt, greenAt time.Time
	for _, r := range readyAt {
		if !r.ok && redAt.IsZero() && !r.at.Before(killAt) {
			redAt = r.at
		}
		if r.ok && !redAt.IsZero() && greenAt.IsZero() && r.at.After(restartAt) {
			greenAt = r.at
		}
	}

	fmt.Printf("requests, whole run:         %s\n", all.summary())
	fmt.Printf("  answered 401:              %d\n", unauthorized)
	fmt.Printf("{ me { id } } during the %v gap: %s; slowest answer %v\n", gap, gapTally.summary(), gapTally.percentile(100).Round(time.Millisecond))
	fmt.Printf("sessions in Redis:           %d before the kill, %d after the restart\n", before, after)
	fmt.Printf("tokens issued before the kill that no longer work: %d of %d\n", lost, issuedBeforeKill)
	fmt.Printf("recovered:                   %.1f s after Redis was back (last failed { me { id } })\n", recovery.Seconds())
	if !redAt.IsZero() && !greenAt.IsZero() {
		fmt.Printf("/readyz:                     red %.1f s after the kill, green %.1f s after the restart\n",
			redAt.Sub(killAt).Seconds(), greenAt.Sub(restartAt).Seconds())
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
