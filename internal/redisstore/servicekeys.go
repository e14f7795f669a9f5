package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// Service accounts and their keys (auth.ServiceKeyStore) all live under one hash tag, {sk},
// and so in one Cluster slot:
//
//	p seq:sa, p seq:sk           counters (INCR) of service account and service key ids
//	p {sk}:a:<id>                service account: JSON {"a","n","s","d","c"} (account, name,
//	                             scopes, disabled, created)
//	p {sk}:as:<account id>       SET of the account's service account ids
//	p {sk}:k:<id>                service key: JSON {"g","a","n","d","h","s","c","e","r","rp",
//	                             "q","qp","pd","pe"} (service account, account, name, digest,
//	                             hint, scopes, created, expires, rate and period, quota and
//	                             period, previous digest and its deadline)
//	p {sk}:ks:<sa id>            SET of the service account's key ids
//	p {sk}:d:<digest>            "<key id>:<sa id>" under the 32 raw bytes of a secret's
//	                             SHA-256: the current secret's, and during a reroll's grace the
//	                             previous one's (PEXPIREAT its deadline)
//
// One slot is what makes every change one atomic step on Cluster too: disabling or deleting a
// service account with all its keys and their digest entries, and a reroll racing a deletion,
// are WATCH/MULTI transactions over keys of that slot. Service keys are few (an account has
// a handful of machines, each a few keys) and every replica caches the verified ones
// (internal/sessioncache), so the slot is neither large nor hot; the per-request meter
// (internal/keymeter) keeps its own keys elsewhere.
//
// A lookup by digest is one script (serviceByDigest) whatever the answer: an unknown digest
// costs one GET, a known one three GETs in the same round trip.

func (n names) svcAccount(id int64) string      { return n.prefix + "{sk}:a:" + itoa(id) }
func (n names) svcAccountsOf(acct int64) string { return n.prefix + "{sk}:as:" + itoa(acct) }
func (n names) svcKey(id int64) string          { return n.prefix + "{sk}:k:" + itoa(id) }
func (n names) svcKeysOf(said int64) string     { return n.prefix + "{sk}:ks:" + itoa(said) }
func (n names) svcDigest(d token.Digest) string { return n.prefix + "{sk}:d:" + string(d[:]) }

// serviceByDigest: KEYS[1] is a digest entry; ARGV[1] the {sk} prefix. It answers the key
// and service account records, or nil. The keys it reads besides KEYS[1] share its hash tag.
var serviceByDigest = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
local kid, said = string.match(v, '^(%d+):(%d+)$')
if not kid then return false end
local k = redis.call('GET', ARGV[1] .. 'k:' .. kid)
local a = redis.call('GET', ARGV[1] .. 'a:' .. said)
if not k or not a then return false end
return {kid, k, said, a}
`)

type svcAccountRecord struct {
	Account  int64        `json:"a"`
	Name     string       `json:"n"`
	Scopes   []auth.Scope `json:"s"`
	Disabled bool         `json:"d,omitempty"`
	Created  time.Time    `json:"c"`
}

type svcKeyRecord struct {
	SA          int64         `json:"g"`
	Account     int64         `json:"a"`
	Name        string        `json:"n"`
	Digest      []byte        `json:"d"`
	Hint        string        `json:"h"`
	Scopes      []auth.Scope  `json:"s"`
	Created     time.Time     `json:"c"`
	Expires     *time.Time    `json:"e,omitempty"`
	Rate        int           `json:"r,omitempty"`
	RatePeriod  time.Duration `json:"rp,omitempty"`
	Quota       int64         `json:"q,omitempty"`
	QuotaPeriod time.Duration `json:"qp,omitempty"`
	PrevDigest  []byte        `json:"pd,omitempty"`
	PrevExpires *time.Time    `json:"pe,omitempty"`
}

func encodeServiceAccount(sa *auth.ServiceAccount) ([]byte, error) {
	return json.Marshal(svcAccountRecord{sa.AccountID, sa.Name, sa.Scopes, sa.Disabled, sa.CreatedAt.UTC()})
}

func decodeServiceAccount(id int64, b []byte) (*auth.ServiceAccount, error) {
	var r svcAccountRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: service account: %w", errCorrupt, err)
	}
	return &auth.ServiceAccount{ID: id, AccountID: r.Account, Name: r.Name, Scopes: r.Scopes, Disabled: r.Disabled, CreatedAt: r.Created.UTC()}, nil
}

func encodeServiceKey(k *auth.ServiceKey) ([]byte, error) {
	r := svcKeyRecord{
		SA: k.ServiceAccountID, Account: k.AccountID, Name: k.Name, Digest: k.Digest[:], Hint: k.Hint, Scopes: k.Scopes,
		Created: k.CreatedAt.UTC(), Expires: utcPtr(k.ExpiresAt), Rate: k.Rate, RatePeriod: k.RatePeriod,
		Quota: k.Quota, QuotaPeriod: k.QuotaPeriod,
	}
	if k.PreviousExpiresAt != nil {
		r.PrevDigest, r.PrevExpires = k.PreviousDigest[:], utcPtr(k.PreviousExpiresAt)
	}
	return json.Marshal(r)
}

func decodeServiceKey(id int64, b []byte) (*auth.ServiceKey, error) {
	var r svcKeyRecord
	if err := json.Unmarshal(b, &r); err != nil || len(r.Digest) != len(token.Digest{}) {
		return nil, fmt.Errorf("%w: service key: %v", errCorrupt, err)
	}
	k := &auth.ServiceKey{
		ID: id, ServiceAccountID: r.SA, AccountID: r.Account, Name: r.Name, Digest: token.Digest(r.Digest), Hint: r.Hint,
		Scopes: r.Scopes, CreatedAt: r.Created.UTC(), ExpiresAt: utcPtr(r.Expires), Rate: r.Rate, RatePeriod: r.RatePeriod,
		Quota: r.Quota, QuotaPeriod: r.QuotaPeriod,
	}
	if r.PrevExpires != nil && len(r.PrevDigest) == len(token.Digest{}) {
		k.PreviousDigest, k.PreviousExpiresAt = token.Digest(r.PrevDigest), utcPtr(r.PrevExpires)
	}
	return k, nil
}

func digestValue(k *auth.ServiceKey) string {
	return itoa(k.ID) + ":" + itoa(k.ServiceAccountID)
}

// watchTx runs txf under WATCH of keys (one slot), retrying when a watched key changed.
func (s *Store) watchTx(ctx context.Context, op string, txf func(*redis.Tx) error, keys ...string) error {
	var err error
	for range 20 {
		if err = s.rdb.Watch(ctx, txf, keys...); !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	if err != nil {
		var ee editError
		if errors.As(err, &ee) {
			return err
		}
		return fail(op, err)
	}
	return nil
}

// CreateServiceAccount implements auth.ServiceKeyStore.
func (s *Store) CreateServiceAccount(ctx context.Context, sa *auth.ServiceAccount) error {
	const op = "create service account"
	id, err := s.rdb.Incr(ctx, s.name.seq("sa")).Result()
	if err != nil {
		return fail(op, err)
	}
	sa.ID = id
	b, err := encodeServiceAccount(sa)
	if err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.name.svcAccount(id), b, 0)
		p.SAdd(ctx, s.name.svcAccountsOf(sa.AccountID), id)
		return nil
	})
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// ServiceAccount implements auth.ServiceKeyStore.
func (s *Store) ServiceAccount(ctx context.Context, id int64) (*auth.ServiceAccount, error) {
	b, err := s.rdb.Get(ctx, s.name.svcAccount(id)).Bytes()
	if err != nil {
		return nil, fail("service account", err)
	}
	return decodeServiceAccount(id, b)
}

// ServiceAccountsOf implements auth.ServiceKeyStore: the index, then one MGET.
func (s *Store) ServiceAccountsOf(ctx context.Context, accountID int64) ([]*auth.ServiceAccount, error) {
	const op = "service accounts of"
	ids, err := s.members(ctx, s.name.svcAccountsOf(accountID))
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	out, err := mgetRecords(ctx, s.rdb, ids, s.name.svcAccount, decodeServiceAccount)
	if err != nil {
		return nil, fail(op, err)
	}
	return out, nil
}

// mgetRecords reads the records of ids in one MGET (one slot: they share a hash tag) and
// decodes those that exist, in the order of ids.
func mgetRecords[T any](ctx context.Context, c redis.Cmdable, ids []int64, name func(int64) string, decode func(int64, []byte) (T, error)) ([]T, error) {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = name(id)
	}
	vals, err := c.MGet(ctx, names...).Result()
	if err != nil {
		return nil, err
	}
	var out []T
	for i, v := range vals {
		if str, ok := v.(string); ok {
			r, err := decode(ids[i], []byte(str))
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// members answers the ids of a SET, ascending.
func (s *Store) members(ctx context.Context, key string) ([]int64, error) {
	strs, err := s.rdb.SMembers(ctx, key).Result()
	if err != nil {
		return nil, fail("list", err)
	}
	ids := make([]int64, 0, len(strs))
	for _, str := range strs {
		if id, err := strconv.ParseInt(str, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// UpdateServiceAccount implements auth.ServiceKeyStore: a WATCH transaction on the record.
func (s *Store) UpdateServiceAccount(ctx context.Context, id int64, edit func(*auth.ServiceAccount) error) (*auth.ServiceAccount, error) {
	var out *auth.ServiceAccount
	err := s.update(ctx, "update service account", s.name.svcAccount(id), func(b []byte) ([]byte, error) {
		sa, err := decodeServiceAccount(id, b)
		if err != nil {
			return nil, err
		}
		acct := sa.AccountID
		if err := edit(sa); err != nil {
			return nil, editError{err}
		}
		sa.ID, sa.AccountID = id, acct
		out = sa
		return encodeServiceAccount(sa)
	})
	if err != nil {
		return nil, passEditError(err)
	}
	return out, nil
}

// DeleteServiceAccount implements auth.ServiceKeyStore: one transaction, watching the record
// and its key index (so that a key made meanwhile is either seen and deleted, or fails).
func (s *Store) DeleteServiceAccount(ctx context.Context, id int64) (*auth.ServiceAccount, error) {
	const op = "delete service account"
	var out *auth.ServiceAccount
	recKey, idxKey := s.name.svcAccount(id), s.name.svcKeysOf(id)
	txf := func(tx *redis.Tx) error {
		b, err := tx.Get(ctx, recKey).Bytes()
		if err != nil {
			return err
		}
		sa, err := decodeServiceAccount(id, b)
		if err != nil {
			return err
		}
		keys, err := s.readServiceKeys(ctx, tx, idxKey)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				s.dropServiceKey(ctx, p, k)
			}
			p.Del(ctx, recKey, idxKey)
			p.SRem(ctx, s.name.svcAccountsOf(sa.AccountID), id)
			return nil
		})
		out = sa
		return err
	}
	if err := s.watchTx(ctx, op, txf, recKey, idxKey); err != nil {
		return nil, err
	}
	return out, nil
}

// readServiceKeys reads the keys listed in a key index, within a transaction.
func (s *Store) readServiceKeys(ctx context.Context, c redis.Cmdable, idxKey string) ([]*auth.ServiceKey, error) {
	strs, err := c.SMembers(ctx, idxKey).Result()
	if err != nil || len(strs) == 0 {
		return nil, err
	}
	ids := make([]int64, 0, len(strs))
	for _, str := range strs {
		if id, err := strconv.ParseInt(str, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return mgetRecords(ctx, c, ids, s.name.svcKey, decodeServiceKey)
}

// dropServiceKey queues the deletion of a key with its digest entries and index entry.
func (s *Store) dropServiceKey(ctx context.Context, p redis.Pipeliner, k *auth.ServiceKey) {
	p.Del(ctx, s.name.svcKey(k.ID), s.name.svcDigest(k.Digest))
	if k.PreviousExpiresAt != nil {
		p.Del(ctx, s.name.svcDigest(k.PreviousDigest))
	}
	p.SRem(ctx, s.name.svcKeysOf(k.ServiceAccountID), k.ID)
}

// indexServiceKey queues the digest entries of k.
func (s *Store) indexServiceKey(ctx context.Context, p redis.Pipeliner, k *auth.ServiceKey) {
	p.Set(ctx, s.name.svcDigest(k.Digest), digestValue(k), 0)
	if k.PreviousExpiresAt != nil {
		p.SetArgs(ctx, s.name.svcDigest(k.PreviousDigest), digestValue(k), redis.SetArgs{ExpireAt: *k.PreviousExpiresAt})
	}
}

// CreateServiceKey implements auth.ServiceKeyStore: one transaction watching the service
// account, so that a key is never left behind by a deletion running meanwhile.
func (s *Store) CreateServiceKey(ctx context.Context, k *auth.ServiceKey) error {
	const op = "create service key"
	id, err := s.rdb.Incr(ctx, s.name.seq("sk")).Result()
	if err != nil {
		return fail(op, err)
	}
	k.ID = id
	b, err := encodeServiceKey(k)
	if err != nil {
		return err
	}
	saKey := s.name.svcAccount(k.ServiceAccountID)
	txf := func(tx *redis.Tx) error {
		n, err := tx.Exists(ctx, saKey).Result()
		if err != nil {
			return err
		}
		if n == 0 {
			return redis.Nil
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, s.name.svcKey(id), b, 0)
			s.indexServiceKey(ctx, p, k)
			p.SAdd(ctx, s.name.svcKeysOf(k.ServiceAccountID), id)
			return nil
		})
		return err
	}
	return s.watchTx(ctx, op, txf, saKey, s.name.svcKeysOf(k.ServiceAccountID))
}

// ServiceKey implements auth.ServiceKeyStore.
func (s *Store) ServiceKey(ctx context.Context, id int64) (*auth.ServiceKey, error) {
	b, err := s.rdb.Get(ctx, s.name.svcKey(id)).Bytes()
	if err != nil {
		return nil, fail("service key", err)
	}
	return decodeServiceKey(id, b)
}

// ServiceKeysOf implements auth.ServiceKeyStore.
func (s *Store) ServiceKeysOf(ctx context.Context, serviceAccountID int64) ([]*auth.ServiceKey, error) {
	keys, err := s.readServiceKeys(ctx, s.rdb, s.name.svcKeysOf(serviceAccountID))
	if err != nil {
		return nil, fail("service keys of", err)
	}
	return keys, nil
}

// UpdateServiceKey implements auth.ServiceKeyStore: a WATCH transaction on the record that
// rewrites its digest entries with it.
func (s *Store) UpdateServiceKey(ctx context.Context, id int64, edit func(*auth.ServiceKey) error) (*auth.ServiceKey, error) {
	const op = "update service key"
	var out *auth.ServiceKey
	recKey := s.name.svcKey(id)
	txf := func(tx *redis.Tx) error {
		b, err := tx.Get(ctx, recKey).Bytes()
		if err != nil {
			return err
		}
		cur, err := decodeServiceKey(id, b)
		if err != nil {
			return err
		}
		next, _ := decodeServiceKey(id, b)
		if err := edit(next); err != nil {
			return editError{err}
		}
		next.ID, next.ServiceAccountID, next.AccountID = id, cur.ServiceAccountID, cur.AccountID
		nb, err := encodeServiceKey(next)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, s.name.svcDigest(cur.Digest))
			if cur.PreviousExpiresAt != nil {
				p.Del(ctx, s.name.svcDigest(cur.PreviousDigest))
			}
			p.Set(ctx, recKey, nb, 0)
			s.indexServiceKey(ctx, p, next)
			return nil
		})
		out = next
		return err
	}
	if err := s.watchTx(ctx, op, txf, recKey); err != nil {
		return nil, passEditError(err)
	}
	return out, nil
}

// DeleteServiceKey implements auth.ServiceKeyStore: a WATCH transaction on the record.
func (s *Store) DeleteServiceKey(ctx context.Context, serviceAccountID, id int64) (*auth.ServiceKey, error) {
	const op = "delete service key"
	var out *auth.ServiceKey
	recKey := s.name.svcKey(id)
	txf := func(tx *redis.Tx) error {
		b, err := tx.Get(ctx, recKey).Bytes()
		if err != nil {
			return err
		}
		k, err := decodeServiceKey(id, b)
		if err != nil {
			return err
		}
		if k.ServiceAccountID != serviceAccountID {
			return redis.Nil
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			s.dropServiceKey(ctx, p, k)
			return nil
		})
		out = k
		return err
	}
	if err := s.watchTx(ctx, op, txf, recKey); err != nil {
		return nil, err
	}
	return out, nil
}

// ServiceKeyByDigest implements auth.ServiceKeyStore: one script, one round trip.
func (s *Store) ServiceKeyByDigest(ctx context.Context, d token.Digest) (*auth.ServiceCredential, error) {
	const op = "service key by digest"
	prefix := strings.TrimSuffix(s.name.svcKey(0), "k:0")
	res, err := serviceByDigest.Run(ctx, s.rdb, []string{s.name.svcDigest(d)}, prefix).Slice()
	if err != nil {
		return nil, fail(op, err)
	}
	if len(res) != 4 {
		return nil, fmt.Errorf("redisstore: %s: %w: an answer of %d values", op, errCorrupt, len(res))
	}
	kid, _ := strconv.ParseInt(fmt.Sprint(res[0]), 10, 64)
	said, _ := strconv.ParseInt(fmt.Sprint(res[2]), 10, 64)
	k, err := decodeServiceKey(kid, []byte(fmt.Sprint(res[1])))
	if err != nil {
		return nil, err
	}
	sa, err := decodeServiceAccount(said, []byte(fmt.Sprint(res[3])))
	if err != nil {
		return nil, err
	}
	if !k.Matches(d, s.clock.Now()) {
		return nil, notFound(op)
	}
	return &auth.ServiceCredential{Key: k, Account: sa}, nil
}
