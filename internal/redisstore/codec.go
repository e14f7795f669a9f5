package redisstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// Users and keys are compact JSON (short names), readable with redis-cli. Their ids live in
// the key name, not the value. Times keep full precision (RFC 3339 with nanoseconds) and come
// back in UTC. JSON needs valid UTF-8 strings, which the domain guarantees.

type userRecord struct {
	Account  int64     `json:"a"`
	Username string    `json:"n"`
	Hash     string    `json:"h"`
	Role     auth.Role `json:"r"`
	Created  time.Time `json:"c"`
	Disabled bool      `json:"d,omitempty"`
}

func encodeUser(u *auth.User) ([]byte, error) {
	return json.Marshal(userRecord{u.AccountID, u.Username, u.PasswordHash, u.Role, u.CreatedAt, u.Disabled})
}

// tombstone starts the record of a user that DeleteUser is removing: the record is kept,
// behind this byte, until everything of the user is gone (see doc.go). JSON never starts
// with it.
const tombstone = '!'

// errTombstone is what decodeUser answers for a user being deleted; callers treat it as
// not found.
var errTombstone = errors.New("user is being deleted")

func decodeUser(id int64, b []byte) (*auth.User, error) {
	if len(b) > 0 && b[0] == tombstone {
		return nil, errTombstone
	}
	var r userRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: user: %w", errCorrupt, err)
	}
	return &auth.User{
		ID: id, AccountID: r.Account, Username: r.Username, PasswordHash: r.Hash, Role: r.Role,
		CreatedAt: r.Created.UTC(), Disabled: r.Disabled,
	}, nil
}

type accountRecord struct {
	Slug    string    `json:"s"`
	Name    string    `json:"n"`
	Created time.Time `json:"c"`
}

func encodeAccount(a *auth.Account) ([]byte, error) {
	return json.Marshal(accountRecord{a.Slug, a.Name, a.CreatedAt})
}

func decodeAccount(id int64, b []byte) (*auth.Account, error) {
	var r accountRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: account: %w", errCorrupt, err)
	}
	return &auth.Account{ID: id, Slug: r.Slug, Name: r.Name, CreatedAt: r.Created.UTC()}, nil
}

type keyRecord struct {
	UserID   int64      `json:"u"` // first: keyHead relies on it
	Name     string     `json:"n"`
	Hash     string     `json:"h"`
	Created  time.Time  `json:"c"`
	LastUsed *time.Time `json:"l,omitempty"`
	Expires  *time.Time `json:"e,omitempty"`
	// Scopes: absent means the user's full rights (nil); a key never has an empty list.
	Scopes      []auth.Scope `json:"s,omitempty"`
	Hint        string       `json:"i,omitempty"`
	PrevHash    string       `json:"ph,omitempty"`
	PrevHint    string       `json:"pi,omitempty"`
	PrevExpires *time.Time   `json:"pe,omitempty"`
}

func encodeKey(k *auth.UserKey) ([]byte, error) {
	return json.Marshal(keyRecord{
		k.UserID, k.Name, k.SecretHash, k.CreatedAt, k.LastUsedAt, k.ExpiresAt,
		k.Scopes, k.SecretHint, k.PreviousSecretHash, k.PreviousSecretHint, k.PreviousSecretExpiresAt,
	})
}

func decodeKey(id int64, b []byte) (*auth.UserKey, error) {
	var r keyRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: key: %w", errCorrupt, err)
	}
	return &auth.UserKey{
		ID: id, UserID: r.UserID, Name: r.Name, SecretHash: r.Hash, CreatedAt: r.Created.UTC(),
		LastUsedAt: utcPtr(r.LastUsed), ExpiresAt: utcPtr(r.Expires),
		Scopes: r.Scopes, SecretHint: r.Hint,
		PreviousSecretHash: r.PrevHash, PreviousSecretHint: r.PrevHint, PreviousSecretExpiresAt: utcPtr(r.PrevExpires),
	}, nil
}

// keyHead is how every encoding of a key owned by userID begins: encoding/json writes fields
// in declaration order, without spaces, and the comma keeps user 1 from matching user 12.
func keyHead(userID int64) string { return `{"u":` + itoa(userID) + "," }

// Sessions are binary, because their number grows with traffic (see doc.go):
//
//	version byte (2) · varint id · varint user id · method · varint user key id · name ·
//	created · expires · last used · client name · client version · user agent · ip ·
//	authenticated at · scopes
//
// A string is a uvarint length and its bytes; a time is a varint of Unix seconds and a
// uvarint of nanoseconds (always UTC); an optional time is a 0 byte, or a 1 byte and the time;
// a method is a byte (1 PASSWORD, 2 USER_KEY, 3 EXTERNAL), or 0 and a string for any other
// value; scopes are a 0 byte (nil: the user's full rights), or a 1 byte, a uvarint count and
// that many strings. The digest is not in the value: it is the key name.
//
// A session of a refresh token family (FamilyID ≠ 0) has the method byte's high bit set and a
// varint family id right after the user key id (in both versions). A record cut short before
// the family id is an error, not a session without one.
//
// Version 1 records (written before sessions had scopes) end after the ip and still read, with
// nil scopes and a zero authenticated-at. Every field is required in its version, so that a
// truncated record is an error, never a shorter session: a session that lost its scopes would
// hold the user's full rights.

const sessionVersion = 2

// sessionOwner is the part of a session's encoding, after the version byte, that names the
// session and its user; DeleteSession and TouchSession check it (from the second byte).
func sessionOwner(id, userID int64) []byte {
	return binary.AppendVarint(binary.AppendVarint(nil, id), userID)
}

// familyFlag, set in the method byte, says that a family id follows the user key id.
const familyFlag = 0x80

// methods are the session methods with a one-byte code: the code is the index.
var methods = [...]auth.SessionMethod{1: auth.MethodPassword, 2: auth.MethodUserKey, 3: auth.MethodExternal}

func methodCode(m auth.SessionMethod) byte {
	for code := 1; code < len(methods); code++ {
		if methods[code] == m {
			return byte(code)
		}
	}
	return 0
}

func encodeSession(s *auth.Session) []byte {
	b := make([]byte, 0, 80+len(s.Name)+len(s.ClientName)+len(s.ClientVersion)+len(s.UserAgent)+len(s.IP))
	b = append(b, sessionVersion)
	b = append(b, sessionOwner(s.ID, s.UserID)...)
	var family byte
	if s.FamilyID != 0 {
		family = familyFlag
	}
	if code := methodCode(s.Method); code != 0 {
		b = append(b, code|family)
	} else {
		b = appendString(append(b, family), string(s.Method))
	}
	b = binary.AppendVarint(b, s.UserKeyID)
	if s.FamilyID != 0 {
		b = binary.AppendVarint(b, s.FamilyID)
	}
	b = appendString(b, s.Name)
	b = appendTime(b, s.CreatedAt)
	b = appendTime(b, s.ExpiresAt)
	b = appendOptTime(b, s.LastUsedAt)
	for _, str := range []string{s.ClientName, s.ClientVersion, s.UserAgent, s.IP} {
		b = appendString(b, str)
	}
	var authAt *time.Time
	if !s.AuthenticatedAt.IsZero() {
		authAt = &s.AuthenticatedAt
	}
	b = appendOptTime(b, authAt)
	if s.Scopes == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(append(b, 1), uint64(len(s.Scopes)))
	for _, sc := range s.Scopes {
		b = appendString(b, string(sc))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

func appendOptTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, 0)
	}
	return appendTime(append(b, 1), *t)
}

// decodeSession reads a session; its TokenDigest is left for the caller, who knows it.
func decodeSession(b []byte) (*auth.Session, error) {
	r := reader{b: b}
	version := r.byte()
	if version != 1 && version != sessionVersion {
		return nil, fmt.Errorf("%w: session: unknown version", errCorrupt)
	}
	s := &auth.Session{ID: r.varint(), UserID: r.varint()}
	code := r.byte()
	inFamily := code&familyFlag != 0
	switch code &^= familyFlag; {
	case code == 0:
		s.Method = auth.SessionMethod(r.string())
	case int(code) < len(methods):
		s.Method = methods[code]
	default:
		r.fail()
	}
	s.UserKeyID = r.varint()
	if inFamily {
		if s.FamilyID = r.varint(); s.FamilyID == 0 {
			r.fail()
		}
	}
	s.Name = r.string()
	s.CreatedAt = r.time()
	s.ExpiresAt = r.time()
	s.LastUsedAt = r.optTime()
	s.ClientName = r.string()
	s.ClientVersion = r.string()
	s.UserAgent = r.string()
	s.IP = r.string()
	if version >= 2 {
		if t := r.optTime(); t != nil {
			s.AuthenticatedAt = *t
		}
		switch r.byte() {
		case 0:
		case 1:
			n := r.uvarint()
			if n > uint64(len(r.b)) { // each scope takes at least its length byte
				r.fail()
				break
			}
			s.Scopes = make([]auth.Scope, 0, n)
			for range n {
				s.Scopes = append(s.Scopes, auth.Scope(r.string()))
			}
		default:
			r.fail()
		}
	}
	if r.bad || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: session", errCorrupt)
	}
	return s, nil
}

// reader reads a session encoding; after the first error it answers zeros and sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) fail() { r.bad, r.b = true, nil }

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) time() time.Time {
	sec, nsec := r.varint(), r.uvarint()
	if nsec >= uint64(time.Second) {
		r.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (r *reader) optTime() *time.Time {
	switch r.byte() {
	case 0:
		return nil
	case 1:
		t := r.time()
		return &t
	}
	r.fail()
	return nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
