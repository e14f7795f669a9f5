package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redisbudget"
	"github.com/authgraph/authgraph/internal/token"
)

// Options configures a Store.
type Options struct {
	// Prefix starts every key name, so that several deployments or tests can share a server.
	// Default "ag:".
	Prefix string
	// Clock decides which sessions have expired. Default clock.Real.
	Clock clock.Clock
}

// Store is an auth.Store on Redis. It is safe for concurrent use.
type Store struct {
	rdb   redis.UniversalClient
	clock clock.Clock
	name  names
}

var _ auth.Store = (*Store)(nil)

// New returns a store on rdb. The caller keeps ownership of rdb and closes it.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "ag:"
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	return &Store{rdb: rdb, clock: opts.Clock, name: names{opts.Prefix}}
}

// Ping implements auth.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fail("ping", err)
	}
	return nil
}

// names builds key names; see doc.go for the model.
type names struct{ prefix string }

func (n names) seq(kind string) string         { return n.prefix + "seq:" + kind }
func (n names) user(id int64) string           { return n.prefix + "u:" + itoa(id) }
func (n names) username(name string) string    { return n.prefix + "un:" + name }
func (n names) account(id int64) string        { return n.prefix + "a:" + itoa(id) }
func (n names) slug(slug string) string        { return n.prefix + "as:" + slug }
func (n names) totp(userID int64) string       { return n.prefix + "{u" + itoa(userID) + "}:totp" }
func (n names) totpNew(userID int64) string    { return n.prefix + "{u" + itoa(userID) + "}:totp:new" }
func (n names) key(id int64) string            { return n.prefix + "k:" + itoa(id) }
func (n names) keysOf(userID int64) string     { return n.prefix + "{u" + itoa(userID) + "}:k" }
func (n names) token(d token.Digest) string    { return n.prefix + "t:" + string(d[:]) }
func (n names) sessionsOf(userID int64) string { return n.prefix + "{u" + itoa(userID) + "}:s" }
func (n names) users() string                  { return n.prefix + "users" }
func (n names) familiesOf(userID int64) string { return n.prefix + "{u" + itoa(userID) + "}:f" }
func (n names) familyTokens(id int64) string   { return n.family(id) + ":p" }

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// errCorrupt marks a stored value this package cannot read: a bug or foreign data, not an
// outage, so it is neither ErrNotFound nor ErrUnavailable.
var errCorrupt = errors.New("corrupt record")

// fail turns an error of operation op into the store's contract: redis.Nil is ErrNotFound;
// anything else from Redis or the network is ErrUnavailable, keeping the original too.
func fail(op string, err error) error {
	switch {
	case errors.Is(err, redis.Nil), errors.Is(err, errTombstone), errors.Is(err, errRevoked):
		return notFound(op)
	case errors.Is(err, errCorrupt):
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return fmt.Errorf("redisstore: %s: %w: %w", op, auth.ErrUnavailable, err)
}

func notFound(op string) error { return fmt.Errorf("redisstore: %s: %w", op, auth.ErrNotFound) }

func conflict(op string) error { return fmt.Errorf("redisstore: %s: %w", op, auth.ErrConflict) }

// undoContext is for undoing a half-done write after ctx has failed or been cancelled: the
// undo must still run, but not hang on a dead server. It runs outside the request's Redis
// budget too, which may be what ran out.
func undoContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(redisbudget.Detach(context.WithoutCancel(ctx)), 2*time.Second)
}

// update rewrites the value at key with edit, under WATCH so that a concurrent delete makes
// it fail instead of being undone. A missing key is ErrNotFound.
func (s *Store) update(ctx context.Context, op, key string, edit func([]byte) ([]byte, error)) error {
	txf := func(tx *redis.Tx) error {
		b, err := tx.Get(ctx, key).Bytes()
		if err != nil {
			return err
		}
		if b, err = edit(b); err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, b, redis.KeepTTL)
			return nil
		})
		return err
	}
	var err error
	for range 10 {
		if err = s.rdb.Watch(ctx, txf, key); !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}
