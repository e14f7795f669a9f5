package auth

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/token"
)

func TestSealOpensOnlyForTheRotatedToken(t *testing.T) {
	rotated, _ := token.New(token.Refresh)
	other, _ := token.New(token.Refresh)
	access, _ := token.New(token.Session)
	next, _ := token.New(token.Refresh)
	succ := successor{Access: access, Refresh: next, RefreshExpiresAt: time.Date(2026, 12, 23, 1, 2, 3, 456789, time.UTC)}
	sealed, err := sealSuccessor(rotated, succ)
	if err != nil {
		t.Fatal(err)
	}
	got, err := openSuccessor(rotated, sealed)
	if err != nil || got != succ {
		t.Fatalf("open = %+v, %v; want %+v", got, err, succ)
	}
	for _, secret := range []string{access, next, access[4:], next[4:]} {
		if bytes.Contains(sealed, []byte(secret)) {
			t.Fatal("the sealed pair holds a token in plaintext")
		}
	}
	if _, err := openSuccessor(other, sealed); err == nil {
		t.Fatal("another token opened the sealed pair")
	}
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 1
		if _, err := openSuccessor(rotated, tampered); err == nil {
			t.Fatalf("a pair with byte %d flipped opened", i)
		}
	}
	for _, bad := range [][]byte{nil, {1}, sealed[:20], append([]byte{2}, sealed[1:]...)} {
		if _, err := openSuccessor(rotated, bad); err == nil {
			t.Fatalf("openSuccessor(%x) succeeded", bad)
		}
	}
	again, _ := sealSuccessor(rotated, succ)
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of one pair are equal: the nonce is not random")
	}
	if strings.Contains(string(sealed), rotated) {
		t.Fatal("the sealed pair holds the rotated token")
	}
}
