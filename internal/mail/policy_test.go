package mail

import (
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterAndACap(t *testing.T) {
	p := Policy{MinBackoff: 10 * time.Second, MaxBackoff: 30 * time.Minute}.withDefaults()
	for _, tc := range []struct {
		failures int
		hi       time.Duration
	}{{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {9, 30 * time.Minute}, {60, 30 * time.Minute}} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.backoff(tc.failures)
			if d < tc.hi/2 || d > tc.hi {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tc.failures, d, tc.hi/2, tc.hi)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("backoff(%d) has no jitter", tc.failures)
		}
	}
}

func TestPolicyDefaults(t *testing.T) {
	p := Policy{}.withDefaults()
	if p.MaxAttempts != 8 || p.MinBackoff != 10*time.Second || p.MaxBackoff != 30*time.Minute ||
		p.Visibility != 2*time.Minute || p.SentTTL != 7*24*time.Hour || p.MaxQueued != 100_000 || p.MaxDead != 10_000 {
		t.Errorf("defaults %+v", p)
	}
}
