package auth

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxEmailLen is the longest email address accepted, in bytes (RFC 5321's path limit less
// the angle brackets).
const MaxEmailLen = 254

const (
	maxEmailLocalLen = 64 // RFC 5321
	maxDomainLabel   = 63 // RFC 1035
)

// NormalizeEmail answers the one form of an email address that is stored, compared and
// made unique, or a CodeInvalidInput error saying what is wrong. The rule:
//
//   - Any control character (CR, LF, NUL, …) anywhere refuses the address: it is what a
//     header injection needs, and no address has one. Surrounding spaces are trimmed.
//   - The text is put in Unicode NFKC form, so that full-width or compatibility forms
//     ("ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ") become the ASCII address they look like.
//   - The result must be ASCII: internationalized addresses (non-ASCII local parts, domains
//     in Unicode form) are refused; a Unicode domain is accepted in its ASCII (xn--) form.
//     This is what rules out look-alikes made of mixed scripts (a Cyrillic "а" in
//     "pаypal.com"): none survives NFKC as ASCII.
//   - The whole address is lower-cased. RFC 5321 lets a server tell "Alice" from "alice" in
//     the local part, but no mail provider in common use does, and two users told apart only
//     by case would be look-alikes of each other.
//   - Syntax: local@domain with exactly one "@"; the local part 1–64 characters of letters,
//     digits and !#$%&'*+/=?^_`{|}~- in dot-separated runs (no quoted strings, no comments,
//     no leading, trailing or double dot); the domain at least two dot-separated labels of
//     1–63 letters, digits and hyphens, none starting or ending with a hyphen, the last not
//     all digits (no IP literals); at most MaxEmailLen bytes in all.
func NormalizeEmail(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", Errorf(CodeInvalidInput, "email must be valid UTF-8")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", Errorf(CodeInvalidInput, "email must not contain control characters")
	}
	if len(s) > 4*MaxEmailLen {
		// Bounds the work of normalizing hostile input; NFKC can shrink text, but not by 4.
		return "", Errorf(CodeInvalidInput, "email must be at most %d characters", MaxEmailLen)
	}
	s = strings.TrimSpace(norm.NFKC.String(s))
	switch {
	case s == "":
		return "", Errorf(CodeInvalidInput, "email must not be empty")
	case len(s) > MaxEmailLen:
		return "", Errorf(CodeInvalidInput, "email must be at most %d characters", MaxEmailLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return "", Errorf(CodeInvalidInput, "email must be ASCII (write an international domain in its xn-- form)")
		}
	}
	s = strings.ToLower(s)
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", Errorf(CodeInvalidInput, "email must have exactly one @")
	}
	if !validLocalPart(local) {
		return "", Errorf(CodeInvalidInput, "email has an invalid part before the @")
	}
	if !validDomain(domain) {
		return "", Errorf(CodeInvalidInput, "email has an invalid domain")
	}
	return s, nil
}

func validLocalPart(local string) bool {
	if local == "" || len(local) > maxEmailLocalLen {
		return false
	}
	for _, run := range strings.Split(local, ".") {
		if run == "" {
			return false
		}
		for i := 0; i < len(run); i++ {
			c := run[i]
			if !isAlnum(c) && !strings.ContainsRune("!#$%&'*+/=?^_`{|}~-", rune(c)) {
				return false
			}
		}
	}
	return true
}

func validDomain(domain string) bool {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxDomainLabel || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.IndexFunc(tld, func(r rune) bool { return r < '0' || r > '9' }) >= 0
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
