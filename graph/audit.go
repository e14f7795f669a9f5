package graph

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/authgraph/authgraph/graph/model"
	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/gid"
)

// The audit trail's connections page from the newest event to older ones, with cursors that
// wrap the store's entry ids (opaque, like the others, but not ids of records).

const eventCursorPrefix = "event:"

func encodeEventCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(eventCursorPrefix + id))
}

func decodeEventCursor(c string) (string, error) {
	bad := auth.Errorf(auth.CodeInvalidInput, "malformed cursor")
	if len(c) > 96 {
		return "", bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c, "="))
	if err != nil || !strings.HasPrefix(string(raw), eventCursorPrefix) {
		return "", bad
	}
	return string(raw[len(eventCursorPrefix):]), nil
}

// eventPageArgs checks first and after.
func eventPageArgs(first *int, after *string) (int, string, error) {
	n := defaultPageSize
	if first != nil {
		n = *first
	}
	if n < 1 || n > maxPageSize {
		return 0, "", auth.Errorf(auth.CodeInvalidInput, "first must be from 1 to %d", maxPageSize)
	}
	if after == nil {
		return n, "", nil
	}
	c, err := decodeEventCursor(*after)
	return n, c, err
}

// maxEventTypes bounds the types a filter names.
const maxEventTypes = 64

func eventFilter(types []string, outcome *model.AuditOutcome, since, until *time.Time) (auth.EventFilter, error) {
	var f auth.EventFilter
	if len(types) > maxEventTypes {
		return f, auth.Errorf(auth.CodeInvalidInput, "at most %d types", maxEventTypes)
	}
	for _, t := range types {
		f.Types = append(f.Types, audit.Type(t))
	}
	if outcome != nil {
		f.Outcome = audit.Outcome(strings.ToLower(string(*outcome)))
	}
	if since != nil {
		f.Since = *since
	}
	if until != nil {
		f.Until = *until
	}
	return f, nil
}

func eventConnection(p *auth.EventPage) *model.SecurityEventConnection {
	conn := &model.SecurityEventConnection{PageInfo: &model.PageInfo{HasNextPage: p.More},
		Nodes: make([]*audit.Event, len(p.Events)), Edges: make([]*model.SecurityEventEdge, len(p.Events))}
	for i := range p.Events {
		conn.Nodes[i] = &p.Events[i]
		conn.Edges[i] = &model.SecurityEventEdge{Cursor: encodeEventCursor(p.Events[i].ID), Node: conn.Nodes[i]}
	}
	if len(conn.Edges) > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	}
	if p.More && p.Next != "" {
		// The scan may have stopped past the last event answered: the next page starts there.
		end := encodeEventCursor(p.Next)
		conn.PageInfo.EndCursor = &end
	}
	return conn
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optionalID(typ string, n int64) *gid.ID {
	if n == 0 {
		return nil
	}
	return &gid.ID{Type: typ, N: n}
}
