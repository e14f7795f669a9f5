package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// Replica acknowledgement of credential writes.
//
// Redis replicates asynchronously: a write is answered once the primary has applied it, and
// a primary that dies a moment later (SIGKILL, a lost host) takes with it whatever its
// replicas had not yet received. After a failover the promoted replica does not know those
// writes: a session token the client was given no longer authenticates (a 401, a user logged
// out), and, worse, a revocation the client was told had happened is undone (a deleted key
// signs in again, a refresh token already traded can be traded again).
//
// WithReplicaWait closes that window for the writes that create or revoke a credential: after
// such a write it asks Redis to WAIT until Replicas replicas have acknowledged everything up
// to it, for at most Timeout, and only then answers. If fewer acknowledge in time the write
// is answered with a *NotReplicatedError, an auth.ErrUnavailable (503, SERVICE_UNAVAILABLE,
// retry), although the primary has applied it:
//
//   - A creation (a session, a key, a refresh rotation) the client never received is an
//     orphan nobody holds the secret of: harmless, and it expires or is listed (keys) for its
//     owner to delete. The client retries and gets a fresh one; a refresh retried within the
//     refresh grace replays the very same successor pair (auth.Rotation), so the retry of a
//     rotation is not mistaken for a reuse.
//   - A revocation (a deleted session or key, a revoked family, a changed password, a disabled
//     or deleted user) is not reported done until it is safe: a retry runs it again, and a
//     retry that finds it done already (ErrNotFound) waits too before answering, so that "not
//     found" is never said of a revocation that a failover could still undo.
//
// WAIT counts acknowledgements of the connection's own last write. The write it follows ran
// on a pooled connection, maybe another one, so WAIT is sent in one pipeline (one connection)
// after a write of its own to a marker key: the replication stream is ordered, so a replica
// that has acknowledged the marker has the credential write too. On a Cluster the writes of
// one operation may land on several primaries, so every primary is waited on; a shard without
// enough live replicas then makes every credential write answer 503, which is the price of
// refusing to acknowledge what a failover could lose. (WAITAOF, which also waits for the
// replicas' append-only files, needs Redis 7.2; WAIT guards against the failover of a
// primary, not against every node losing power at once.)
//
// What it does not close: a failover in the instant between the write and the marker, when
// the promoted primary has replicas of its own to acknowledge the marker (with a single
// replica it has none, and the write answers 503); and a sign-out of the very session that
// sends it, whose retry after a 503 is refused at authentication (401) before it reaches the
// store, since the primary has already applied it.

// ReplicaWait configures WithReplicaWait.
type ReplicaWait struct {
	// Replicas is how many replicas must acknowledge a credential write (0: do not wait).
	Replicas int
	// Timeout bounds the wait; fewer acknowledgements by then answer NotReplicatedError.
	Timeout time.Duration
	// Prefix starts the marker key's name, as the store's Options.Prefix (default "ag:").
	Prefix string
}

// NotReplicatedError answers a credential write that the primary applied but fewer than the
// wanted number of replicas acknowledged in time. It is an auth.ErrUnavailable: the request
// is answered 503 and is safe to retry (see WithReplicaWait).
type NotReplicatedError struct {
	Op        string
	Want, Got int
	Err       error // the WAIT's own failure, if it did not answer at all
}

func (e *NotReplicatedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("redisstore: %s: not confirmed by %d replica(s): %v", e.Op, e.Want, e.Err)
	}
	return fmt.Sprintf("redisstore: %s: %d of %d replica(s) acknowledged in time", e.Op, e.Got, e.Want)
}

// Unwrap makes it an auth.ErrUnavailable, and keeps the cause.
func (e *NotReplicatedError) Unwrap() []error {
	if e.Err != nil {
		return []error{auth.ErrUnavailable, e.Err}
	}
	return []error{auth.ErrUnavailable}
}

// WithReplicaWait answers store with every credential-creating or -revoking write (see
// waitedMethods in the tests for the list and why) followed by a replica WAIT on rdb, the
// store's client. With opts.Replicas ≤ 0 it answers store unchanged.
func WithReplicaWait(store auth.Store, rdb redis.UniversalClient, opts ReplicaWait) auth.Store {
	if opts.Replicas <= 0 {
		return store
	}
	if opts.Prefix == "" {
		opts.Prefix = "ag:"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 100 * time.Millisecond
	}
	return &waitingStore{Store: store, w: &replicaWaiter{rdb: rdb, opts: opts}}
}

// replicaWaiter sends the WAITs.
type replicaWaiter struct {
	rdb  redis.UniversalClient
	opts ReplicaWait
}

// wait returns nil once opts.Replicas replicas of every primary the store may have written
// to have acknowledged everything written before it was called.
func (w *replicaWaiter) wait(ctx context.Context, op string) error {
	cc, ok := w.rdb.(*redis.ClusterClient)
	if !ok {
		return w.waitOn(ctx, op, w.rdb, w.opts.Prefix+"replica-wait")
	}
	var mu sync.Mutex
	var errs []error
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		marker, err := markerOn(ctx, cc, node.Options().Addr, w.opts.Prefix)
		if err == nil {
			err = w.waitOn(ctx, op, node, marker)
		}
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
		return nil // every primary is waited on, not just those before a failure
	})
	if err != nil {
		return &NotReplicatedError{Op: op, Want: w.opts.Replicas, Err: err}
	}
	return errors.Join(errs...)
}

// waitOn writes the marker and WAITs on one connection of c.
func (w *replicaWaiter) waitOn(ctx context.Context, op string, c redis.Cmdable, marker string) error {
	var n *redis.IntCmd
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, marker, "1", time.Minute)
		// go-redis's pipelines have Wait (which stretches the read timeout to the wait's)
		// without the Pipeliner interface naming it.
		n = p.(interface {
			Wait(context.Context, int, time.Duration) *redis.IntCmd
		}).Wait(ctx, w.opts.Replicas, w.opts.Timeout)
		return nil
	})
	if err != nil {
		return &NotReplicatedError{Op: op, Want: w.opts.Replicas, Err: err}
	}
	if got := int(n.Val()); got < w.opts.Replicas {
		return &NotReplicatedError{Op: op, Want: w.opts.Replicas, Got: got}
	}
	return nil
}

// markerOn finds a marker key that the Cluster serves from the primary at addr, so that the
// marker's write and the WAIT after it run on that primary's connection. The keys tried
// differ by a hash tag; with slots spread over the primaries a few tries find one.
func markerOn(ctx context.Context, cc *redis.ClusterClient, addr, prefix string) (string, error) {
	for i := range 4096 {
		key := prefix + "replica-wait{" + strconv.Itoa(i) + "}"
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return "", err
		}
		if node.Options().Addr == addr {
			return key, nil
		}
	}
	return "", fmt.Errorf("no slot of the cluster is served by %s", addr)
}

// waitingStore is WithReplicaWait's store. Every method it defines is a credential write
// (TestEveryStoreMethodIsClassifiedForReplicaWait holds the list); the others are the
// wrapped store's.
type waitingStore struct {
	auth.Store
	w *replicaWaiter
}

// created finishes a write that creates a credential: it waits after a success only.
func (s *waitingStore) created(ctx context.Context, op string, err error) error {
	if err != nil {
		return err
	}
	return s.w.wait(ctx, op)
}

// revoked finishes a write that revokes a credential: it waits after a success, and after
// ErrNotFound too, which a retry of a revocation that did its work but could not confirm it
// answers. An ErrNotFound that is confirmed is answered as it is.
func (s *waitingStore) revoked(ctx context.Context, op string, err error) error {
	if err != nil && !errors.Is(err, auth.ErrNotFound) {
		return err
	}
	if werr := s.w.wait(ctx, op); werr != nil {
		return werr
	}
	return err
}

// Users.

func (s *waitingStore) CreateUser(ctx context.Context, u *auth.User) error {
	return s.created(ctx, "create user", s.Store.CreateUser(ctx, u))
}

func (s *waitingStore) SetPasswordHash(ctx context.Context, id int64, hash string) error {
	return s.revoked(ctx, "set password hash", s.Store.SetPasswordHash(ctx, id, hash))
}

func (s *waitingStore) UpdateUser(ctx context.Context, id int64, edit func(*auth.User) error) (*auth.User, error) {
	u, err := s.Store.UpdateUser(ctx, id, edit)
	if err = s.revoked(ctx, "update user", err); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *waitingStore) DeleteUser(ctx context.Context, id int64) (*auth.User, error) {
	u, err := s.Store.DeleteUser(ctx, id)
	if err = s.revoked(ctx, "delete user", err); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *waitingStore) DeleteAccount(ctx context.Context, id int64) (*auth.Account, error) {
	a, err := s.Store.DeleteAccount(ctx, id)
	if err = s.revoked(ctx, "delete account", err); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *waitingStore) SetEmail(ctx context.Context, userID int64, email string, verified bool) (*auth.User, error) {
	u, err := s.Store.SetEmail(ctx, userID, email, verified)
	if err = s.created(ctx, "set email", err); err != nil {
		return nil, err
	}
	return u, nil
}

// Keys.

func (s *waitingStore) CreateKey(ctx context.Context, k *auth.UserKey) error {
	return s.created(ctx, "create key", s.Store.CreateKey(ctx, k))
}

func (s *waitingStore) SetKeyHash(ctx context.Context, id int64, hash string) error {
	return s.revoked(ctx, "set key hash", s.Store.SetKeyHash(ctx, id, hash))
}

func (s *waitingStore) UpdateKey(ctx context.Context, id int64, edit func(*auth.UserKey) error) (*auth.UserKey, error) {
	k, err := s.Store.UpdateKey(ctx, id, edit)
	if err = s.revoked(ctx, "update key", err); err != nil {
		return nil, err
	}
	return k, nil
}

func (s *waitingStore) DeleteKey(ctx context.Context, userID, id int64) (*auth.UserKey, error) {
	k, err := s.Store.DeleteKey(ctx, userID, id)
	if err = s.revoked(ctx, "delete key", err); err != nil {
		return nil, err
	}
	return k, nil
}

// Sessions and refresh token families.

func (s *waitingStore) CreateSession(ctx context.Context, sess *auth.Session) error {
	return s.created(ctx, "create session", s.Store.CreateSession(ctx, sess))
}

func (s *waitingStore) DeleteSession(ctx context.Context, userID, id int64) (*auth.Session, error) {
	sess, err := s.Store.DeleteSession(ctx, userID, id)
	if err = s.revoked(ctx, "delete session", err); err != nil {
		return nil, err
	}
	return sess, nil
}

func (s *waitingStore) DeleteSessionsOf(ctx context.Context, userID, exceptID int64) (int, error) {
	n, err := s.Store.DeleteSessionsOf(ctx, userID, exceptID)
	if err = s.revoked(ctx, "delete sessions", err); err != nil {
		return 0, err
	}
	return n, nil
}

func (s *waitingStore) CreateFamily(ctx context.Context, f *auth.Family, first *auth.Session) error {
	return s.created(ctx, "create family", s.Store.CreateFamily(ctx, f, first))
}

// Rotate both creates (the successor pair) and revokes (the presented token, or the whole
// family on a reuse): it waits as a revocation does.
func (s *waitingStore) Rotate(ctx context.Context, r *auth.Rotation) (*auth.RotationResult, error) {
	res, err := s.Store.Rotate(ctx, r)
	if err = s.revoked(ctx, "rotate", err); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *waitingStore) RevokeFamily(ctx context.Context, userID, id int64) error {
	return s.revoked(ctx, "revoke family", s.Store.RevokeFamily(ctx, userID, id))
}

// Second factors: enabling one is a credential, using a step or a recovery code revokes it
// for ever (a lost use could be replayed), disabling revokes it.

func (s *waitingStore) EnableTOTP(ctx context.Context, userID int64, secret []byte, step int64, recovery []token.Digest) error {
	return s.created(ctx, "enable totp", s.Store.EnableTOTP(ctx, userID, secret, step, recovery))
}

func (s *waitingStore) UseTOTPStep(ctx context.Context, userID int64, step int64) error {
	return s.created(ctx, "use totp step", s.Store.UseTOTPStep(ctx, userID, step))
}

func (s *waitingStore) UseRecoveryCode(ctx context.Context, userID int64, d token.Digest) error {
	return s.created(ctx, "use recovery code", s.Store.UseRecoveryCode(ctx, userID, d))
}

func (s *waitingStore) DisableTOTP(ctx context.Context, userID int64) error {
	return s.revoked(ctx, "disable totp", s.Store.DisableTOTP(ctx, userID))
}

// Passkeys.

func (s *waitingStore) CreatePasskey(ctx context.Context, p *auth.Passkey) error {
	return s.created(ctx, "create passkey", s.Store.CreatePasskey(ctx, p))
}

func (s *waitingStore) DeletePasskey(ctx context.Context, userID, id int64) (*auth.Passkey, error) {
	p, err := s.Store.DeletePasskey(ctx, userID, id)
	if err = s.revoked(ctx, "delete passkey", err); err != nil {
		return nil, err
	}
	return p, nil
}

// Linked identities: a link is a way to sign in.

func (s *waitingStore) LinkIdentity(ctx context.Context, l *auth.LinkedIdentity) error {
	return s.created(ctx, "link identity", s.Store.LinkIdentity(ctx, l))
}

func (s *waitingStore) UnlinkIdentity(ctx context.Context, userID int64, provider, subject string) (*auth.LinkedIdentity, error) {
	l, err := s.Store.UnlinkIdentity(ctx, userID, provider, subject)
	if err = s.revoked(ctx, "unlink identity", err); err != nil {
		return nil, err
	}
	return l, nil
}

// Emailed one-time tokens and codes: their use is their revocation (a lost use could be
// replayed once more).

func (s *waitingStore) ConsumeEmailToken(ctx context.Context, p auth.TokenPurpose, d token.Digest) (*auth.EmailToken, error) {
	t, err := s.Store.ConsumeEmailToken(ctx, p, d)
	if err = s.created(ctx, "consume email token", err); err != nil {
		return nil, err
	}
	return t, nil
}

func (s *waitingStore) ConsumeEmailCode(ctx context.Context, userID int64, p auth.TokenPurpose, d token.Digest, maxTries int) error {
	return s.created(ctx, "consume email code", s.Store.ConsumeEmailCode(ctx, userID, p, d, maxTries))
}

// Service accounts and their keys.

func (s *waitingStore) UpdateServiceAccount(ctx context.Context, id int64, edit func(*auth.ServiceAccount) error) (*auth.ServiceAccount, error) {
	sa, err := s.Store.UpdateServiceAccount(ctx, id, edit)
	if err = s.revoked(ctx, "update service account", err); err != nil {
		return nil, err
	}
	return sa, nil
}

func (s *waitingStore) DeleteServiceAccount(ctx context.Context, id int64) (*auth.ServiceAccount, error) {
	sa, err := s.Store.DeleteServiceAccount(ctx, id)
	if err = s.revoked(ctx, "delete service account", err); err != nil {
		return nil, err
	}
	return sa, nil
}

func (s *waitingStore) CreateServiceKey(ctx context.Context, k *auth.ServiceKey) error {
	return s.created(ctx, "create service key", s.Store.CreateServiceKey(ctx, k))
}

func (s *waitingStore) UpdateServiceKey(ctx context.Context, id int64, edit func(*auth.ServiceKey) error) (*auth.ServiceKey, error) {
	k, err := s.Store.UpdateServiceKey(ctx, id, edit)
	if err = s.revoked(ctx, "update service key", err); err != nil {
		return nil, err
	}
	return k, nil
}

func (s *waitingStore) DeleteServiceKey(ctx context.Context, serviceAccountID, id int64) (*auth.ServiceKey, error) {
	k, err := s.Store.DeleteServiceKey(ctx, serviceAccountID, id)
	if err = s.revoked(ctx, "delete service key", err); err != nil {
		return nil, err
	}
	return k, nil
}

// App sign-in codes: their use is their revocation.

func (s *waitingStore) ConsumeAppCode(ctx context.Context, d token.Digest) (*auth.AppCode, error) {
	c, err := s.Store.ConsumeAppCode(ctx, d)
	if err = s.created(ctx, "consume app code", err); err != nil {
		return nil, err
	}
	return c, nil
}
