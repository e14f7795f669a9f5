package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/httpapi"
	"github.com/authgraph/authgraph/internal/ratelimit"
)

// rateLimits is AUTHGRAPH_RATE_LIMITS: the limits that differ from ratelimit.DefaultRules,
// or off.
type rateLimits struct {
	off   bool
	rules map[string]ratelimit.Limit
}

// parseRateLimits reads "off", or a comma-separated list of rule=RATE/PERIOD[/BURST]:
// "login:ip=60/1m,login:id=120/1h/40". Rules not named keep their defaults.
func parseRateLimits(s string) (rateLimits, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return rateLimits{off: true}, nil
	}
	known := ratelimit.DefaultRules()
	out := rateLimits{rules: map[string]ratelimit.Limit{}}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, spec, ok := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return out, fmt.Errorf("want rule=RATE/PERIOD[/BURST], got %q", item)
		}
		if _, ok := known[name]; !ok {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			slices.Sort(names)
			return out, fmt.Errorf("unknown rule %q (rules: %s)", name, strings.Join(names, ", "))
		}
		l, err := ratelimit.ParseLimit(strings.TrimSpace(spec))
		if err != nil {
			return out, err
		}
		out.rules[name] = l
	}
	return out, nil
}

// newLimiter builds the service's Limiter: buckets in Redis when the store is Redis (so
// that every replica counts against the same limits), else in process.
func newLimiter(cfg Config, rdb redis.UniversalClient) (auth.Limiter, error) {
	if cfg.RateLimits.off {
		return auth.NoLimits{}, nil
	}
	var lim ratelimit.Limiter
	var err error
	if rdb != nil {
		lim, err = ratelimit.NewRedis(rdb, cfg.RedisPrefix, cfg.RateLimits.rules)
	} else {
		lim, err = ratelimit.NewMemory(clock.Real{}, cfg.RateLimits.rules, 0)
	}
	if err != nil {
		return nil, err
	}
	return policyLimiter{ratelimit.NewPolicy(lim)}, nil
}

// apqLimits is the limiter of persisted queries that goes with the service's Limiter: the
// same buckets (Redis when the store is Redis), or none when limits are off.
func apqLimits(l auth.Limiter) httpapi.APQLimiter {
	if pl, ok := l.(policyLimiter); ok {
		return pl.p
	}
	return nil
}

// introspectLimits is the limiter of token introspection, on the service's buckets, or none
// when limits are off.
func introspectLimits(l auth.Limiter) httpapi.IntrospectLimiter {
	if pl, ok := l.(policyLimiter); ok {
		return pl.p
	}
	return nil
}

// policyLimiter adapts ratelimit.Policy to the domain's Limiter: which policy method each
// attempt calls, and a refusal as the domain's RateLimitedError.
type policyLimiter struct{ p *ratelimit.Policy }

func (l policyLimiter) Check(ctx context.Context, a auth.Attempt, ip, id string) error {
	var err error
	switch a {
	case auth.AttemptPassword, auth.AttemptUserKey:
		err = l.p.CheckLogin(ctx, ip, account(a, id))
	case auth.AttemptRefresh:
		err = l.p.CheckRefresh(ctx, ip)
	case auth.AttemptExternal:
		err = l.p.CheckExternalLogin(ctx, ip)
	case auth.AttemptTOTP:
		uid, perr := strconv.ParseInt(id, 10, 64)
		if perr != nil {
			return fmt.Errorf("ratelimit: totp attempt for user %q: not a user id", id)
		}
		err = l.p.CheckTOTP(ctx, ip, uid)
	case auth.AttemptSignUp:
		err = l.p.CheckSignUp(ctx, ip, id)
	case auth.AttemptMail:
		err = l.p.CheckMail(ctx, ip, id)
	case auth.AttemptEmailToken:
		err = l.p.CheckEmailToken(ctx, ip)
	case auth.AttemptEmailCode:
		err = l.p.CheckEmailCode(ctx, ip, id)
		err = l.p.CheckLogin(ctx, ip, account(a, id))
	case auth.AttemptPasskey:
		err = l.p.CheckPasskey(ctx, ip)
	case auth.AttemptSSO:
		err = l.p.CheckSSO(ctx, ip)
	default:
		return fmt.Errorf("ratelimit: no policy for attempt %q", a)
	}
	var le *ratelimit.LimitedError
	if errors.As(err, &le) {
		return &auth.RateLimitedError{RetryAfter: le.RetryAfter(), Rule: le.Rule}
	}
	return err
}

func (l policyLimiter) Record(ctx context.Context, a auth.Attempt, ip, id string, ok bool) error {
	if a != auth.AttemptPassword && a != auth.AttemptUserKey && a != auth.AttemptEmailCode {
		return nil // the other rules count every attempt in Check
	}
	switch {
	case ok:
		return l.p.LoginSucceeded(ctx, ip, account(a, id))
	case a == auth.AttemptEmailCode:
		return l.p.EmailCodeFailed(ctx, ip, id)
	}
	return l.p.LoginFailed(ctx, ip, account(a, id))
}

// account names the account a login attempt targets, in the policy's namespaces (so that
// user "130" and user key 130 never share a bucket).
func account(a auth.Attempt, id string) string {
	if a == auth.AttemptEmailCode {
		return ratelimit.Recipient(id)
	}
	if a == auth.AttemptUserKey {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			return ratelimit.UserKey(n)
		}
		return "key:" + id
	}
	return ratelimit.Username(id)
}
