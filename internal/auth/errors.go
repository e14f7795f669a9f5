package auth

import (
	"errors"
	"fmt"
)

// Code classifies a domain error. What a transport makes of each code (its GraphQL
// extensions.code, its HTTP status) is one table outside the domain, internal/errmap, which
// has a row for every code declared here. The values are the GraphQL codes clients read.
type Code string

// Error codes.
const (
	CodeUnauthenticated    Code = "UNAUTHENTICATED"
	CodeForbidden          Code = "FORBIDDEN"
	CodeInvalidInput       Code = "BAD_USER_INPUT"
	CodeInvalidCredentials Code = "INVALID_CREDENTIALS"
	CodeOTPRequired        Code = "OTP_REQUIRED"
	CodeNotFound           Code = "NOT_FOUND"
	CodeConflict           Code = "CONFLICT"
	CodeUnavailable        Code = "SERVICE_UNAVAILABLE"
	CodeInternal           Code = "INTERNAL_SERVER_ERROR"
	// CodeReauthenticationRequired: a sensitive change needs a session signed in recently
	// (see RequireRecentAuthentication); sign in again and retry with the new session.
	CodeReauthenticationRequired Code = "REAUTHENTICATION_REQUIRED"
	// CodeEmailNotVerified: the credentials are right, but the deployment requires a
	// verified email before sign-in (Config.RequireVerifiedEmail); verify it and retry.
	CodeEmailNotVerified Code = "EMAIL_NOT_VERIFIED"
)

// Error is an error meant for the client: its Message is safe to show. Any other error is
// internal and must be masked by the transport.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinels that stores return (wrapped with %w). The service turns them into *Error.
var (
	// ErrNotFound: no such record (or it has expired).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique value (such as a username) is taken.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the store (or another dependency) cannot answer now; retrying later may
	// work. Never a reason to log a user out.
	ErrUnavailable = errors.New("service unavailable")
)

// Messages shared by every path that must not tell one failure from another.
const (
	MsgInvalidCredentials = "Invalid credentials."
	MsgUnauthenticated    = "Unauthorized. Please provide a valid authentication token."
	MsgUnavailable        = "The service is temporarily unavailable. Please retry."
)

// ErrorCode returns the code of err: an *Error's own, CodeUnavailable for ErrUnavailable,
// CodeNotFound for ErrNotFound, CodeInternal for anything else.
func ErrorCode(err error) Code {
	if err == nil {
		return "" // before e, which errors.As makes escape: no allocation for a success
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrUnavailable):
		return CodeUnavailable
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	}
	return CodeInternal
}

// ErrorMessage returns the client-safe message for err; internal errors get a generic one.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Message
	case errors.Is(err, ErrUnavailable):
		return MsgUnavailable
	case errors.Is(err, ErrNotFound):
		return "Not found."
	}
	return "Internal server error."
}
