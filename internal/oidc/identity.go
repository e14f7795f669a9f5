package oidc

import "fmt"

// Identity is who a verified token signs in as.
type Identity struct {
	// Issuer is the issuer URL, as configured.
	Issuer string
	// Subject is the token's "sub", unique within Issuer.
	Subject string
	// Email is the token's email if the provider marked it verified, else empty: an
	// unverified email proves nothing and must not be used.
	Email string
	// Username is the local authgraph username to sign in as.
	Username string
	// Account is the issuer's configured account slug (Issuer.Account), empty if none.
	Account string
}

// identify applies the issuer's allow-list and username mapping to verified claims. A
// subject on AllowedSubjects or a verified email on AllowedEmails is allowed. The username is
// the first of: the Users entry of an allowed subject, the Users entry of an allowed email,
// the verified email (ASCII-lowercased), and "<issuer host>|<sub>".
func (is *issuer) identify(c *claims) (*Identity, error) {
	var email, emailKey string
	if c.Email != "" && c.emailVerified() {
		email, emailKey = c.Email, lowerASCII(c.Email)
	}
	bySubject := is.subjects[c.Subject]
	byEmail := email != "" && is.emails[emailKey]
	if !bySubject && !byEmail {
		detail := fmt.Sprintf("issuer %q, subject %s", is.url, quote(c.Subject))
		if c.Email != "" && email == "" {
			detail += " (its email is not verified)"
		}
		return nil, &notAllowedError{detail: detail}
	}

	var username string
	switch {
	case bySubject && is.usersBySubject[c.Subject] != "":
		username = is.usersBySubject[c.Subject]
	case byEmail && is.usersByEmail[emailKey] != "":
		username = is.usersByEmail[emailKey]
	case email != "":
		username = emailKey
	default:
		username = is.host + "|" + c.Subject
	}
	return &Identity{Issuer: is.url, Subject: c.Subject, Email: email, Username: username, Account: is.account}, nil
}
