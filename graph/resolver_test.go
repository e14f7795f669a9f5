package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/authgraph/authgraph/graph"
	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
)

// These tests run the resolvers in process, over the embedded store, with the principal put
// in the context as the HTTP layer would: the fast path for what the schema answers. What the
// HTTP layer adds (token transports, status codes, limits) is tested end to end in server/.

// countingStore counts the reads that User.account and User.totpEnabled make, one by one
// and in batches; fail, if set, is what the batch reads answer instead.
type countingStore struct {
	auth.Store
	account, totp, accountsByID, usersWithTOTP atomic.Int64
	fail                                       error
}

func (s *countingStore) Account(ctx context.Context, id int64) (*auth.Account, error) {
	s.account.Add(1)
	return s.Store.Account(ctx, id)
}

func (s *countingStore) TOTP(ctx context.Context, userID int64) (*auth.TOTP, error) {
	s.totp.Add(1)
	return s.Store.TOTP(ctx, userID)
}

func (s *countingStore) AccountsByID(ctx context.Context, ids []int64) (map[int64]*auth.Account, error) {
	s.accountsByID.Add(1)
	if s.fail != nil {
		return nil, s.fail
	}
	return s.Store.AccountsByID(ctx, ids)
}

func (s *countingStore) UsersWithTOTP(ctx context.Context, userIDs []int64) (map[int64]bool, error) {
	s.usersWithTOTP.Add(1)
	if s.fail != nil {
		return nil, s.fail
	}
	return s.Store.UsersWithTOTP(ctx, userIDs)
}

func (s *countingStore) reset() {
	for _, n := range []*atomic.Int64{&s.account, &s.totp, &s.accountsByID, &s.usersWithTOTP} {
		n.Store(0)
	}
}

type harness struct {
	svc   *auth.Service
	store *countingStore
	admin *auth.Principal
}

var fastParams = argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHarness(t testing.TB, base auth.Store) *harness {
	t.Helper()
	h, err := argon2id.New(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	st := &countingStore{Store: base}
	svc := auth.NewService(st, h, clock.Real{}, auth.Config{})
	if _, err := svc.EnsureUser(context.Background(), "admin", "admin-password", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	hs := &harness{svc: svc, store: st}
	hs.admin = hs.principal(t, "admin", "admin-password")
	return hs
}

// principal signs username in and answers who the HTTP layer would put in the context.
func (h *harness) principal(t testing.TB, username, password string) *auth.Principal {
	t.Helper()
	ns, err := h.svc.LoginPassword(context.Background(), username, password, "")
	if err != nil {
		t.Fatalf("sign in %s: %v", username, err)
	}
	p, err := h.svc.Authenticate(context.Background(), ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// client answers a GraphQL client of the resolvers, with the row loaders (rowWait: their
// Wait, 0 for the default) or without them (rowWait < 0), as the resolvers were before.
func (h *harness) client(rowWait time.Duration) *client.Client {
	srv := handler.New(graph.NewExecutableSchema(graph.Config{
		Resolvers:  &graph.Resolver{Service: h.svc, Version: "test"},
		Directives: graph.Directives(),
		Complexity: graph.Complexity(),
	}))
	srv.AddTransport(transport.POST{})
	if rowWait >= 0 {
		srv.Use(graph.RowLoaders{Service: h.svc, Wait: rowWait})
	}
	srv.SetErrorPresenter(graph.PresentError)
	return client.New(srv)
}

// as runs a request with p as its principal (nil: anonymous).
func as(p *auth.Principal) client.Option {
	return func(r *client.Request) {
		if p != nil {
			r.HTTP = r.HTTP.WithContext(auth.WithPrincipal(r.HTTP.Context(), p))
		}
	}
}

// gqlError is one entry of a response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// codes runs query and answers its data and the codes of its errors.
func codes(t *testing.T, c *client.Client, query string, opts ...client.Option) (any, []string) {
	t.Helper()
	resp, err := c.RawPost(query, opts...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var errs []gqlError
	if resp.Errors != nil {
		if err := json.Unmarshal(resp.Errors, &errs); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, e := range errs {
		code, _ := e.Extensions["code"].(string)
		got = append(got, code)
	}
	return resp.Data, got
}

func TestResolversInProcess(t *testing.T) {
	h := newHarness(t, memstore.New(clock.Real{}))
	c := h.client(0)

	var version struct{ Version string }
	c.MustPost(`{ version }`, &version)
	if version.Version != "test" {
		t.Errorf("version = %q", version.Version)
	}

	var made struct {
		CreateUser struct {
			ID, Username string
			Role         auth.Role
		}
	}
	c.MustPost(`mutation { createUser(input: {username: "gina", password: "a long enough password"}) { id username role } }`, &made, as(h.admin))
	if made.CreateUser.Username != "gina" || made.CreateUser.Role != auth.RoleMember || made.CreateUser.ID == "" {
		t.Fatalf("createUser answered %+v", made.CreateUser)
	}
	gina := h.principal(t, "gina", "a long enough password")

	var me struct {
		Me struct {
			ID, Username string
			Account      struct{ Slug string }
			TotpEnabled  bool
		}
	}
	c.MustPost(`{ me { id username account { slug } totpEnabled } }`, &me, as(gina))
	if me.Me.ID != made.CreateUser.ID || me.Me.Username != "gina" || me.Me.Account.Slug != "default" || me.Me.TotpEnabled {
		t.Errorf("me answered %+v", me.Me)
	}

	var byID struct{ User struct{ Username string } }
	c.MustPost(`query($id: ObjectID!) { user(id: $id) { username } }`, &byID, as(h.admin), client.Var("id", made.CreateUser.ID))
	if byID.User.Username != "gina" {
		t.Errorf("user(id:) answered %+v", byID.User)
	}

	// The error mapping: each domain error keeps its code, whoever raises it.
	for _, tt := range []struct {
		name, query string
		who         *auth.Principal
		want        string
	}{
		{"anonymous", `{ me { username } }`, nil, string(auth.CodeUnauthenticated)},
		{"a member creating a user", `mutation { createUser(input: {username: "hank", password: "a long enough password"}) { id } }`, gina, string(auth.CodeForbidden)},
		{"a malformed id", `{ user(id: "not an id!") { username } }`, h.admin, string(auth.CodeInvalidInput)},
		{"someone else's user, as a member", fmt.Sprintf(`{ user(id: %q) { username } }`, strconv.FormatInt(h.admin.User.ID, 10)), gina, string(auth.CodeNotFound)},
		{"an unknown user", `{ user(id: "424242") { username } }`, h.admin, string(auth.CodeNotFound)},
		{"a taken username", `mutation { createUser(input: {username: "gina", password: "a long enough password"}) { id } }`, h.admin, string(auth.CodeConflict)},
		{"a date that does not parse", `mutation { createUserKey(input: {expiresAt: "next week"}) { id } }`, h.admin, string(auth.CodeInvalidInput)},
		{"a weak password", `mutation { createUser(input: {username: "hank", password: "short"}) { id } }`, h.admin, string(auth.CodeInvalidInput)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, got := codes(t, c, tt.query, as(tt.who))
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("error codes %v, want [%s]", got, tt.want)
			}
		})
	}
}

// A store failure behind a batch read reaches every row as SERVICE_UNAVAILABLE, and an
// unexpected error as INTERNAL_SERVER_ERROR with no internal text.
func TestRowLoaderErrors(t *testing.T) {
	h := newHarness(t, memstore.New(clock.Real{}))
	c := h.client(0)
	const query = `{ users(first: 10) { nodes { username totpEnabled } } }`
	for _, tt := range []struct {
		fail error
		want auth.Code
	}{
		{fmt.Errorf("redis down: %w", auth.ErrUnavailable), auth.CodeUnavailable},
		{errors.New("secret internal detail"), auth.CodeInternal},
	} {
		h.store.fail = tt.fail
		resp, err := c.RawPost(query, as(h.admin))
		if err != nil {
			t.Fatal(err)
		}
		var errs []gqlError
		if err := json.Unmarshal(resp.Errors, &errs); err != nil || len(errs) == 0 {
			t.Fatalf("%v: errors %s (%v)", tt.fail, resp.Errors, err)
		}
		for _, e := range errs {
			if e.Extensions["code"] != string(tt.want) {
				t.Errorf("%v: code %v, want %s", tt.fail, e.Extensions["code"], tt.want)
			}
		}
		if strings.Contains(string(resp.Errors), "secret internal detail") {
			t.Errorf("internal error text reached the client: %s", resp.Errors)
		}
	}
}
