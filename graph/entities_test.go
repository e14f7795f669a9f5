package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"
	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
	"github.com/authgraph/authgraph/internal/redisstore"
	"github.com/authgraph/authgraph/internal/redistest"
)

// usersByIDCounter counts the store's batch reads of users and its single reads, under a
// harness's countingStore.
type usersByIDCounter struct {
	auth.Store
	batches, single atomic.Int64
}

func (s *usersByIDCounter) UsersByID(ctx context.Context, ids []int64) (map[int64]*auth.User, error) {
	s.batches.Add(1)
	return s.Store.UsersByID(ctx, ids)
}

func (s *usersByIDCounter) User(ctx context.Context, id int64) (*auth.User, error) {
	s.single.Add(1)
	return s.Store.User(ctx, id)
}

// roundTrips counts what a Redis client sends: single commands and pipelines, each one round
// trip (on a Cluster, a pipeline is one per node it touches, sent at once).
type roundTrips struct{ commands, pipelines, pipelined atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.commands.Add(1)
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		h.pipelined.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}
func (h *roundTrips) reset() { h.commands.Store(0); h.pipelines.Store(0); h.pipelined.Store(0) }

// entitiesQuery asks for reps as a router does, with the fields a product's query might need.
const entitiesQuery = `query($reps: [_Any!]!) { _entities(representations: $reps) {
	__typename ... on User { id username } ... on Account { id slug } } }`

type entitiesAnswer struct {
	Entities []*struct {
		Typename string `json:"__typename"`
		ID       string
		Username string
		Slug     string
	} `json:"_entities"`
}

// entitiesOf runs entitiesQuery for reps as p (nil: anonymous) and answers the entities and
// the error codes.
func entitiesOf(t *testing.T, c *client.Client, p *auth.Principal, reps []map[string]any) (entitiesAnswer, []string) {
	t.Helper()
	resp, err := c.RawPost(entitiesQuery, as(p), client.Var("reps", reps))
	if err != nil {
		t.Fatal(err)
	}
	var a entitiesAnswer
	data, _ := json.Marshal(resp.Data)
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	var errs []gqlError
	if resp.Errors != nil {
		_ = json.Unmarshal(resp.Errors, &errs)
	}
	var codes []string
	for _, e := range errs {
		codes = append(codes, fmt.Sprint(e.Extensions["code"], ": ", e.Message))
	}
	return a, codes
}

// entitiesWorld is 100 users (the admin and 99 members), a member among them who signs in,
// and the representations of all 100 users as a router sends them (global ids, as User.id
// answers them).
type entitiesWorld struct {
	h      *harness
	member *auth.Principal
	reps   []map[string]any
	ids    []int64
}

func newEntitiesWorld(t *testing.T, base auth.Store) *entitiesWorld {
	t.Helper()
	h := newHarness(t, base)
	ctx := auth.WithPrincipal(context.Background(), h.admin)
	for i := 1; i < 100; i++ {
		if _, err := h.svc.CreateUser(ctx, fmt.Sprintf("member%02d", i), "a long enough password", auth.RoleMember); err != nil {
			t.Fatal(err)
		}
	}
	w := &entitiesWorld{h: h, member: h.principal(t, "member42", "a long enough password")}
	var ids struct {
		Users struct{ Nodes []struct{ ID, RawID string } }
	}
	h.client(0).MustPost(`{ users(first: 100) { nodes { id rawID } } }`, &ids, as(h.admin))
	if len(ids.Users.Nodes) != 100 {
		t.Fatalf("%d users, want 100", len(ids.Users.Nodes))
	}
	for _, n := range ids.Users.Nodes {
		w.reps = append(w.reps, map[string]any{"__typename": "User", "id": n.ID})
		var id int64
		fmt.Sscan(n.RawID, &id)
		w.ids = append(w.ids, id)
	}
	return w
}

// _entities resolves a router's batch of 100 users with one batch read of the store and no
// single read, under the rules of user(id:): an admin gets them all, a member themselves
// only, anonymous callers and sessions without the read scope nulls, and none an error.
func TestEntitiesBatchAndAuthorize(t *testing.T) {
	counter := &usersByIDCounter{Store: memstore.New(clock.Real{})}
	w := newEntitiesWorld(t, counter)
	c := w.h.client(0)

	counter.batches.Store(0)
	counter.single.Store(0)
	w.h.store.reset()
	got, errs := entitiesOf(t, c, w.h.admin, w.reps)
	if len(errs) > 0 {
		t.Fatalf("admin: errors %v", errs)
	}
	if len(got.Entities) != 100 {
		t.Fatalf("admin: %d entities, want 100", len(got.Entities))
	}
	for i, e := range got.Entities {
		if e == nil || e.Typename != "User" || e.ID != w.reps[i]["id"] || e.Username == "" {
			t.Fatalf("admin: entity %d = %+v, want user %v", i, e, w.reps[i]["id"])
		}
	}
	if b, s := counter.batches.Load(), counter.single.Load(); b != 1 || s != 0 {
		t.Errorf("admin: %d batch reads and %d single reads of users for 100 entities, want 1 and 0", b, s)
	}
	t.Logf("_entities of 100 users as an admin: %d batch read of the store (UsersByID), %d single reads",
		counter.batches.Load(), counter.single.Load())

	counter.batches.Store(0)
	got, errs = entitiesOf(t, c, w.member, w.reps)
	if len(errs) > 0 {
		t.Fatalf("member: errors %v", errs)
	}
	seen := 0
	for i, e := range got.Entities {
		if e == nil {
			continue
		}
		seen++
		if w.ids[i] != w.member.User.ID || e.Username != "member42" {
			t.Errorf("member: sees entity %d = %+v", i, e)
		}
	}
	if seen != 1 || len(got.Entities) != 100 {
		t.Errorf("member: sees %d of %d entities, want only themselves", seen, len(got.Entities))
	}
	if b := counter.batches.Load(); b != 0 {
		t.Errorf("member: %d batch reads; a member's own user comes from the session", b)
	}

	// A session without the read scope, and no session at all: nulls, no error, no read.
	keyCtx := auth.WithPrincipal(context.Background(), w.member)
	nk, err := w.h.svc.CreateUserKey(keyCtx, "no-read", nil, auth.ScopeKeysWrite)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := w.h.svc.LoginUserKey(context.Background(), nk.Key.ID, nk.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	noRead, err := w.h.svc.Authenticate(context.Background(), ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []struct {
		name string
		p    *auth.Principal
	}{{"anonymous", nil}, {"a key without read", noRead}} {
		counter.batches.Store(0)
		got, errs := entitiesOf(t, c, who.p, w.reps)
		if len(errs) > 0 {
			t.Errorf("%s: errors %v", who.name, errs)
		}
		for i, e := range got.Entities {
			if e != nil {
				t.Errorf("%s: entity %d = %+v, want null", who.name, i, e)
			}
		}
		if len(got.Entities) != 100 {
			t.Errorf("%s: %d entities, want 100 nulls", who.name, len(got.Entities))
		}
		if b := counter.batches.Load(); b != 0 {
			t.Errorf("%s: %d batch reads, want none", who.name, b)
		}
	}

	// Unknown ids, ids of another type, and accounts: null where user(id:) or the account's
	// rule would say NOT_FOUND, never an error that tells which.
	mixed := []map[string]any{
		{"__typename": "User", "id": "424242"},
		{"__typename": "User", "id": w.reps[0]["id"]},
		{"__typename": "User", "id": "TjAwN0FjY291bnQx"}, // N007Account1: an account's id as a user's
		{"__typename": "Account", "id": "1"},
		{"__typename": "Account", "id": "424242"},
	}
	for _, who := range []struct {
		name string
		p    *auth.Principal
		want []bool
	}{
		{"admin", w.h.admin, []bool{false, true, false, true, false}},
		{"member", w.member, []bool{false, w.ids[0] == w.member.User.ID, false, true, false}}, // the member is in the default account
		{"anonymous", nil, []bool{false, false, false, false, false}},
	} {
		got, errs := entitiesOf(t, c, who.p, mixed)
		if len(errs) > 0 {
			t.Errorf("%s: errors %v", who.name, errs)
		}
		for i, want := range who.want {
			if (got.Entities[i] != nil) != want {
				t.Errorf("%s: %v answered %+v, want present %v", who.name, mixed[i], got.Entities[i], want)
			}
		}
	}
}

// The fields of a batch's users are batched as a page's rows are: account and totpEnabled
// cost one read each for the whole batch.
func TestEntitiesFieldsAreBatched(t *testing.T) {
	w := newEntitiesWorld(t, memstore.New(clock.Real{}))
	w.h.store.reset()
	var got struct {
		Entities []*struct {
			Account     struct{ Slug string }
			TotpEnabled bool
		} `json:"_entities"`
	}
	// A long wait, so that a slow machine still gathers every row into one batch.
	w.h.client(200*time.Millisecond).MustPost(`query($reps: [_Any!]!) { _entities(representations: $reps) {
		... on User { account { slug } totpEnabled } } }`, &got, as(w.h.admin), client.Var("reps", w.reps))
	if len(got.Entities) != 100 || got.Entities[99] == nil || got.Entities[99].Account.Slug != "default" {
		t.Fatalf("answered %d entities, the last %+v", len(got.Entities), got.Entities[len(got.Entities)-1])
	}
	perRow := w.h.store.account.Load() + w.h.store.totp.Load()
	accounts, totp := w.h.store.accountsByID.Load(), w.h.store.usersWithTOTP.Load()
	t.Logf("account and totpEnabled of 100 entities: %d reads one by one, %d + %d batches", perRow, accounts, totp)
	// One batch a field when every row joins it; a few more are tolerated, as for a page.
	if perRow != 0 || accounts < 1 || accounts > 3 || totp < 1 || totp > 3 {
		t.Errorf("%d reads one by one, %d + %d batches; want 0 and 1 + 1 (at most 3 each)", perRow, accounts, totp)
	}

	// A key that is no id answers null, like any entity the caller cannot see, and does not
	// spoil the rest of the batch.
	bad := append([]map[string]any{{"__typename": "User", "id": "not an id!"}, {"__typename": "User", "id": true}}, w.reps[:3]...)
	got2, errs := entitiesOf(t, w.h.client(0), w.h.admin, bad)
	if len(errs) > 0 {
		t.Errorf("malformed keys: errors %v", errs)
	}
	for i, e := range got2.Entities {
		if (e != nil) != (i >= 2) {
			t.Errorf("malformed keys first: entity %d = %+v", i, e)
		}
	}
}

// On Redis the batch of 100 users is one pipeline: one round trip.
func TestEntitiesOneRedisRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	hook := &roundTrips{}
	srv.Client.AddHook(hook)
	w := newEntitiesWorld(t, redisstore.New(srv.Client, redisstore.Options{Prefix: srv.Prefix}))
	c := w.h.client(0)

	hook.reset()
	got, errs := entitiesOf(t, c, w.h.admin, w.reps)
	if len(errs) > 0 {
		t.Fatalf("errors %v", errs)
	}
	n := 0
	for _, e := range got.Entities {
		if e != nil {
			n++
		}
	}
	if n != 100 {
		t.Fatalf("%d of 100 users answered", n)
	}
	cmds, pipes, inPipes := hook.commands.Load(), hook.pipelines.Load(), hook.pipelined.Load()
	t.Logf("_entities of 100 users as an admin on Redis: %d round trip(s): %d pipeline(s) of %d commands, %d single commands",
		pipes+cmds, pipes, inPipes, cmds)
	if pipes != 1 || cmds != 0 {
		t.Errorf("%d pipelines and %d single commands, want one pipeline", pipes, cmds)
	}
}
