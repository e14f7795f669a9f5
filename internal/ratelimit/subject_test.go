package ratelimit

import "testing"

func TestIPKey(t *testing.T) {
	tests := map[string]string{
		"203.0.113.9":                 "203.0.113.9",
		"203.0.113.9:4711":            "203.0.113.9",
		"::ffff:203.0.113.9":          "203.0.113.9",
		"2001:db8:1:2:3:4:5:6":        "2001:db8:1:2::/64",
		"2001:db8:1:2::1":             "2001:db8:1:2::/64",
		"[2001:db8:1:2::1]:443":       "2001:db8:1:2::/64",
		"fe80::1%eth0":                "fe80::/64",
		"2001:DB8:1:2:ffff:ffff::abc": "2001:db8:1:2::/64",
		"":                            "",
		"not an address":              "not an address",
	}
	for in, want := range tests {
		if got := ipKey(in); got != want {
			t.Errorf("ipKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAccountsAndPairsAreDistinct(t *testing.T) {
	if Username("130") == UserKey(130) {
		t.Error("username 130 and user key 130 share an account name")
	}
	// Unparsable addresses keep their bytes, so the pair key must not depend on a separator.
	if pairKey("a|user:b", "user:c") == pairKey("a", "user:b|user:c") {
		t.Error("two different address/account pairs share a key")
	}
}
