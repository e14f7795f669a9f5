package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/gid"
)

func TestPresentError(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		code, msg   string
		retryAfter  any
		mustNotShow string
	}{
		{"a domain error", auth.Errorf(auth.CodeForbidden, "no"), "FORBIDDEN", "no", nil, ""},
		{"a rate limit, with its wait and without its rule",
			fmt.Errorf("login: %w", &auth.RateLimitedError{RetryAfter: 2500 * time.Millisecond, Rule: "login:ip+id"}),
			"RATE_LIMITED", auth.MsgRateLimited, 3, "login:ip"},
		{"an outage", fmt.Errorf("redis: dial tcp 10.0.0.7:6379: %w", auth.ErrUnavailable),
			"SERVICE_UNAVAILABLE", auth.MsgUnavailable, nil, "10.0.0.7"},
		{"a malformed id", fmt.Errorf("%w: bad", gid.ErrInvalid), "BAD_USER_INPUT", "", nil, ""},
		{"anything else is masked", errors.New("pq: secret table"), "INTERNAL_SERVER_ERROR", "", nil, "secret table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := PresentError(context.Background(), tt.err)
			if e.Extensions["code"] != tt.code {
				t.Fatalf("code %v, want %s", e.Extensions["code"], tt.code)
			}
			if tt.msg != "" && e.Message != tt.msg {
				t.Fatalf("message %q, want %q", e.Message, tt.msg)
			}
			if e.Extensions["retryAfter"] != tt.retryAfter {
				t.Fatalf("retryAfter %v, want %v", e.Extensions["retryAfter"], tt.retryAfter)
			}
			if tt.mustNotShow != "" && strings.Contains(fmt.Sprint(e.Message, e.Extensions), tt.mustNotShow) {
				t.Fatalf("the answer shows %q: %s %v", tt.mustNotShow, e.Message, e.Extensions)
			}
			if e.Err != nil {
				t.Fatal("the cause is kept on the presented error")
			}
		})
	}
}
