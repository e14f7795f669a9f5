package redisstore

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/storetest"
	"github.com/authgraph/authgraph/internal/token"
)

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T, c clock.Clock) auth.Store {
		return New(srv.Client, Options{Prefix: fmt.Sprintf("%s%d:", srv.Prefix, n.Add(1)), Clock: c})
	})
}

// fixture is a store on its own Redis (or its own prefix of AUTHGRAPH_REDIS_URL's).
type fixture struct {
	*Store
	srv *redistest.Server
}

func newFixture(t *testing.T, rdb redis.UniversalClient, srv *redistest.Server) fixture {
	if rdb == nil {
		rdb = srv.Client
	}
	return fixture{Store: New(rdb, Options{Prefix: srv.Prefix, Clock: clock.Real{}}), srv: srv}
}

func (f fixture) user(t *testing.T, name string) *auth.User {
	t.Helper()
	u := &auth.User{AccountID: 1, Username: name, PasswordHash: "hash", Role: auth.RoleMember, CreatedAt: time.Now()}
	if err := f.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func (f fixture) key(t *testing.T, userID int64) *auth.UserKey {
	t.Helper()
	k := &auth.UserKey{UserID: userID, Name: "k", SecretHash: "hash", CreatedAt: time.Now()}
	if err := f.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return k
}

// session saves a session of userID, for the token tok, that lasts ttl in real time.
func (f fixture) session(t *testing.T, userID int64, tok string, ttl time.Duration) *auth.Session {
	t.Helper()
	now := time.Now()
	s := &auth.Session{
		UserID: userID, TokenDigest: token.Sum(tok), Method: auth.MethodPassword,
		CreatedAt: now, ExpiresAt: now.Add(ttl), UserAgent: "test",
	}
	if err := f.CreateSession(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func newToken(t testing.TB) string {
	t.Helper()
	tok, err := token.New(token.Session)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dump answers every key under the fixture's prefix, without the prefix, with its contents:
// a string's value, a set's or sorted set's members, a hash's fields and values.
func (f fixture) dump(t *testing.T) map[string][]string {
	t.Helper()
	ctx, rdb := t.Context(), f.srv.Client
	out := map[string][]string{}
	keys, err := redistest.Keys(ctx, rdb, f.srv.Prefix+"*") // every master of a cluster
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		var items []string
		var err error
		switch typ := rdb.Type(ctx, key).Val(); typ {
		case "string":
			var v string
			v, err = rdb.Get(ctx, key).Result()
			items = []string{v}
		case "set":
			items, err = rdb.SMembers(ctx, key).Result()
		case "zset":
			items, err = rdb.ZRange(ctx, key, 0, -1).Result()
		case "hash":
			var m map[string]string
			m, err = rdb.HGetAll(ctx, key).Result()
			for k, v := range m {
				items = append(items, k, v)
			}
		default:
			t.Fatalf("key %q has unexpected type %q", key, typ)
		}
		if err != nil {
			t.Fatal(err)
		}
		out[key[len(f.srv.Prefix):]] = items
	}
	return out
}

func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, auth.ErrUnavailable) || errors.Is(err, auth.ErrNotFound) {
		t.Errorf("%s: err = %v; want ErrUnavailable and not ErrNotFound", what, err)
	}
}
