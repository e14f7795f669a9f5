// Package passkeytest is a software WebAuthn authenticator for tests: it answers the options
// of navigator.credentials.create and .get as a browser with a platform authenticator would
// (an ES256 key, "none" attestation, authenticator data with its flags and counter,
// clientDataJSON), so that a test can run whole ceremonies against a server without a
// browser. Its knobs make the responses a test wants refused: another origin or RP ID, no
// user verification, a counter set back (a clone).
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Authenticator holds one credential once Create has made it.
type Authenticator struct {
	// Origin is what clientDataJSON reports; RPID, if set, replaces the options' RP ID in
	// the authenticator data's hash.
	Origin string
	RPID   string
	// NoUV leaves the user-verified flag off.
	NoUV bool
	// BackupEligible and BackupState set the BE and BS flags (a synced passkey).
	BackupEligible, BackupState bool
	// Counter is the signature counter; each Create and Get adds one first, unless
	// FixedCounter (an authenticator that keeps none, which reports zero).
	Counter      uint32
	FixedCounter bool

	key          *ecdsa.PrivateKey
	CredentialID []byte
	UserHandle   []byte
	rpID         string
}

var b64 = base64.RawURLEncoding

// New makes an authenticator that answers for origin.
func New(origin string) *Authenticator { return &Authenticator{Origin: origin} }

// Clone is a copy of the authenticator with the same credential and counter: what an
// attacker who extracted the key would hold.
func (a *Authenticator) Clone() *Authenticator {
	c := *a
	return &c
}

// Rewound is the authenticator with its counter set back by one: a copy that has signed
// once less than the original, as a clone taken earlier has.
func (a *Authenticator) Rewound() *Authenticator {
	c := *a
	if c.Counter > 0 {
		c.Counter--
	}
	c.FixedCounter = false
	return &c
}

type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

func parse(opts []byte) (*options, error) {
	var o options
	if err := json.Unmarshal(opts, &o); err != nil {
		return nil, fmt.Errorf("passkeytest: options: %w", err)
	}
	if o.PublicKey.Challenge == "" {
		return nil, errors.New("passkeytest: options without a challenge")
	}
	return &o, nil
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func (a *Authenticator) flags() byte {
	f := byte(flagUP)
	if !a.NoUV {
		f |= flagUV
	}
	if a.BackupEligible {
		f |= flagBE
	}
	if a.BackupState {
		f |= flagBS
	}
	return f
}

func (a *Authenticator) next() uint32 {
	if !a.FixedCounter {
		a.Counter++
	}
	return a.Counter
}

func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) authData(rpID string, flags byte, counter uint32, attested []byte) []byte {
	if a.RPID != "" {
		rpID = a.RPID
	}
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, counter)
	return append(out, attested...)
}

// Create answers navigator.credentials.create's options (the JSON the server answered,
// {"publicKey": …}) with the JSON of a new PublicKeyCredential, and keeps the credential.
func (a *Authenticator) Create(opts []byte) ([]byte, error) {
	o, err := parse(opts)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, fmt.Errorf("passkeytest: user id: %w", err)
	}
	a.key, a.UserHandle, a.rpID = key, handle, o.PublicKey.RP.ID
	a.CredentialID = make([]byte, 32)
	if _, err := rand.Read(a.CredentialID); err != nil {
		return nil, err
	}
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	// COSE_Key, EC2 on P-256 for ES256 (RFC 9053): {1: 2, 3: -7, -1: 1, -2: x, -3: y}.
	cose := cborMap(
		cborInt(1), cborInt(2),
		cborInt(3), cborInt(-7),
		cborInt(-1), cborInt(1),
		cborInt(-2), cborBytes(pub[1:33]),
		cborInt(-3), cborBytes(pub[33:65]),
	)
	attested := make([]byte, 16) // AAGUID: zero, as a "none" attestation may say
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.CredentialID)))
	attested = append(attested, a.CredentialID...)
	attested = append(attested, cose...)
	ad := a.authData(a.rpID, a.flags()|flagAT, a.next(), attested)
	att := cborMap(
		cborText("fmt"), cborText("none"),
		cborText("attStmt"), cborMap(),
		cborText("authData"), cborBytes(ad),
	)
	cd := clientData("webauthn.create", o.PublicKey.Challenge, a.Origin)
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.CredentialID), "rawId": b64.EncodeToString(a.CredentialID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cd), "attestationObject": b64.EncodeToString(att),
			"transports": []string{"internal"},
		},
	})
}

// Get answers navigator.credentials.get's options with the JSON of an assertion by the
// credential Create made.
func (a *Authenticator) Get(opts []byte) ([]byte, error) {
	o, err := parse(opts)
	if err != nil {
		return nil, err
	}
	if a.key == nil {
		return nil, errors.New("passkeytest: no credential: call Create first")
	}
	rpID := o.PublicKey.RPID
	if rpID == "" {
		rpID = a.rpID
	}
	ad := a.authData(rpID, a.flags(), a.next(), nil)
	cd := clientData("webauthn.get", o.PublicKey.Challenge, a.Origin)
	h := sha256.Sum256(cd)
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, sha256Sum(append(append([]byte{}, ad...), h[:]...)))
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.CredentialID), "rawId": b64.EncodeToString(a.CredentialID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(a.UserHandle),
		},
	})
}

func sha256Sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// A few CBOR (RFC 8949) items, enough for a COSE key and a "none" attestation object:
// a map's pairs are given in the canonical order by the caller.

func cborHead(major byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 1<<8:
		return []byte{major<<5 | 24, byte(n)}
	case n < 1<<16:
		return binary.BigEndian.AppendUint16([]byte{major<<5 | 25}, uint16(n))
	default:
		return binary.BigEndian.AppendUint32([]byte{major<<5 | 26}, uint32(n))
	}
}

func cborInt(i int) []byte {
	if i >= 0 {
		return cborHead(0, uint64(i))
	}
	return cborHead(1, uint64(-1-i))
}

func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }

func cborText(s string) []byte { return append(cborHead(3, uint64(len(s))), s...) }

func cborMap(kv ...[]byte) []byte {
	out := cborHead(5, uint64(len(kv)/2))
	for _, x := range kv {
		out = append(out, x...)
	}
	return out
}
