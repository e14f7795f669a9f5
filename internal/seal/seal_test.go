package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRoundTripAndBinding(t *testing.T) {
	key := newKey(t)
	box, err := New(key)
	if err != nil || !box.Encrypts() {
		t.Fatalf("New: %v", err)
	}
	secret := []byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	sealed, err := box.Seal(secret, []byte("user 7"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) || sealed[0] != formatAES256GCM {
		t.Fatalf("sealed value holds the plaintext or has the wrong format: %x", sealed)
	}
	again, _ := box.Seal(secret, []byte("user 7"))
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	got, err := box.Open(sealed, []byte("user 7"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}

	other, _ := New(newKey(t))
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"other associated data": func() ([]byte, error) { return box.Open(sealed, []byte("user 8")) },
		"other key":             func() ([]byte, error) { return other.Open(sealed, []byte("user 7")) },
		"no key":                func() ([]byte, error) { return (&Box{}).Open(sealed, []byte("user 7")) },
		"tampered":              func() ([]byte, error) { return box.Open(tampered, []byte("user 7")) },
		"truncated":             func() ([]byte, error) { return box.Open(sealed[:10], []byte("user 7")) },
		"empty":                 func() ([]byte, error) { return box.Open(nil, nil) },
		"unknown format":        func() ([]byte, error) { return box.Open([]byte{9, 9}, nil) },
	} {
		if _, err := open(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
}

func TestPlaintextBox(t *testing.T) {
	plain, err := New(nil)
	if err != nil || plain.Encrypts() {
		t.Fatalf("New(nil) = %v, %v", plain, err)
	}
	sealed, _ := plain.Seal([]byte("abc"), []byte("ad"))
	if string(sealed) != "Pabc" {
		t.Fatalf("plaintext form = %q", sealed)
	}
	// A plaintext value still opens once a key is configured: adding a key locks no one out.
	withKey, _ := New(newKey(t))
	for _, b := range []*Box{plain, withKey} {
		if got, err := b.Open(sealed, []byte("ad")); err != nil || string(got) != "abc" {
			t.Errorf("Open = %q, %v", got, err)
		}
	}
}

func TestParseKey(t *testing.T) {
	key := newKey(t)
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
		" " + base64.StdEncoding.EncodeToString(key) + "\n",
	} {
		got, err := ParseKey(s)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "c2hvcnQ=", "not base64 at all!", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Error("New accepted a 16-byte key")
	}
}
