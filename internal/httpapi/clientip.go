package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies is the set of addresses whose X-Forwarded-For is believed
// (AUTHGRAPH_TRUSTED_PROXIES). Empty: the header is ignored, and the client is the peer.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads a comma-separated list of addresses and CIDR blocks:
// "10.0.0.0/8, 192.168.1.10, ::1".
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	var out TrustedProxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("not an address or CIDR block: %q", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("not an address or CIDR block: %q", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (t TrustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address of the client that sent r: the peer, unless the peer is a trusted
// proxy, in which case X-Forwarded-For is read from the right (the entry the nearest proxy
// appended) past every trusted proxy, and the first address that is not one is the client.
//
// Only entries appended by trusted proxies are believed; whatever the client itself sent in
// the header lies to the left of its real address and is never reached, so a client cannot
// choose its rate-limit bucket. An entry that does not parse stops the walk at the last
// trusted hop (a misconfigured proxy then shares one bucket, which is safe); a list made
// only of trusted proxies yields its leftmost one.
func clientIP(r *http.Request, trusted TrustedProxies) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(trusted) == 0 || !trusted.contains(peer) {
		return host
	}
	client := peer
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !trusted.contains(a) {
			break
		}
	}
	return client.Unmap().WithZone("").String()
}

// forwardedFor splits every X-Forwarded-For line into its entries, in order.
func forwardedFor(lines []string) []string {
	var hops []string
	for _, l := range lines {
		for _, h := range strings.Split(l, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	return hops
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a port
// ("203.0.113.9:4711", "[2001:db8::1]:443").
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	return netip.Addr{}, false
}
