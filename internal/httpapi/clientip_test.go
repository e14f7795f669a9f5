package httpapi

import (
	"net/http/httptest"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.10 ,::1,")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		trusted TrustedProxies
		peer    string
		xff     []string
		want    string
	}{
		{"no proxies trusted: the header is ignored", nil, "203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"},
		{"an untrusted peer's header is ignored", proxies, "203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"},
		{"a trusted peer: the client it names", proxies, "10.1.2.3:1234", []string{"198.51.100.7"}, "198.51.100.7"},
		{"a client's own forged entries are never reached", proxies, "10.1.2.3:1234", []string{"1.1.1.1, 2.2.2.2, 198.51.100.7"}, "198.51.100.7"},
		{"a chain of trusted proxies is walked past", proxies, "10.1.2.3:1234", []string{"198.51.100.7, 192.168.1.10", "10.9.9.9"}, "198.51.100.7"},
		{"garbage stops at the last trusted hop", proxies, "10.1.2.3:1234", []string{"198.51.100.7, not-an-ip"}, "10.1.2.3"},
		{"only trusted hops: the leftmost", proxies, "10.1.2.3:1234", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"no header from a trusted peer: the peer", proxies, "10.1.2.3:1234", nil, "10.1.2.3"},
		{"entries with ports", proxies, "[::1]:80", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"an IPv4-mapped peer is matched as IPv4", proxies, "[::ffff:10.0.0.1]:80", []string{"198.51.100.7"}, "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, tt.trusted); got != tt.want {
				t.Fatalf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Fatal("a bad CIDR block was accepted")
	}
	if _, err := ParseTrustedProxies("example.com"); err == nil {
		t.Fatal("a host name was accepted")
	}
}
