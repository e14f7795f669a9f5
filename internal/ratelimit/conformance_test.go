package ratelimit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// env is one subtest's limiter and a way to let time pass on the limiter's clock: the
// memory limiter's fake clock moves, the Redis limiter's real one is waited for.
type env struct {
	lim  Limiter
	wait func(time.Duration)
}

// newEnvFunc makes an independent limiter enforcing rules (over the defaults).
type newEnvFunc func(t *testing.T, rules map[string]Limit) env

// runConformance checks a Limiter, and Policy on it, so that the Redis and memory limiters
// behave alike. Periods are long wherever a test must not see a refill in real time.
func runConformance(t *testing.T, newEnv newEnvFunc) {
	for _, group := range [][]conformanceTest{limiterTests, policyTests} {
		for _, tt := range group {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tt.run(t, newEnv)
			})
		}
	}
}

type conformanceTest struct {
	name string
	run  func(t *testing.T, newEnv newEnvFunc)
}

const testRule = "test"

func oneRule(l Limit) map[string]Limit { return map[string]Limit{testRule: l} }

func mustAllow(t *testing.T, lim Limiter, rule, key string) Result {
	t.Helper()
	res, err := lim.Allow(t.Context(), rule, key)
	if err != nil {
		t.Fatalf("Allow(%s, %.20q): %v", rule, key, err)
	}
	return res
}

func mustPeek(t *testing.T, lim Limiter, rule, key string) Result {
	t.Helper()
	res, err := lim.Peek(t.Context(), rule, key)
	if err != nil {
		t.Fatalf("Peek(%s, %.20q): %v", rule, key, err)
	}
	return res
}

// exhaust makes the attempts the bucket allows and returns the first refusal.
func exhaust(t *testing.T, lim Limiter, rule, key string) Result {
	t.Helper()
	for range 1000 {
		if res := mustAllow(t, lim, rule, key); !res.Allowed {
			return res
		}
	}
	t.Fatalf("%s %q: still allowed after 1000 attempts", rule, key)
	return Result{}
}

var limiterTests = []conformanceTest{
	{"burst allowed, then refused with RetryAfter", func(t *testing.T, newEnv newEnvFunc) {
		for _, l := range []Limit{
			{Rate: 5, Burst: 5, Period: time.Hour},
			{Rate: 1, Burst: 3, Period: time.Hour},
			{Rate: 100, Burst: 1, Period: 24 * time.Hour},
		} {
			e := newEnv(t, oneRule(l))
			for i := range l.Burst {
				res := mustAllow(t, e.lim, testRule, "k")
				if !res.Allowed || res.Remaining != l.Burst-1-i || res.RetryAfter != 0 || res.ResetAfter <= 0 {
					t.Fatalf("%v: attempt %d = %+v, want allowed with %d remaining", l, i+1, res, l.Burst-1-i)
				}
			}
			res := mustAllow(t, e.lim, testRule, "k")
			interval := l.Period / time.Duration(l.Rate)
			if res.Allowed || res.Remaining != 0 || res.RetryAfter <= 0 || res.RetryAfter > interval {
				t.Errorf("%v: attempt %d = %+v, want refused with 0 < RetryAfter <= %v", l, l.Burst+1, res, interval)
			}
			if res.ResetAfter < res.RetryAfter || res.ResetAfter > time.Duration(l.Burst)*interval {
				t.Errorf("%v: ResetAfter = %v, want between RetryAfter and %v", l, res.ResetAfter, time.Duration(l.Burst)*interval)
			}
			if again := mustAllow(t, e.lim, testRule, "k"); again.Allowed {
				t.Errorf("%v: a refused attempt's retry was allowed", l)
			}
		}
	}},
	{"keys and rules are independent", func(t *testing.T, newEnv newEnvFunc) {
		l := Limit{Rate: 2, Burst: 2, Period: time.Hour}
		e := newEnv(t, map[string]Limit{"a": l, "b": l})
		exhaust(t, e.lim, "a", "k1")
		if res := mustAllow(t, e.lim, "a", "k2"); !res.Allowed || res.Remaining != 1 {
			t.Errorf("other key under the same rule = %+v, want a full bucket", res)
		}
		if res := mustAllow(t, e.lim, "b", "k1"); !res.Allowed || res.Remaining != 1 {
			t.Errorf("same key under another rule = %+v, want a full bucket", res)
		}
	}},
	{"any key bytes and length", func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, oneRule(Limit{Rate: 1, Burst: 1, Period: time.Hour}))
		keys := []string{"", "a:b", "a\x00b", "ünï/cødé *?[", strings.Repeat("x", 1<<20), strings.Repeat("x", 1<<20-1) + "y"}
		for _, k := range keys {
			if res := mustAllow(t, e.lim, testRule, k); !res.Allowed {
				t.Errorf("key %.20q: first attempt refused; keys are not independent", k)
			}
		}
		for _, k := range keys {
			if res := mustAllow(t, e.lim, testRule, k); res.Allowed {
				t.Errorf("key %.20q: second attempt allowed", k)
			}
		}
	}},
	{"allowed again once RetryAfter has passed", func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, oneRule(Limit{Rate: 1, Burst: 1, Period: time.Second}))
		res := exhaust(t, e.lim, testRule, "k")
		e.wait(res.RetryAfter / 10)
		if res := mustAllow(t, e.lim, testRule, "k"); res.Allowed {
			t.Fatal("allowed before RetryAfter had passed")
		}
		// The refusal's own RetryAfter is what to wait; a few rounds allow for float
		// rounding and for the time between Redis's reading of its clock and ours.
		for i := 0; !res.Allowed; i++ {
			if i == 5 {
				t.Fatalf("still refused after waiting RetryAfter %d times: %+v", i, res)
			}
			e.wait(res.RetryAfter)
			res = mustAllow(t, e.lim, testRule, "k")
		}
	}},
	{"Peek counts nothing", func(t *testing.T, newEnv newEnvFunc) {
		l := Limit{Rate: 3, Burst: 3, Period: time.Hour}
		e := newEnv(t, oneRule(l))
		for range 3 {
			if res := mustPeek(t, e.lim, testRule, "k"); !res.Allowed || res.Remaining != 3 || res.ResetAfter != 0 {
				t.Fatalf("Peek on an unused key = %+v, want allowed, 3 remaining, full", res)
			}
		}
		mustAllow(t, e.lim, testRule, "k")
		for range 3 {
			if res := mustPeek(t, e.lim, testRule, "k"); !res.Allowed || res.Remaining != 2 || res.ResetAfter <= 0 {
				t.Fatalf("Peek after one attempt = %+v, want allowed, 2 remaining", res)
			}
		}
		refused := exhaust(t, e.lim, testRule, "k")
		res := mustPeek(t, e.lim, testRule, "k")
		if res.Allowed || res.Remaining != 0 || res.RetryAfter <= 0 || res.RetryAfter > refused.RetryAfter {
			t.Errorf("Peek on an empty bucket = %+v, want refused with 0 < RetryAfter <= %v", res, refused.RetryAfter)
		}
		if diff := refused.RetryAfter - res.RetryAfter; diff > 5*time.Second {
			t.Errorf("Peek's RetryAfter %v is %v short of Allow's %v", res.RetryAfter, diff, refused.RetryAfter)
		}
	}},
	{"Drain empties the bucket", func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, oneRule(Limit{Rate: 4, Burst: 4, Period: time.Hour}))
		mustAllow(t, e.lim, testRule, "used")
		for _, k := range []string{"unused", "used"} {
			if err := e.lim.Drain(t.Context(), testRule, k); err != nil {
				t.Fatal(err)
			}
			if res := mustPeek(t, e.lim, testRule, k); res.Allowed || res.Remaining != 0 || res.RetryAfter <= 0 || res.ResetAfter <= 0 {
				t.Errorf("%s key: Peek after Drain = %+v, want refused", k, res)
			}
			if res := mustAllow(t, e.lim, testRule, k); res.Allowed {
				t.Errorf("%s key: Allow after Drain was allowed", k)
			}
			if err := e.lim.Drain(t.Context(), testRule, k); err != nil {
				t.Errorf("%s key: Drain of an empty bucket: %v", k, err)
			}
		}
	}},
	{"Reset refills the bucket", func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, oneRule(Limit{Rate: 2, Burst: 2, Period: time.Hour}))
		exhaust(t, e.lim, testRule, "k")
		exhaust(t, e.lim, testRule, "other")
		for range 2 { // a second Reset, of a full bucket, is harmless
			if err := e.lim.Reset(t.Context(), testRule, "k"); err != nil {
				t.Fatal(err)
			}
		}
		if res := mustPeek(t, e.lim, testRule, "k"); !res.Allowed || res.Remaining != 2 || res.ResetAfter != 0 {
			t.Errorf("Peek after Reset = %+v, want a full bucket", res)
		}
		if res := mustAllow(t, e.lim, testRule, "other"); res.Allowed {
			t.Error("Reset of one key refilled another")
		}
	}},
	{"unknown rule is an error, not an outage", func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, nil)
		ctx := t.Context()
		_, errAllow := e.lim.Allow(ctx, "nope", "k")
		_, errPeek := e.lim.Peek(ctx, "nope", "k")
		for name, err := range map[string]error{
			"Allow": errAllow, "Peek": errPeek,
			"Drain": e.lim.Drain(ctx, "nope", "k"), "Reset": e.lim.Reset(ctx, "nope", "k"),
		} {
			if !errors.Is(err, ErrUnknownRule) || errors.Is(err, auth.ErrUnavailable) {
				t.Errorf("%s with an unknown rule: %v, want ErrUnknownRule", name, err)
			}
		}
	}},
	{"concurrent attempts: exactly the burst is allowed", func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, oneRule(Limit{Rate: 10, Burst: 10, Period: time.Hour}))
		const n = 50
		var (
			start   = make(chan struct{})
			wg      sync.WaitGroup
			mu      sync.Mutex
			allowed int
			errs    []error
		)
		for range n {
			wg.Go(func() {
				<-start
				res, err := e.lim.Allow(context.Background(), testRule, "k")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				} else if res.Allowed {
					allowed++
				}
			})
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d errors, first: %v", len(errs), errs[0])
		}
		if allowed != 10 {
			t.Errorf("%d of %d concurrent attempts allowed, want exactly 10", allowed, n)
		}
	}},
}
