package graph

import (
	"time"

	"github.com/authgraph/authgraph/graph/model"
)

// Complexity is the cost model the server's complexity limit applies: every field costs 1
// plus what it selects (gqlgen's default), and a connection costs what it selects times the
// page it asks for (first or last, else the default page; clamped to the largest page, since
// a larger one is refused anyway). So `sessions(first: 1000) { nodes { id name } }` costs
// about 3000: a full page of a dozen fields fits the default limit (50,000), a page nested
// in another page (users, then each one's sessions) does not.
//
// A connection field added to the schema must be given connectionCost here, or it would be
// counted as if it returned one item. Federation's _entities costs what it selects times the
// representations it is given, so the limit bounds a router's batch as it bounds a page.
func Complexity() ComplexityRoot {
	var c ComplexityRoot
	c.User.Sessions = connectionCost
	c.User.UserKeys = connectionCost
	c.Query.Users = connectionCost
	c.Query.Accounts = connectionCost
	c.Query.__resolve_entities = entitiesCost
	c.User.SecurityEvents = func(child int, first *int, after *string, _ []string, _ *model.AuditOutcome, _, _ *time.Time) int {
		return connectionCost(child, first, after, nil, nil)
	}
	c.Query.AuditEvents = func(child int, _ *model.AuditEventFilter, first *int, after *string) int {
		return connectionCost(child, first, after, nil, nil)
	}
	// A webhook's deliveries are a plain list, as costly as a page of that size.
	c.Webhook.Deliveries = func(child int, first *int) int {
		return connectionCost(child, first, nil, nil, nil)
	}
	return c
}

func entitiesCost(child int, representations []map[string]any) int {
	return 1 + max(len(representations), 1)*child
}

func connectionCost(child int, first *int, _ *string, last *int, _ *string) int {
	n := defaultPageSize
	switch {
	case first != nil:
		n = *first
	case last != nil:
		n = *last
	}
	n = min(max(n, 1), maxPageSize)
	return 1 + n*child
}
