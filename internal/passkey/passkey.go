// Package passkey adapts github.com/go-webauthn/webauthn to the domain's PasskeyVerifier:
// the WebAuthn protocol work (options, attestation and assertion verification, origins and
// the RP ID) is the library's; this package only maps its types to the domain's and back.
// It builds no HTTP request: the library's byte-level parsers take the browser's JSON as the
// GraphQL layer received it.
//
// Policy, fixed here: discoverable credentials (resident keys) are required at registration,
// so that sign-in needs no username; user verification is required at registration and at
// sign-in, so that a passkey proves two factors; attestation is not asked for ("none"): the
// server trusts no authenticator model more than another, and the AAGUID is shown to the
// owner as a hint only.
package passkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authgraph/authgraph/internal/auth"
)

// Config is the relying party: its ID (a registrable domain, the host of the site or a
// parent of it) and the origins the browser may report.
type Config struct {
	RPID        string
	Origins     []string
	DisplayName string
}

// Verifier implements auth.PasskeyVerifier.
type Verifier struct {
	w *webauthn.WebAuthn
}

var _ auth.PasskeyVerifier = (*Verifier)(nil)

// New checks c and builds a verifier: every origin must be http(s) and its host the RP ID
// or a subdomain of it, as browsers require (else no ceremony could ever succeed).
func New(c Config) (*Verifier, error) {
	if err := Check(c.RPID, c.Origins); err != nil {
		return nil, err
	}
	name := c.DisplayName
	if name == "" {
		name = "authgraph"
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          c.RPID,
		RPDisplayName: name,
		RPOrigins:     c.Origins,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Verifier{w: w}, nil
}

// Check reports whether rpID and origins fit together: rpID a domain, each origin an
// http(s) origin (no path) whose host is rpID or under it.
func Check(rpID string, origins []string) error {
	if rpID == "" || strings.ContainsAny(rpID, ":/") {
		return fmt.Errorf("passkey: RP ID %q: want a domain name, without scheme or port", rpID)
	}
	if err := protocol.ValidateRPID(rpID); err != nil {
		return fmt.Errorf("passkey: RP ID %q: %w", rpID, err)
	}
	if len(origins) == 0 {
		return errors.New("passkey: no origins")
	}
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("passkey: origin %q: want scheme://host[:port]", o)
		}
		h := strings.ToLower(u.Hostname())
		if h != rpID && !strings.HasSuffix(h, "."+rpID) {
			return fmt.Errorf("passkey: origin %q is not on the RP ID %q (nor a subdomain of it): browsers would refuse every ceremony", o, rpID)
		}
	}
	return nil
}

// user is a domain user as the library wants it.
type user struct{ u auth.PasskeyUser }

func (x user) WebAuthnID() []byte          { return x.u.Handle }
func (x user) WebAuthnName() string        { return x.u.Name }
func (x user) WebAuthnDisplayName() string { return x.u.DisplayName }
func (x user) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(x.u.Passkeys))
	for i, p := range x.u.Passkeys {
		out[i] = credential(p)
	}
	return out
}

// credential rebuilds the library's record from a stored passkey: what verification reads
// (the key, the counter, the backup eligibility, which must not change).
func credential(p *auth.Passkey) webauthn.Credential {
	ts := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		ts[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:        p.CredentialID,
		PublicKey: p.PublicKey,
		Transport: ts,
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: true,
			BackupEligible: p.BackupEligible, BackupState: p.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}
}

func options(v any, s *webauthn.SessionData) (*auth.PasskeyOptions, error) {
	opts, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("passkey: options: %w", err)
	}
	state, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("passkey: state: %w", err)
	}
	return &auth.PasskeyOptions{Options: opts, State: state, Challenge: s.Challenge}, nil
}

func state(b []byte) (webauthn.SessionData, error) {
	var s webauthn.SessionData
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("passkey: stored state: %w", err)
	}
	return s, nil
}

// rejected wraps a refusal of the library for the domain, keeping its reason (the library's
// details name which check failed, never a secret).
func rejected(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		why := pe.Details
		if pe.DevInfo != "" {
			why += ": " + pe.DevInfo
		}
		return fmt.Errorf("%w: %s", auth.ErrPasskeyRejected, why)
	}
	return fmt.Errorf("%w: %v", auth.ErrPasskeyRejected, err)
}

// BeginRegistration implements auth.PasskeyVerifier.
func (v *Verifier) BeginRegistration(u auth.PasskeyUser) (*auth.PasskeyOptions, error) {
	exclude := make([]protocol.CredentialDescriptor, len(u.Passkeys))
	for i, p := range u.Passkeys {
		c := credential(p)
		exclude[i] = c.Descriptor()
	}
	creation, s, err := v.w.BeginRegistration(user{u}, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("passkey: begin registration: %w", err)
	}
	return options(creation, s)
}

// FinishRegistration implements auth.PasskeyVerifier.
func (v *Verifier) FinishRegistration(u auth.PasskeyUser, st, response []byte) (*auth.Passkey, error) {
	s, err := state(st)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, rejected(err)
	}
	c, err := v.w.CreateCredential(user{u}, s, parsed)
	if err != nil {
		return nil, rejected(err)
	}
	ts := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		ts[i] = string(t)
	}
	return &auth.Passkey{
		CredentialID: c.ID, PublicKey: c.PublicKey, AAGUID: c.Authenticator.AAGUID,
		SignCount: c.Authenticator.SignCount, Transports: ts,
		BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState,
	}, nil
}

// BeginSignIn implements auth.PasskeyVerifier: a discoverable (usernameless) login, which
// conditional mediation (autofill) can use as it is.
func (v *Verifier) BeginSignIn() (*auth.PasskeyOptions, error) {
	assertion, s, err := v.w.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("passkey: begin sign-in: %w", err)
	}
	return options(assertion, s)
}

// errLookup carries the domain's lookup error through the library, which wraps it.
type errLookup struct{ err error }

func (e errLookup) Error() string { return e.err.Error() }
func (e errLookup) Unwrap() error { return e.err }

// FinishSignIn implements auth.PasskeyVerifier.
func (v *Verifier) FinishSignIn(st, response []byte, lookup func(credentialID, userHandle []byte) (auth.PasskeyUser, error)) (*auth.PasskeyAssertion, error) {
	s, err := state(st)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, rejected(err)
	}
	var lookupErr error
	handler := func(rawID, handle []byte) (webauthn.User, error) {
		u, err := lookup(rawID, handle)
		if err != nil {
			lookupErr = err
			return nil, errLookup{err}
		}
		return user{u}, nil
	}
	_, c, err := v.w.ValidatePasskeyLogin(handler, s, parsed)
	if lookupErr != nil && !errors.Is(lookupErr, auth.ErrPasskeyRejected) {
		return nil, lookupErr // an outage, not a verdict
	}
	if lookupErr != nil {
		return nil, lookupErr
	}
	if err != nil {
		return nil, rejected(err)
	}
	flags := parsed.Response.AuthenticatorData.Flags
	if !bytes.Equal(c.ID, parsed.RawID) || !flags.HasUserVerified() {
		// The library checked UV (required in the state); checked again so a state written
		// by an older policy cannot slip through.
		return nil, fmt.Errorf("%w: user not verified", auth.ErrPasskeyRejected)
	}
	return &auth.PasskeyAssertion{
		CredentialID: c.ID,
		SignCount:    parsed.Response.AuthenticatorData.Counter,
		CloneWarning: c.Authenticator.CloneWarning,
		BackupState:  flags.HasBackupState(),
	}, nil
}

// Challenge implements auth.PasskeyVerifier: the challenge of clientDataJSON, which both
// kinds of response carry.
func (v *Verifier) Challenge(response []byte) (string, error) {
	var r struct {
		Response struct {
			ClientDataJSON protocol.URLEncodedBase64 `json:"clientDataJSON"`
		} `json:"response"`
	}
	if err := json.Unmarshal(response, &r); err != nil {
		return "", errors.New("not JSON of a PublicKeyCredential")
	}
	var cd protocol.CollectedClientData
	if err := json.Unmarshal(r.Response.ClientDataJSON, &cd); err != nil || cd.Challenge == "" {
		return "", errors.New("no challenge in clientDataJSON")
	}
	return cd.Challenge, nil
}
