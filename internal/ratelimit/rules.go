package ratelimit

import (
	"fmt"
	"maps"
	"time"
)

// Rule names. Policy uses them; a limiter built with DefaultRules (or rules merged over them)
// knows them all.
const (
	// RuleLoginIP counts every login attempt (password or user key) from one address,
	// before any hashing: it bounds the argon2 work and the guesses one address can make.
	RuleLoginIP = "login:ip"
	// RuleLoginIPAccount counts failed logins from one address on one account.
	RuleLoginIPAccount = "login:ip+id"
	// RuleLoginAccount counts failed logins on one account, from anywhere.
	RuleLoginAccount = "login:id"
	// RuleRefreshIP counts refreshSession calls from one address.
	RuleRefreshIP = "refresh:ip"
	// RuleExternalIP counts external (OIDC) logins from one address.
	RuleExternalIP = "external:ip"
	// RuleTOTPAccount counts TOTP code checks on one account.
	RuleTOTPAccount = "totp:id"
	// RuleAPQRegisterIP counts the persisted queries one address asks to have kept (hash and
	// query sent together, for a hash the cache does not hold yet).
	RuleAPQRegisterIP = "apq:register:ip"
	// RuleAPQLookupIP counts persisted query lookups (hash sent alone) from one address.
	RuleAPQLookupIP = "apq:lookup:ip"
	// RuleSignUpIP counts signUp calls from one address.
	RuleSignUpIP = "signup:ip"
	// RuleMailIP counts the requests that send mail (a reset, a sign-in code, a
	// verification, a change of address) from one address.
	RuleMailIP = "mail:ip"
	// RuleMailTo counts the mails requested for one recipient address, from anywhere (and
	// the sign-ups naming it): nobody can mail-bomb an address.
	RuleMailTo = "mail:to"
	// RuleEmailTokenIP counts the uses of emailed tokens (verifyEmail, resetPassword,
	// acceptInvitation) from one address.
	RuleEmailTokenIP = "email_token:ip"
	// RuleEmailCodeID counts the wrong emailed sign-in codes given for one address, from
	// anywhere; once spent it refuses every address. A code has a million values and every
	// request for a new one resets its 5 tries: without a cap per address, a botnet asking
	// for codes and guessing all day would find one in months.
	RuleEmailCodeID = "email_code:id"
	// RuleIntrospectIP counts token introspection requests (POST /introspect and its
	// auth_request variant) from one address, before the caller is authenticated.
	RuleIntrospectIP = "introspect:ip"
	// RulePasskeyIP counts passkey sign-ins, begun and finished, from one address.
	RulePasskeyIP = "passkey:ip"
	// RuleSSOIP counts the steps of sign-in through an identity provider from one address:
	// starting a flow (which stores it), its callback and createSessionUsingAuthorizationCode
	// (which call the provider).
	RuleSSOIP = "sso:ip"
)

// DefaultRules returns the limits used when configuration sets none. They throttle one
// address on one account (5 failures, then one per 3 minutes) far harder than the account
// itself (20 failures, then one a minute), and the address overall (20 attempts a minute)
// harder still than any human needs; see doc.go for why each is what it is.
func DefaultRules() map[string]Limit {
	return map[string]Limit{
		RuleLoginIP:        {Rate: 20, Burst: 20, Period: time.Minute},
		RuleLoginIPAccount: {Rate: 5, Burst: 5, Period: 15 * time.Minute},
		RuleLoginAccount:   {Rate: 60, Burst: 20, Period: time.Hour},
		RuleRefreshIP:      {Rate: 60, Burst: 60, Period: time.Minute},
		RuleExternalIP:     {Rate: 20, Burst: 20, Period: time.Minute},
		RuleTOTPAccount:    {Rate: 5, Burst: 5, Period: 5 * time.Minute},
		// An application has a few dozen operations, each registered once per replica; a
		// flood of distinct documents is refused after a minute's worth.
		RuleAPQRegisterIP: {Rate: 60, Burst: 60, Period: time.Minute},
		// Every query of every client behind an address is a lookup, so this one is wide
		// (5 a second); it still turns a lookup into a slow oracle rather than a free one.
		RuleAPQLookupIP: {Rate: 300, Burst: 300, Period: time.Minute},
		// A person asks for a few mails an hour; an address behind a busy NAT for more.
		RuleSignUpIP: {Rate: 20, Burst: 10, Period: time.Hour},
		RuleMailIP:   {Rate: 30, Burst: 10, Period: time.Hour},
		// Three mails at once, then one every 12 minutes, to any one address.
		RuleMailTo:       {Rate: 5, Burst: 3, Period: time.Hour},
		RuleEmailTokenIP: {Rate: 30, Burst: 30, Period: time.Minute},
		// 10 wrong codes, then 10 a day: about one chance in 100,000 a day, 0.4 % a year.
		RuleEmailCodeID: {Rate: 10, Burst: 10, Period: 24 * time.Hour},
		// A gateway asks once per request it forwards, all from one address: wide (100 a
		// second), still a bound on the secret guesses and store reads of one address.
		RuleIntrospectIP: {Rate: 6000, Burst: 1000, Period: time.Minute},
		// A sign-in is two calls; each begun one keeps a ceremony (about 500 bytes) for 5
		// minutes, so one address holds at most a few hundred at a time.
		RulePasskeyIP: {Rate: 60, Burst: 30, Period: time.Minute},
		// A sign-in is two steps (start, callback); a person clicks a few times a minute.
		RuleSSOIP: {Rate: 30, Burst: 20, Period: time.Minute},
	}
}

// withDefaults returns DefaultRules with rules laid over them, after checking every limit, so
// that configuration need only name the limits it changes and Policy always finds its rules.
func withDefaults(rules map[string]Limit) (map[string]Limit, error) {
	all := DefaultRules()
	maps.Copy(all, rules)
	for name, l := range all {
		if name == "" {
			return nil, fmt.Errorf("ratelimit: a rule has an empty name")
		}
		if err := l.Validate(); err != nil {
			return nil, fmt.Errorf("ratelimit: rule %q: %w", name, err)
		}
	}
	return all, nil
}
