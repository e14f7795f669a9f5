package auth

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input bounds. They keep hostile input from costing argon2 work or store space, and are
// documented in the schema.
const (
	maxUsernameLen = 64
	maxPasswordLen = 128
	maxSecretLen   = 256
	maxLabelLen    = 100
)

func checkUsername(username string) error {
	switch {
	case username == "":
		return Errorf(CodeInvalidInput, "username must not be empty")
	case !utf8.ValidString(username):
		return Errorf(CodeInvalidInput, "username must be valid UTF-8")
	case utf8.RuneCountInString(username) > maxUsernameLen:
		return Errorf(CodeInvalidInput, "username must be at most %d characters", maxUsernameLen)
	case strings.TrimSpace(username) != username:
		return Errorf(CodeInvalidInput, "username must not begin or end with spaces")
	case strings.IndexFunc(username, unicode.IsControl) >= 0:
		return Errorf(CodeInvalidInput, "username must not contain control characters")
	}
	return nil
}

// checkLabel validates an optional name given to a key or session.
func checkLabel(what, label string) error {
	switch {
	case !utf8.ValidString(label):
		return Errorf(CodeInvalidInput, "%s must be valid UTF-8", what)
	case utf8.RuneCountInString(label) > maxLabelLen:
		return Errorf(CodeInvalidInput, "%s must be at most %d characters", what, maxLabelLen)
	case strings.IndexFunc(label, unicode.IsControl) >= 0:
		return Errorf(CodeInvalidInput, "%s must not contain control characters", what)
	}
	return nil
}

// clip bounds a client-supplied header value recorded on a session.
func clip(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "")
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
