package mail

import (
	"strings"
	"testing"
)

func TestParseSMTPURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SMTPConfig
	}{
		{"smtp://mail.example.com", SMTPConfig{Host: "mail.example.com", Port: 587, TLS: TLSStartTLS, From: "no-reply@mail.example.com"}},
		{"smtps://mail.example.com", SMTPConfig{Host: "mail.example.com", Port: 465, TLS: TLSImplicit, From: "no-reply@mail.example.com"}},
		{"smtp://u%40x.org:p%40ss%3Aw0rd@mail.example.com:2525?from=auth%40example.com",
			SMTPConfig{Host: "mail.example.com", Port: 2525, Username: "u@x.org", Password: "p@ss:w0rd", TLS: TLSStartTLS, From: "auth@example.com"}},
		{"smtp://mailpit:1025?tls=none", SMTPConfig{Host: "mailpit", Port: 1025, TLS: TLSNone, From: "no-reply@mailpit"}},
		{"smtp://[::1]:25?tls=opportunistic", SMTPConfig{Host: "::1", Port: 25, TLS: TLSOpportunistic, From: "no-reply@localhost"}},
	} {
		got, err := ParseSMTPURL(tc.in)
		if err != nil {
			t.Errorf("ParseSMTPURL(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseSMTPURL(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseSMTPURLErrorsNeverHoldThePassword(t *testing.T) {
	const secret = "s3cretPW"
	for _, in := range []string{
		"http://user:" + secret + "@host:25",
		"smtp://user:" + secret + "@host:99999",
		"smtp://user:" + secret + "@host:abc",
		"smtp://user:" + secret + "@:25",
		"smtp://user:" + secret + "@host/path",
		"smtp://user:" + secret + "@host?tls=maybe",
		"smtps://user:" + secret + "@host?tls=none",
		"smtp://user:" + secret + "@host?from=not-an-address",
		"smtp://user:" + secret + "@host?from=a%40b.c%0D%0ABcc:x%40y.z",
		"smtp://user:" + secret + "@host?debug=1",
		"smtp://user:" + secret + "@ho st\x7f:25",
		"",
	} {
		_, err := ParseSMTPURL(in)
		if err == nil {
			t.Errorf("ParseSMTPURL(%q) accepted", in)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("ParseSMTPURL(%q) error holds the password: %v", in, err)
		}
	}
	_, err := ParseSMTPURL("imap://host")
	if err == nil || !strings.Contains(err.Error(), "smtp or smtps") {
		t.Errorf("a bad scheme answers %v, want a message naming smtp and smtps", err)
	}
}

func TestSMTPConfigStringMasksThePassword(t *testing.T) {
	c, err := ParseSMTPURL("smtps://user:hunter2@mail.example.com")
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	if strings.Contains(s, "hunter2") || !strings.Contains(s, "smtps://user:xxxxx@mail.example.com:465") {
		t.Errorf("String() = %q", s)
	}
}
