package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/passkey"
)

// passkeyConfig settles the relying party from AUTHGRAPH_WEBAUTHN_RP_ID and
// AUTHGRAPH_WEBAUTHN_ORIGINS, each defaulting to AUTHGRAPH_PUBLIC_URL (its host, its
// origin). It answers off (and no error) when neither is set and the public URL's host is
// an IP address, which browsers refuse as an RP ID: a development server on 127.0.0.1 runs
// without passkeys. Anything set that cannot work is refused at start: an RP ID that is not a
// domain, an origin not on it, or a public URL (where the account page is) not on it.
func passkeyConfig(c Config) (cfg passkey.Config, on bool, err error) {
	pub, err := url.Parse(c.PublicURL)
	if err != nil || pub.Host == "" {
		return cfg, false, fmt.Errorf("AUTHGRAPH_PUBLIC_URL %q: not an absolute URL", c.PublicURL)
	}
	host := strings.ToLower(pub.Hostname())
	publicOrigin := pub.Scheme + "://" + pub.Host
	rpID, origins := c.WebAuthnRPID, c.WebAuthnOrigins
	if rpID == "" && len(origins) == 0 && net.ParseIP(host) != nil {
		return cfg, false, nil
	}
	if rpID == "" {
		rpID = host
	}
	if len(origins) == 0 {
		origins = []string{publicOrigin}
	}
	if err := passkey.Check(rpID, origins); err != nil {
		return cfg, false, fmt.Errorf("AUTHGRAPH_WEBAUTHN_RP_ID / AUTHGRAPH_WEBAUTHN_ORIGINS: %w", err)
	}
	if err := passkey.Check(rpID, []string{publicOrigin}); err != nil {
		return cfg, false, fmt.Errorf("AUTHGRAPH_WEBAUTHN_RP_ID %q does not cover AUTHGRAPH_PUBLIC_URL %q, where the account page registers passkeys: %w", rpID, c.PublicURL, err)
	}
	return passkey.Config{RPID: rpID, Origins: origins}, true, nil
}

// newPasskeyVerifier builds the domain's passkey verifier, or answers nil (passkeys off).
func newPasskeyVerifier(c Config, logger zerolog.Logger) (auth.PasskeyVerifier, error) {
	pc, on, err := passkeyConfig(c)
	if err != nil || !on {
		if err == nil {
			logger.Info().Msg("passkeys: off (the public URL's host is an IP address: set AUTHGRAPH_PUBLIC_URL or AUTHGRAPH_WEBAUTHN_RP_ID)")
		}
		return nil, err
	}
	v, err := passkey.New(pc)
	if err != nil {
		return nil, err
	}
	logger.Info().Str("rp_id", pc.RPID).Strs("origins", pc.Origins).Msg("passkeys: on")
	return v, nil
}

// originList reads a comma-separated list of origins.
func originList(p *[]string) func(string) error {
	return func(v string) error {
		*p = nil
		for o := range strings.SplitSeq(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				*p = append(*p, strings.TrimSuffix(o, "/"))
			}
		}
		return nil
	}
}
