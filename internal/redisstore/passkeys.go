package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
)

// Passkeys: a user's passkeys are one hash, {u<uid>}:pk, field = passkey id, value = the
// JSON record below; it shares the user's hash tag, so purgeUser drops it with the other
// per-user keys in one DEL. The credential id index, pkc:<credential id bytes> → "<uid>:<id>",
// is global (a sign-in knows the credential, not the user) and claimed with SET NX, which is
// what makes a credential id unique. A ceremony is pkx:<challenge>, its JSON record, expiring
// at its end; GETDEL takes it, so exactly one finish gets it.

type passkeyRecord struct {
	Credential []byte     `json:"c"`
	PublicKey  []byte     `json:"k"`
	AAGUID     []byte     `json:"g,omitempty"`
	SignCount  uint32     `json:"n,omitempty"`
	Transports []string   `json:"t,omitempty"`
	BE         bool       `json:"be,omitempty"`
	BS         bool       `json:"bs,omitempty"`
	Name       string     `json:"m"`
	Created    time.Time  `json:"a"`
	LastUsed   *time.Time `json:"u,omitempty"`
	Clone      *time.Time `json:"x,omitempty"`
}

func encodePasskey(p *auth.Passkey) ([]byte, error) {
	return json.Marshal(passkeyRecord{p.CredentialID, p.PublicKey, p.AAGUID, p.SignCount, p.Transports,
		p.BackupEligible, p.BackupState, p.Name, p.CreatedAt.UTC(), utcPtr(p.LastUsedAt), utcPtr(p.CloneSuspectedAt)})
}

func decodePasskey(userID, id int64, b []byte) (*auth.Passkey, error) {
	var r passkeyRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: passkey %d: %w", errCorrupt, id, err)
	}
	return &auth.Passkey{ID: id, UserID: userID, CredentialID: r.Credential, PublicKey: r.PublicKey, AAGUID: r.AAGUID,
		SignCount: r.SignCount, Transports: r.Transports, BackupEligible: r.BE, BackupState: r.BS, Name: r.Name,
		CreatedAt: r.Created.UTC(), LastUsedAt: utcPtr(r.LastUsed), CloneSuspectedAt: utcPtr(r.Clone)}, nil
}

func (n names) passkeysOf(userID int64) string { return n.prefix + "{u" + itoa(userID) + "}:pk" }
func (n names) passkeyCredential(id []byte) string {
	return n.prefix + "pkc:" + string(id)
}
func (n names) passkeyCeremony(challenge string) string { return n.prefix + "pkx:" + challenge }

func passkeyRef(userID, id int64) string { return itoa(userID) + ":" + itoa(id) }

type ceremonyRecord struct {
	Kind    auth.PasskeyCeremonyKind `json:"k"`
	User    int64                    `json:"u,omitempty"`
	Account int64                    `json:"a,omitempty"`
	State   []byte                   `json:"s"`
	Expires time.Time                `json:"e"`
}

// SavePasskeyCeremony implements auth.PasskeyStore.
func (s *Store) SavePasskeyCeremony(ctx context.Context, c *auth.PasskeyCeremony) error {
	const op = "save passkey ceremony"
	b, err := json.Marshal(ceremonyRecord{c.Kind, c.UserID, c.AccountID, c.State, c.ExpiresAt.UTC()})
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	err = s.rdb.SetArgs(ctx, s.name.passkeyCeremony(c.Challenge), b, redis.SetArgs{Mode: "NX", ExpireAt: ceilMilli(c.ExpiresAt)}).Err()
	if errors.Is(err, redis.Nil) {
		return conflict(op)
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// TakePasskeyCeremony implements auth.PasskeyStore with one GETDEL.
func (s *Store) TakePasskeyCeremony(ctx context.Context, challenge string) (*auth.PasskeyCeremony, error) {
	const op = "take passkey ceremony"
	b, err := s.rdb.GetDel(ctx, s.name.passkeyCeremony(challenge)).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	var r ceremonyRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fail(op, fmt.Errorf("%w: passkey ceremony: %w", errCorrupt, err))
	}
	if !s.clock.Now().Before(r.Expires) {
		return nil, notFound(op)
	}
	return &auth.PasskeyCeremony{Challenge: challenge, Kind: r.Kind, UserID: r.User, AccountID: r.Account, State: r.State, ExpiresAt: r.Expires.UTC()}, nil
}

// CreatePasskey implements auth.PasskeyStore: the credential id is claimed first (so that
// of two registrations of one credential one wins), then the record written, then the user
// checked, as CreateKey does against a concurrent DeleteUser.
func (s *Store) CreatePasskey(ctx context.Context, p *auth.Passkey) error {
	const op = "create passkey"
	rec, err := encodePasskey(p)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if err := s.checkUserLives(ctx, p.UserID); err != nil {
		return fail(op, err)
	}
	id, err := s.rdb.Incr(ctx, s.name.seq("pk")).Result()
	if err != nil {
		return fail(op, err)
	}
	index := s.name.passkeyCredential(p.CredentialID)
	ok, err := s.rdb.SetNX(ctx, index, passkeyRef(p.UserID, id), 0).Result()
	if err != nil {
		return fail(op, err)
	}
	if !ok {
		return conflict(op)
	}
	undo := func() {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = s.rdb.HDel(uctx, s.name.passkeysOf(p.UserID), itoa(id)).Err()
		_ = deleteIfEqual.Run(uctx, s.rdb, []string{index}, passkeyRef(p.UserID, id)).Err()
	}
	if err := s.rdb.HSet(ctx, s.name.passkeysOf(p.UserID), itoa(id), rec).Err(); err != nil {
		undo()
		return fail(op, err)
	}
	if err := s.checkUserLives(ctx, p.UserID); err != nil {
		undo()
		return fail(op, err)
	}
	p.ID = id
	return nil
}

// PasskeysOf implements auth.PasskeyStore.
func (s *Store) PasskeysOf(ctx context.Context, userID int64) ([]*auth.Passkey, error) {
	const op = "passkeys of"
	h, err := s.rdb.HGetAll(ctx, s.name.passkeysOf(userID)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	out := make([]*auth.Passkey, 0, len(h))
	for f, v := range h {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			continue
		}
		p, err := decodePasskey(userID, id, []byte(v))
		if err != nil {
			return nil, fail(op, err)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// PasskeyByCredentialID implements auth.PasskeyStore: the index names the record, which
// must exist (an index left by a delete that failed half-way finds nothing).
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*auth.Passkey, error) {
	const op = "passkey by credential id"
	ref, err := s.rdb.Get(ctx, s.name.passkeyCredential(credentialID)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	uid, id, ok := parsePasskeyRef(ref)
	if !ok {
		return nil, fail(op, fmt.Errorf("%w: passkey index", errCorrupt))
	}
	b, err := s.rdb.HGet(ctx, s.name.passkeysOf(uid), itoa(id)).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	return decodePasskey(uid, id, b)
}

func parsePasskeyRef(ref string) (uid, id int64, ok bool) {
	a, b, found := strings.Cut(ref, ":")
	if !found {
		return 0, 0, false
	}
	uid, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	return uid, id, err1 == nil && err2 == nil
}

// UpdatePasskey implements auth.PasskeyStore under WATCH on the user's passkey hash, so that
// concurrent updates serialise (the sign-in's counter check is a compare-and-set) and a
// deleted passkey is not brought back.
func (s *Store) UpdatePasskey(ctx context.Context, userID, id int64, edit func(*auth.Passkey) error) (*auth.Passkey, error) {
	const op = "update passkey"
	key, field := s.name.passkeysOf(userID), itoa(id)
	var out *auth.Passkey
	txf := func(tx *redis.Tx) error {
		b, err := tx.HGet(ctx, key, field).Bytes()
		if err != nil {
			return err
		}
		p, err := decodePasskey(userID, id, b)
		if err != nil {
			return err
		}
		cred := p.CredentialID
		if err := edit(p); err != nil {
			return editError{err}
		}
		p.ID, p.UserID, p.CredentialID = id, userID, cred
		rec, err := encodePasskey(p)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(pl redis.Pipeliner) error {
			pl.HSet(ctx, key, field, rec)
			return nil
		})
		out = p
		return err
	}
	var err error
	for range 10 {
		if err = s.rdb.Watch(ctx, txf, key); !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	if err != nil {
		return nil, passEditError(fail(op, err))
	}
	return out, nil
}

// DeletePasskey implements auth.PasskeyStore: HDEL decides (one caller removes the field),
// then the index goes if it still names this passkey.
func (s *Store) DeletePasskey(ctx context.Context, userID, id int64) (*auth.Passkey, error) {
	const op = "delete passkey"
	key, field := s.name.passkeysOf(userID), itoa(id)
	b, err := s.rdb.HGet(ctx, key, field).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	p, err := decodePasskey(userID, id, b)
	if err != nil {
		return nil, fail(op, err)
	}
	n, err := s.rdb.HDel(ctx, key, field).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	if n == 0 {
		return nil, notFound(op)
	}
	// Left behind if this fails, the index finds no record (PasskeyByCredentialID), but
	// keeps the credential id claimed: the same authenticator cannot register it again
	// until it is removed by hand. Registrations make new credential ids, so none does.
	_ = deleteIfEqual.Run(ctx, s.rdb, []string{s.name.passkeyCredential(p.CredentialID)}, passkeyRef(userID, id)).Err()
	return p, nil
}

// purgePasskeys removes the credential index entries of a user's passkeys; purgeUser then
// drops the hash itself with the user's other keys.
func (s *Store) purgePasskeys(ctx context.Context, userID int64) error {
	keys, err := s.PasskeysOf(ctx, userID)
	if err != nil {
		return err
	}
	return s.deleteAll(ctx, len(keys), func(p redis.Pipeliner, i int) {
		deleteIfEqual.Eval(ctx, p, []string{s.name.passkeyCredential(keys[i].CredentialID)}, passkeyRef(userID, keys[i].ID))
	})
}
