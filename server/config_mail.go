package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// parseSignUp reads AUTHGRAPH_SIGNUP and AUTHGRAPH_SIGNUP_DOMAINS.
func parseSignUp(policy, domains string) (auth.SignUpConfig, error) {
	c := auth.SignUpConfig{Policy: auth.SignUpPolicy(strings.ToUpper(strings.TrimSpace(policy)))}
	if !c.Policy.Valid() {
		return c, fmt.Errorf("AUTHGRAPH_SIGNUP must be CLOSED, INVITE or OPEN")
	}
	for _, d := range strings.Split(domains, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if _, err := auth.NormalizeEmail("x@" + d); err != nil {
			return c, fmt.Errorf("AUTHGRAPH_SIGNUP_DOMAINS: %q is not a domain (ASCII, xn-- form for international ones)", d)
		}
		c.AllowedDomains = append(c.AllowedDomains, d)
	}
	return c, nil
}

// tokenTTLNames are the names AUTHGRAPH_EMAIL_TOKEN_TTLS gives the purposes.
var tokenTTLNames = map[string]auth.TokenPurpose{
	"verify": auth.PurposeVerifyEmail, "reset": auth.PurposeResetPassword, "invite": auth.PurposeInvite,
	"code": auth.PurposeSignInCode, "change": auth.PurposeChangeEmail, "signup": auth.PurposeSignUp,
}

// parseTokenTTLs reads "reset=30m,code=5m": the purposes named get those lifetimes.
func parseTokenTTLs(s string) (map[auth.TokenPurpose]time.Duration, error) {
	out := map[auth.TokenPurpose]time.Duration{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, val, _ := strings.Cut(item, "=")
		p, ok := tokenTTLNames[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("unknown token %q (verify, reset, invite, code, change, signup)", name)
		}
		d, err := time.ParseDuration(strings.TrimSpace(val))
		if err != nil || d < time.Minute || d > 30*24*time.Hour {
			return nil, fmt.Errorf("%s: want a duration from 1m to 720h", name)
		}
		out[p] = d
	}
	return out, nil
}

// defaultPublicURL is the public URL of a server that was given none: itself, as a local
// browser reaches it (a wildcard listen address becomes localhost).
func defaultPublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost:8080"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
