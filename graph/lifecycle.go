package graph

import (
	"time"

	"github.com/authgraph/authgraph/graph/model"
	"github.com/authgraph/authgraph/internal/auth"
)

// toScopes turns the scope names of an input into domain scopes, keeping nil (not given)
// apart from an empty list (given, and refused by the service).
func toScopes(names []string) []auth.Scope {
	if names == nil {
		return nil
	}
	out := make([]auth.Scope, len(names))
	for i, n := range names {
		out[i] = auth.Scope(n)
	}
	return out
}

func scopeNames(scopes []auth.Scope) []string {
	out := make([]string, len(scopes))
	for i, sc := range scopes {
		out[i] = string(sc)
	}
	return out
}

// pageRequest checks a connection's arguments as paginate does and turns them into a
// request for a page that the store cuts (users are too many to load whole).
func pageRequest(a pageArgs) (auth.PageRequest, error) {
	var req auth.PageRequest
	if err := checkPageArgs(a); err != nil {
		return req, err
	}
	if a.first != nil {
		req.First = *a.first
	}
	if a.last != nil {
		req.Last = *a.last
	}
	var err error
	if a.after != nil {
		if req.After, err = decodeCursor(*a.after); err != nil {
			return req, err
		}
	}
	if a.before != nil {
		if req.Before, err = decodeCursor(*a.before); err != nil {
			return req, err
		}
	}
	return req, nil
}

func userConnection(page *auth.UserPage) *model.UserConnection {
	conn := &model.UserConnection{
		TotalCount: page.TotalCount,
		PageInfo:   &model.PageInfo{HasPreviousPage: page.HasPreviousPage, HasNextPage: page.HasNextPage},
		Nodes:      page.Users,
		Edges:      make([]*model.UserEdge, len(page.Users)),
	}
	for i, u := range page.Users {
		conn.Edges[i] = &model.UserEdge{Cursor: encodeCursor(u.ID), Node: u}
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn
}

func accountConnection(page *auth.AccountPage) *model.AccountConnection {
	conn := &model.AccountConnection{
		PageInfo: &model.PageInfo{HasPreviousPage: page.HasPreviousPage, HasNextPage: page.HasNextPage},
		Nodes:    page.Accounts,
		Edges:    make([]*model.AccountEdge, len(page.Accounts)),
	}
	for i, a := range page.Accounts {
		conn.Edges[i] = &model.AccountEdge{Cursor: encodeCursor(a.ID), Node: a}
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn
}

// rerollGrace reads a reroll's graceSeconds (absent: none): how long the old secret of a user
// or service key keeps working.
func rerollGrace(seconds *int) (time.Duration, error) {
	if seconds == nil {
		return 0, nil
	}
	if most := int(auth.MaxRerollGrace / time.Second); *seconds < 0 || *seconds > most {
		return 0, auth.Errorf(auth.CodeInvalidInput, "graceSeconds must be from 0 to %d", most)
	}
	return time.Duration(*seconds) * time.Second, nil
}
