package mail

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
)

// TLSMode says how the connection to the SMTP server is protected.
type TLSMode string

const (
	// TLSImplicit: TLS from the first byte (smtps://, port 465 by default).
	TLSImplicit TLSMode = "tls"
	// TLSStartTLS: STARTTLS, required; the default for smtp:// (port 587 by default).
	TLSStartTLS TLSMode = "starttls"
	// TLSOpportunistic: STARTTLS when the server offers it, plain text otherwise.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSNone: plain text, for a mail catcher on a private network only.
	TLSNone TLSMode = "none"
)

// SMTPConfig is a parsed AUTHGRAPH_SMTP_URL. Its String method hides the password.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	TLS      TLSMode
	// From is the sender address, from the URL's from= parameter, else no-reply@<host>
	// (no-reply@localhost when the host is an IP address).
	From string
}

// String gives the configuration as a URL with the password masked, for logs.
func (c SMTPConfig) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
	if c.TLS == TLSImplicit {
		u.Scheme = "smtps"
	}
	if c.Username != "" {
		u.User = url.UserPassword(c.Username, "xxxxx")
	}
	q := url.Values{}
	if c.TLS != TLSImplicit && c.TLS != TLSStartTLS {
		q.Set("tls", string(c.TLS))
	}
	q.Set("from", c.From)
	u.RawQuery = q.Encode()
	return u.String()
}

// ParseSMTPURL reads AUTHGRAPH_SMTP_URL: smtp://[user[:password]@]host[:port][?tls=…&from=…]
// (STARTTLS required, port 587 by default) or smtps://… (TLS from the start, port 465). The
// user and password are URL-escaped (a "@" in a password is %40). tls= may be starttls,
// opportunistic or none (smtp:// only). No error message ever holds the password: errors
// name the part that is wrong, never the input.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's errors quote the input, password included.
		return SMTPConfig{}, fmt.Errorf("mail: the SMTP URL is not a valid URL (expected smtp://user:password@host:port)")
	}
	var c SMTPConfig
	switch u.Scheme {
	case "smtp":
		c.TLS, c.Port = TLSStartTLS, 587
	case "smtps":
		c.TLS, c.Port = TLSImplicit, 465
	default:
		return SMTPConfig{}, fmt.Errorf("mail: the SMTP URL's scheme must be smtp or smtps, not %q", u.Scheme)
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return SMTPConfig{}, fmt.Errorf("mail: the SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPConfig{}, fmt.Errorf("mail: the SMTP URL's port must be 1 to 65535")
		}
		c.Port = n
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if u.Path != "" && u.Path != "/" {
		return SMTPConfig{}, fmt.Errorf("mail: the SMTP URL must have no path")
	}
	q := u.Query()
	for k := range q {
		if k != "tls" && k != "from" {
			return SMTPConfig{}, fmt.Errorf("mail: unknown SMTP URL parameter %q (known: tls, from)", k)
		}
	}
	if t := q.Get("tls"); t != "" {
		switch TLSMode(t) {
		case TLSStartTLS, TLSOpportunistic, TLSNone:
			if c.TLS == TLSImplicit {
				return SMTPConfig{}, fmt.Errorf("mail: tls=%s does not go with smtps:// (TLS from the start)", t)
			}
			c.TLS = TLSMode(t)
		default:
			return SMTPConfig{}, fmt.Errorf("mail: the SMTP URL's tls= must be starttls, opportunistic or none")
		}
	}
	c.From = q.Get("from")
	if c.From == "" {
		c.From = "no-reply@" + c.Host
		if net.ParseIP(c.Host) != nil {
			c.From = "no-reply@localhost"
		}
	}
	if a, err := mail.ParseAddress(c.From); err != nil || checkHeaderValue("sender", c.From, maxAddrLen) != nil {
		return SMTPConfig{}, fmt.Errorf("mail: the SMTP URL's from= is not an email address")
	} else if a.Name == "" {
		c.From = a.Address
	}
	return c, nil
}
