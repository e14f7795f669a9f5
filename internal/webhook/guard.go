package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// Resolver resolves a host name once; net.DefaultResolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialFunc connects to an address already checked.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Guard makes the HTTP client that deliveries use. Its dialer resolves the host once,
// refuses every address that is not public (loopback, private, link-local — the cloud
// metadata address 169.254.169.254 among them —, shared, multicast, unspecified, IPv4 mapped
// or translated into IPv6, documentation and benchmarking ranges) unless AllowPrivate, and
// connects to the first address it accepted, never to a name: a DNS answer that changes
// between the check and the connection cannot send the request elsewhere. The client
// follows no redirect and uses no proxy.
type Guard struct {
	AllowPrivate bool
	Resolver     Resolver // nil: net.DefaultResolver
	Dial         DialFunc // nil: a net.Dialer with a 5 s timeout
	// Timeout bounds a whole request, from dial to the last byte read (default 10 s).
	Timeout time.Duration
}

// ErrForbiddenAddress is answered for a URL whose host resolves to no public address.
var ErrForbiddenAddress = errors.New("webhook: the endpoint's address is not public")

// CheckURL refuses what is no http(s) URL with a host; the address is checked at dial time.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("webhook: malformed URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("webhook: the URL must be http or https")
	case u.Host == "" || u.User != nil || u.Fragment != "":
		return nil, fmt.Errorf("webhook: the URL must have a host, and no user or fragment")
	case len(raw) > 2048:
		return nil, fmt.Errorf("webhook: the URL is longer than 2048 bytes")
	}
	return u, nil
}

var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"64:ff9b::/96", "64:ff9b:1::/48", "2001:db8::/32", "2002::/16", "100::/64", "::ffff:0:0/96",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Public reports whether a is an address deliveries may reach without AllowPrivate.
func Public(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	if a.Is4In6() {
		return false // a mapped address is refused, not unwrapped: the guard never guesses
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// DialContext resolves, checks, and dials the checked address.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("webhook: bad port %q", port)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		r := g.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, fmt.Errorf("webhook: resolve %s: %w", host, err)
		}
	}
	var ok []netip.Addr
	for _, a := range addrs {
		if g.AllowPrivate || Public(a) {
			ok = append(ok, a)
		}
	}
	if len(ok) == 0 || len(ok) < len(addrs) && !g.AllowPrivate {
		// One private address among public ones refuses the name: a rebinding attacker
		// answers both and hopes the client picks the private one.
		return nil, fmt.Errorf("%w: %s", ErrForbiddenAddress, host)
	}
	dial := g.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: 5 * time.Second}
		dial = d.DialContext
	}
	return dial(ctx, network, net.JoinHostPort(ok[0].String(), port))
}

// Client is the HTTP client of deliveries.
func (g *Guard) Client() *http.Client {
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           g.DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       30 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
