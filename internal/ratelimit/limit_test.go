package ratelimit

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in   string
		want Limit
		ok   bool
	}{
		{"20/1m", Limit{Rate: 20, Burst: 20, Period: time.Minute}, true},
		{"60/1h/20", Limit{Rate: 60, Burst: 20, Period: time.Hour}, true},
		{"5/15m0s/5", Limit{Rate: 5, Burst: 5, Period: 15 * time.Minute}, true},
		{"", Limit{}, false},
		{"20", Limit{}, false},
		{"20/m", Limit{}, false},
		{"x/1m", Limit{}, false},
		{"20/1m/x", Limit{}, false},
		{"20/1m/5/5", Limit{}, false},
		{"0/1m", Limit{}, false},
		{"20/0s", Limit{}, false},
		{"20/1m/0", Limit{}, false},
		{"-1/1m", Limit{}, false},
	}
	for _, tt := range tests {
		got, err := ParseLimit(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok {
			if back, err := ParseLimit(got.String()); err != nil || back != got {
				t.Errorf("ParseLimit(%q.String() = %q) = %+v, %v", tt.in, got.String(), back, err)
			}
		}
	}
}

func TestRulesOverDefaults(t *testing.T) {
	custom := Limit{Rate: 1, Burst: 1, Period: time.Second}
	m, err := NewMemory(nil, map[string]Limit{RuleLoginIP: custom, "extra": custom}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.rules[RuleLoginIP].Limit != custom || m.rules["extra"].Limit != custom ||
		m.rules[RuleLoginAccount].Limit != DefaultRules()[RuleLoginAccount] {
		t.Error("given rules were not laid over the defaults")
	}
	for _, bad := range []map[string]Limit{{"x": {}}, {"": custom}, {RuleLoginIP: {Rate: 1, Burst: 0, Period: time.Second}}} {
		if _, err := NewMemory(nil, bad, 0); err == nil {
			t.Errorf("NewMemory accepted rules %v", bad)
		}
		if _, err := NewRedis(nil, "", bad); err == nil {
			t.Errorf("NewRedis accepted rules %v", bad)
		}
	}
}

func TestLimitedError(t *testing.T) {
	var err error = fmt.Errorf("login: %w", &LimitedError{Rule: RuleLoginIP, Delay: 1500 * time.Millisecond})
	var le *LimitedError
	if !errors.Is(err, ErrLimited) || !errors.As(err, &le) || errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("%v: want ErrLimited and a *LimitedError, not ErrUnavailable", err)
	}
	for delay, want := range map[time.Duration]time.Duration{
		0: time.Second, time.Millisecond: time.Second, time.Second: time.Second,
		1500 * time.Millisecond: 2 * time.Second, time.Minute + time.Nanosecond: 61 * time.Second,
	} {
		if got := (&LimitedError{Delay: delay}).RetryAfter(); got != want {
			t.Errorf("RetryAfter for a delay of %v = %v, want %v", delay, got, want)
		}
	}
}
