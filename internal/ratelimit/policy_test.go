package ratelimit

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// policyRules are small limits with long periods, so that no bucket refills in real time
// while a test runs: login:ip 10, login:ip+id 3, login:id 5, the others 2.
func policyRules() map[string]Limit {
	return map[string]Limit{
		RuleLoginIP:        {Rate: 10, Burst: 10, Period: time.Hour},
		RuleLoginIPAccount: {Rate: 3, Burst: 3, Period: time.Hour},
		RuleLoginAccount:   {Rate: 5, Burst: 5, Period: time.Hour},
		RuleRefreshIP:      {Rate: 2, Burst: 2, Period: time.Hour},
		RuleExternalIP:     {Rate: 2, Burst: 2, Period: time.Hour},
		RuleTOTPAccount:    {Rate: 2, Burst: 2, Period: time.Hour},
		RuleAPQRegisterIP:  {Rate: 2, Burst: 2, Period: time.Hour},
		RuleAPQLookupIP:    {Rate: 2, Burst: 2, Period: time.Hour},
	}
}

// login plays one attempt as the login path does: check, then report the outcome.
func login(t *testing.T, p *Policy, ip, account string, right bool) error {
	t.Helper()
	ctx := t.Context()
	if err := p.CheckLogin(ctx, ip, account); err != nil {
		return err
	}
	if right {
		if err := p.LoginSucceeded(ctx, ip, account); err != nil {
			t.Fatalf("LoginSucceeded(%s, %s): %v", ip, account, err)
		}
		return nil
	}
	if err := p.LoginFailed(ctx, ip, account); err != nil {
		t.Fatalf("LoginFailed(%s, %s): %v", ip, account, err)
	}
	return nil
}

// wantAllowed fails unless err is nil.
func wantAllowed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v, want allowed", what, err)
	}
}

// wantLimited fails unless err is a refusal by rule with a wait of at most max.
func wantLimited(t *testing.T, what string, err error, rule string, max time.Duration) {
	t.Helper()
	var le *LimitedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLimited) || errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("%s: %v, want a *LimitedError", what, err)
	}
	if le.Rule != rule || le.Delay <= 0 || le.Delay > max {
		t.Fatalf("%s: refused by %s after %v, want by %s after at most %v", what, le.Rule, le.Delay, rule, max)
	}
}

const (
	attacker = "203.0.113.66"
	user     = "198.51.100.7"
)

var policyTests = []conformanceTest{
	{"an attacking address is throttled, the user on another is not", func(t *testing.T, newEnv newEnvFunc) {
		p := NewPolicy(newEnv(t, policyRules()).lim)
		alice := Username("alice")
		for i := range 3 {
			wantAllowed(t, fmt.Sprintf("attacker's guess %d", i+1), login(t, p, attacker, alice, false))
		}
		wantLimited(t, "attacker's 4th guess", login(t, p, attacker, alice, false), RuleLoginIPAccount, 20*time.Minute)
		wantAllowed(t, "alice with her password, from her address", login(t, p, user, alice, true))
		wantAllowed(t, "alice again", login(t, p, user, alice, true))
		wantAllowed(t, "the attacker on another account", login(t, p, attacker, Username("bob"), false))
	}},
	{"an account under attack still lets its user in", func(t *testing.T, newEnv newEnvFunc) {
		p := NewPolicy(newEnv(t, policyRules()).lim)
		alice := Username("alice")
		bot := func(i int) string { return fmt.Sprintf("192.0.2.%d", i) }
		for i := range 5 { // five bots, one failure each: login:id is empty
			wantAllowed(t, "bot "+bot(i), login(t, p, bot(i), alice, false))
		}
		// A bot that has failed is refused now, though it has two guesses left on login:ip+id,
		// until the account has a failure to spare (12 minutes at 5 an hour).
		wantLimited(t, "bot that has failed", p.CheckLogin(t.Context(), bot(0), alice), RuleLoginAccount, 12*time.Minute)
		// A fresh bot gets one guess, which drains its bucket.
		wantAllowed(t, "fresh bot", login(t, p, bot(9), alice, false))
		wantLimited(t, "fresh bot's 2nd guess", p.CheckLogin(t.Context(), bot(9), alice), RuleLoginIPAccount, 20*time.Minute)
		// Alice, on her own address, gets in, and again.
		wantAllowed(t, "alice", login(t, p, user, alice, true))
		wantAllowed(t, "alice again", login(t, p, user, alice, true))
		// A typo during the attack costs her address the wait of a dirty one, not a lock-out.
		wantAllowed(t, "alice's typo", login(t, p, user, alice, false))
		wantLimited(t, "alice after her typo", p.CheckLogin(t.Context(), user, alice), RuleLoginIPAccount, 20*time.Minute)
		wantAllowed(t, "alice from another address", login(t, p, "198.51.100.8", alice, true))
		// Other accounts are not affected.
		wantAllowed(t, "bob from a bot's address", login(t, p, bot(0), Username("bob"), true))
	}},
	{"one address spraying many accounts", func(t *testing.T, newEnv newEnvFunc) {
		p := NewPolicy(newEnv(t, policyRules()).lim)
		for i := range 10 {
			wantAllowed(t, fmt.Sprintf("account %d", i), login(t, p, attacker, Username(fmt.Sprint("u", i)), false))
		}
		wantLimited(t, "account 11", login(t, p, attacker, Username("u10"), false), RuleLoginIP, 6*time.Minute+time.Second)
		// Successful logins count on the address too: it bounds the hashing work of one address.
		wantLimited(t, "right password from the same address", login(t, p, attacker, Username("u10"), true), RuleLoginIP, 6*time.Minute+time.Second)
		wantAllowed(t, "another address", login(t, p, user, Username("u10"), true))
	}},
	{"a success forgives the address's failures on the account", func(t *testing.T, newEnv newEnvFunc) {
		p := NewPolicy(newEnv(t, policyRules()).lim)
		alice := Username("alice")
		wantAllowed(t, "typo 1", login(t, p, user, alice, false))
		wantAllowed(t, "typo 2", login(t, p, user, alice, false))
		wantAllowed(t, "right", login(t, p, user, alice, true))
		for i := range 3 {
			wantAllowed(t, fmt.Sprintf("typo %d after success", i+1), login(t, p, user, alice, false))
		}
		wantLimited(t, "4th typo after success", login(t, p, user, alice, false), RuleLoginIPAccount, 20*time.Minute)
	}},
	{"usernames and user keys are different accounts", func(t *testing.T, newEnv newEnvFunc) {
		p := NewPolicy(newEnv(t, policyRules()).lim)
		for range 3 {
			wantAllowed(t, "username 130", login(t, p, attacker, Username("130"), false))
		}
		wantLimited(t, "username 130", login(t, p, attacker, Username("130"), false), RuleLoginIPAccount, 20*time.Minute)
		wantAllowed(t, "user key 130", login(t, p, attacker, UserKey(130), false))
	}},
	{"IPv6 addresses count by /64", func(t *testing.T, newEnv newEnvFunc) {
		p := NewPolicy(newEnv(t, policyRules()).lim)
		for i := range 10 {
			ip := fmt.Sprintf("2001:db8:aa:bb::%x", i+1)
			wantAllowed(t, ip, p.CheckLogin(t.Context(), ip, Username(fmt.Sprint("u", i))))
		}
		wantLimited(t, "same /64", p.CheckLogin(t.Context(), "2001:db8:aa:bb:ffff::1", Username("x")), RuleLoginIP, 7*time.Minute)
		wantAllowed(t, "next /64", p.CheckLogin(t.Context(), "2001:db8:aa:bc::1", Username("x")))
	}},
	{"refresh, external login and TOTP", func(t *testing.T, newEnv newEnvFunc) {
		p := NewPolicy(newEnv(t, policyRules()).lim)
		ctx := t.Context()
		for range 2 {
			wantAllowed(t, "refresh", p.CheckRefresh(ctx, attacker))
			wantAllowed(t, "external", p.CheckExternalLogin(ctx, attacker))
			wantAllowed(t, "totp", p.CheckTOTP(ctx, attacker, 1))
		}
		wantLimited(t, "3rd refresh", p.CheckRefresh(ctx, attacker), RuleRefreshIP, 31*time.Minute)
		wantLimited(t, "3rd external", p.CheckExternalLogin(ctx, attacker), RuleExternalIP, 31*time.Minute)
		wantLimited(t, "3rd totp", p.CheckTOTP(ctx, user, 1), RuleTOTPAccount, 31*time.Minute)
		wantAllowed(t, "totp of another user", p.CheckTOTP(ctx, user, 2))
		wantAllowed(t, "refresh from another address", p.CheckRefresh(ctx, user))
	}},
	{"persisted query lookups and registrations", func(t *testing.T, newEnv newEnvFunc) {
		p := NewPolicy(newEnv(t, policyRules()).lim)
		ctx := t.Context()
		for range 2 {
			wantAllowed(t, "lookup", p.CheckPersistedQueryLookup(ctx, attacker))
			wantAllowed(t, "registration", p.CheckPersistedQueryRegistration(ctx, attacker))
		}
		wantLimited(t, "3rd lookup", p.CheckPersistedQueryLookup(ctx, attacker), RuleAPQLookupIP, 31*time.Minute)
		wantLimited(t, "3rd registration", p.CheckPersistedQueryRegistration(ctx, attacker), RuleAPQRegisterIP, 31*time.Minute)
		wantAllowed(t, "lookup from another address", p.CheckPersistedQueryLookup(ctx, user))
		wantAllowed(t, "sign-in from the same address", p.CheckLogin(ctx, attacker, Username("a")))
	}},
}
