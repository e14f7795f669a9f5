package oidc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

// Issuer is one trusted identity provider and the users it may sign in. The JSON names are
// those ParseIssuers reads.
type Issuer struct {
	// URL is the issuer identifier, exactly as in the tokens' "iss" (a trailing slash
	// matters). It must be https, or http on a loopback host for tests.
	URL string `json:"url"`
	// Audiences are the accepted "aud" values (for Auth0: the API identifier); a token must
	// carry at least one of them. At least one is required: without an audience check, a
	// token the provider issued to any other application would sign in here.
	Audiences []string `json:"audiences"`
	// JWKSURL is where the signing keys are published. Empty means discover it from
	// URL + "/.well-known/openid-configuration".
	JWKSURL string `json:"jwks_url,omitempty"`
	// Algorithms is the allow-list of JWS algorithms; empty means RS256 and ES256.
	// "none" and HS* are always refused.
	Algorithms []string `json:"algorithms,omitempty"`
	// AllowedSubjects are the "sub" values allowed to sign in.
	AllowedSubjects []string `json:"allowed_subjects,omitempty"`
	// AllowedEmails are the emails allowed to sign in, compared ignoring ASCII case; the token
	// must also carry "email_verified": true.
	AllowedEmails []string `json:"allowed_emails,omitempty"`
	// Users maps an allowed subject or email to the local username it signs in as. Without an
	// entry, the username is the verified email, or "<issuer host>|<sub>" without one. Prefer
	// an entry per user: an email can change at the provider, and the default names of two
	// issuers can collide.
	Users map[string]string `json:"users,omitempty"`
	// Account names the local account (tenant) whose users this issuer signs in: its slug.
	// Empty means the caller's default. oidc only passes it on, in Identity.Account; the
	// caller checks it.
	Account string `json:"account,omitempty"`
}

// issuer is an Issuer checked and turned into lookup tables, with its go-oidc verifier.
type issuer struct {
	url            string
	host           string
	algs           map[string]bool
	algList        []string
	audiences      []string
	subjects       map[string]bool
	emails         map[string]bool // lowerASCII
	usersBySubject map[string]string
	usersByEmail   map[string]string // keyed by lowerASCII(email)
	account        string
	verifier       *gooidc.IDTokenVerifier
}

// compile checks cfg and builds its lookup tables. The error names the offending field by
// its JSON name, for an operator reading it at startup.
func compile(cfg Issuer) (*issuer, error) {
	u, err := checkURL(cfg.URL, false)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if cfg.JWKSURL != "" {
		if _, err := checkURL(cfg.JWKSURL, true); err != nil {
			return nil, fmt.Errorf("jwks_url: %w", err)
		}
	}
	is := &issuer{
		url:            cfg.URL,
		host:           u.Host,
		algs:           map[string]bool{},
		subjects:       map[string]bool{},
		emails:         map[string]bool{},
		usersBySubject: map[string]string{},
		usersByEmail:   map[string]string{},
		account:        cfg.Account,
	}

	if len(cfg.Audiences) == 0 {
		return nil, errors.New("audiences: at least one is required")
	}
	for _, a := range cfg.Audiences {
		if a == "" {
			return nil, errors.New("audiences: empty value")
		}
		is.audiences = append(is.audiences, a)
	}

	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = defaultAlgorithms
	}
	for _, a := range algs {
		if err := checkAlgorithm(a); err != nil {
			return nil, fmt.Errorf("algorithms: %w", err)
		}
		is.algs[a] = true
		is.algList = append(is.algList, a)
	}

	for _, s := range cfg.AllowedSubjects {
		if s == "" {
			return nil, errors.New("allowed_subjects: empty value")
		}
		is.subjects[s] = true
	}
	for _, e := range cfg.AllowedEmails {
		if !strings.Contains(e, "@") {
			return nil, fmt.Errorf("allowed_emails: %q is not an email", e)
		}
		is.emails[lowerASCII(e)] = true
	}
	if len(is.subjects) == 0 && len(is.emails) == 0 {
		return nil, errors.New("allowed_subjects, allowed_emails: at least one is required, or nobody could sign in")
	}

	for key, username := range cfg.Users {
		if username == "" {
			return nil, fmt.Errorf("users: %q maps to an empty username", key)
		}
		known := false
		if is.subjects[key] {
			is.usersBySubject[key] = username
			known = true
		}
		if is.emails[lowerASCII(key)] {
			is.usersByEmail[lowerASCII(key)] = username
			known = true
		}
		if !known {
			return nil, fmt.Errorf("users: %q is neither an allowed subject nor an allowed email", key)
		}
	}
	return is, nil
}

// checkURL parses raw and requires https, except on a loopback host where http is allowed
// so tests can run a provider in-process. An issuer identifier may have no query (OpenID
// Connect Discovery 1.0, §2); no URL may carry credentials or a fragment.
func checkURL(raw string, queryOK bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	shown := u.Redacted()
	if u.Host == "" || !u.IsAbs() {
		return nil, fmt.Errorf("%q is not an absolute URL", shown)
	}
	if u.User != nil || u.Fragment != "" || (!queryOK && u.RawQuery != "") {
		return nil, fmt.Errorf("%q must not carry credentials, a fragment or (for an issuer) a query", shown)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return nil, fmt.Errorf("%q must use https (http is allowed only on a loopback host)", shown)
	}
	return u, nil
}

// redactURL is raw with any password masked, for error messages.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable)"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// lowerASCII lowercases ASCII letters only. Emails are compared this way rather than with
// strings.EqualFold, whose Unicode folding would make, e.g., the Kelvin sign "K" equal "k"
// and let a different (verified) mailbox match an allowed one.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
