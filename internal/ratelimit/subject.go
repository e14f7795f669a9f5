package ratelimit

import (
	"net/netip"
	"strconv"
)

// Username names the account of a password login, for Policy's per-account rules. Pass
// the username as the store matches it, so that no other spelling gets a bucket of its own.
func Username(username string) string { return "user:" + username }

// UserKey names the account of a user-key login. Usernames and key ids get different
// namespaces, so that user "130" and user key 130 never share a bucket.
func UserKey(id int64) string { return "key:" + strconv.FormatInt(id, 10) }

// Recipient names a mail recipient's bucket (RuleMailTo), and the account of a sign-in by
// emailed code (the login rules), in a namespace of its own.
func Recipient(email string) string { return "mail:" + email }

// ipKey is the key by which an address is counted. An IPv6 client usually holds a whole /64
// (one subnet), so counting per address would give it 2^64 fresh buckets: IPv6 addresses
// count by their /64. An IPv4-mapped IPv6 address counts as its IPv4 address; a zone is
// dropped. Anything that does not parse (including "") counts as given: the transport must
// pass the client's address, and one it cannot tell shares a bucket with the others.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		ap, err := netip.ParseAddrPort(ip)
		if err != nil {
			return ip
		}
		a = ap.Addr()
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64) // cannot fail for an IPv6 address
	return p.String()
}
