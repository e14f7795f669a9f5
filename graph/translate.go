package graph

import (
	"github.com/authgraph/authgraph/graph/model"
	"github.com/authgraph/authgraph/internal/auth"
)

// GraphQL type names, as encoded in ObjectIDs.
const (
	typeUser    = "User"
	typeUserKey = "UserKey"
	typeSession = "Session"
	typeAccount = "Account"
	typeWebhook = "Webhook"
	typePasskey = "Passkey"
)

func newSession(ns *auth.NewSession) *model.Session {
	return &model.Session{Session: *ns.Session, Token: &ns.Token}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// emailPayload answers a request for a mail: the normalized address, whoever it belongs to.
func emailPayload(email string, err error) (*model.EmailRequestPayload, error) {
	if err != nil {
		return nil, err
	}
	return &model.EmailRequestPayload{Email: email}, nil
}
