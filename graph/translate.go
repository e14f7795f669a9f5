package graph

import (
	"context"

	"github.com/authgraph/authgraph/graph/model"
	"github.com/authgraph/authgraph/internal/auth"
)

// GraphQL type names, as encoded in ObjectIDs.
const (
	typeUser    = "User"
	typeUserKey = "UserKey"
	typeSession = "Session"
	typeAccount = "Account"
)

type clientKey struct{}

// WithClient returns a context carrying the requesting client's description (the HTTP layer
// fills it from the Apollo headers, User-Agent and the peer address).
func WithClient(ctx context.Context, c auth.ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client description in ctx.
func ClientFrom(ctx context.Context) auth.ClientInfo {
	c, _ := ctx.Value(clientKey{}).(auth.ClientInfo)
	return c
}

func newSession(ns *auth.NewSession) *model.Session {
	return &model.Session{Session: *ns.Session, Token: &ns.Token}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
