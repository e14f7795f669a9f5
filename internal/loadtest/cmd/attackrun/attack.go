package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// attackRun is one configuration of the attack scenario.
type attackRun struct {
	name string
	env  map[string]string
}

func attack(ctx context.Context, bin string, attackers int, duration time.Duration) error {
	runs := []attackRun{
		{"default limits", nil},
		{"rate limits off: the hashing pool alone", map[string]string{"AUTHGRAPH_RATE_LIMITS": "off"}},
		{"rate limits off, pool as wide as the attack (no bound)", map[string]string{
			"AUTHGRAPH_RATE_LIMITS": "off", "AUTHGRAPH_HASH_WORKERS": strconv.Itoa(attackers), "AUTHGRAPH_HASH_QUEUE": "0"}},
	}
	fmt.Printf("attack: %d concurrent clients send wrong passwords and wrong user-key secrets for %v,\n"+
		"each from its own address; 4 clients run { me { id } } beside them.\n\n", attackers, duration)
	for _, r := range runs {
		if err := attackOnce(ctx, bin, attackers, duration, r); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
	}
	return nil
}

func attackOnce(ctx context.Context, bin string, attackers int, duration time.Duration, run attackRun) error {
	rs, srv, env, err := startStack(bin, "everysec", run.env)
	if err != nil {
		return err
	}
	defer rs.remove()
	defer srv.stop()
	c := newClient(srv.addr, attackers+16)

	// The target: a user with a password and a user key.
	admin, err := c.login(ctx, "admin", env["AUTHGRAPH_ADMIN_PASSWORD"])
	if err != nil {
		return err
	}
	if a := c.do(ctx, admin, "", `mutation { createUser(input: {username: "victim", password: "victim-password"}) { id } }`, nil); a.code != "" {
		return fmt.Errorf("createUser: %s", a.key())
	}
	victim, err := c.login(ctx, "victim", "victim-password")
	if err != nil {
		return err
	}
	k := c.do(ctx, victim, "", `mutation { createUserKey { id secret } }`, nil)
	keyID, _ := dig(k.data, "createUserKey", "id").(string)
	if keyID == "" {
		return fmt.Errorf("createUserKey: %s", k.key())
	}
	var meTokens []string
	for range 4 {
		tok, err := c.login(ctx, "admin", env["AUTHGRAPH_ADMIN_PASSWORD"])
		if err != nil {
			return err
		}
		meTokens = append(meTokens, tok)
	}
	before, _ := srv.peakRSS()

	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	attempts, me := newTally(), newTally()
	var wg sync.WaitGroup
	for i := range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := fmt.Sprintf("10.%d.%d.%d", 1+i/65536, i/256%256, i%256)
			for n := 0; ctx.Err() == nil; n++ {
				var a answer
				if n%2 == 0 {
					a = c.do(ctx, "", ip, loginQ, map[string]any{"u": "victim", "p": fmt.Sprint("guess-", i, "-", n)})
				} else {
					a = c.do(ctx, "", ip, keyQ, map[string]any{"id": keyID, "s": fmt.Sprint("agk_guess", i, n)})
				}
				if ctx.Err() == nil {
					attempts.add(a)
				}
			}
		}()
	}
	for _, tok := range meTokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				a := me.do(c, ctx, tok)
				_ = a
			}
		}()
	}
	wg.Wait()
	peak, err := srv.peakRSS()
	if err != nil {
		return err
	}

	fmt.Printf("== %s\n", run.name)
	fmt.Printf("   attempts:        %d in %v (%.0f/s): %s\n", attempts.total(), duration, float64(attempts.total())/duration.Seconds(), attempts.summary())
	fmt.Printf("   peak RSS:        %.0f MiB (%.0f MiB before the attack)\n", peak, before)
	fmt.Printf("   { me { id } }:   %d answered: %s; p50 %v, p99 %v\n\n", me.total(), me.summary(),
		me.percentile(50).Round(100*time.Microsecond), me.percentile(99).Round(100*time.Microsecond))
	return nil
}

// do runs { me { id } } and records the answer if the run has not ended.
func (t *tally) do(c *client, ctx context.Context, token string) answer {
	a := c.do(ctx, token, "", meQ, nil)
	if ctx.Err() == nil {
		t.add(a)
	}
	return a
}
