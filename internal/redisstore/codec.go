package redisstore

import (
	"encoding/binary"
	"encoding/json"
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
}

func encodeUser(u *auth.User) ([]byte, error) {
	return json.Marshal(userRecord{u.AccountID, u.Username, u.PasswordHash, u.Role, u.CreatedAt})
}

func decodeUser(id int64, b []byte) (*auth.User, error) {
	var r userRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: user: %w", errCorrupt, err)
	}
	return &auth.User{
		ID: id, AccountID: r.Account, Username: r.Username, PasswordHash: r.Hash, Role: r.Role,
		CreatedAt: r.Created.UTC(),
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
}

func encodeKey(k *auth.UserKey) ([]byte, error) {
	return json.Marshal(keyRecord{k.UserID, k.Name, k.SecretHash, k.CreatedAt, k.LastUsedAt, k.ExpiresAt})
}

func decodeKey(id int64, b []byte) (*auth.UserKey, error) {
	var r keyRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: key: %w", errCorrupt, err)
	}
	return &auth.UserKey{
		ID: id, UserID: r.UserID, Name: r.Name, SecretHash: r.Hash, CreatedAt: r.Created.UTC(),
		LastUsedAt: utcPtr(r.LastUsed), ExpiresAt: utcPtr(r.Expires),
	}, nil
}

// keyHead is how every encoding of a key owned by userID begins: encoding/json writes fields
// in declaration order, without spaces, and the comma keeps user 1 from matching user 12.
func keyHead(userID int64) string { return `{"u":` + itoa(userID) + "," }

// Sessions are binary, because their number grows with traffic (see doc.go):
//
//	version byte (1) · varint id · varint user id · method · varint user key id · name ·
//	created · expires · last used · client name · client version · user agent · ip
//
// A string is a uvarint length and its bytes; a time is a varint of Unix seconds and a
// uvarint of nanoseconds (always UTC); an optional time is a 0 byte, or a 1 byte and the time;
// a method is a byte (1 PASSWORD, 2 USER_KEY), or 0 and a string for any other value. The
// digest is not in the value: it is the key name.
//
// A session of a refresh token family (FamilyID ≠ 0) has the method byte's high bit set and a
// varint family id right after the user key id. Records without it read as before, and a
// record cut short before the family id is an error, not a session without one.

const sessionVersion = 1

// sessionHead is how the encoding of session id of userID begins; DeleteSession checks it.
func sessionHead(b []byte, id, userID int64) []byte {
	b = append(b, sessionVersion)
	b = binary.AppendVarint(b, id)
	return binary.AppendVarint(b, userID)
}

// familyFlag, set in the method byte, says that a family id follows the user key id.
const familyFlag = 0x80

// methods are the session methods with a one-byte code: the code is the index.
var methods = [...]auth.SessionMethod{1: auth.MethodPassword, 2: auth.MethodUserKey}

func methodCode(m auth.SessionMethod) byte {
	for code := 1; code < len(methods); code++ {
		if methods[code] == m {
			return byte(code)
		}
	}
	return 0
}

func encodeSession(s *auth.Session) []byte {
	b := make([]byte, 0, 64+len(s.Name)+len(s.ClientName)+len(s.ClientVersion)+len(s.UserAgent)+len(s.IP))
	b = sessionHead(b, s.ID, s.UserID)
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
	if s.LastUsedAt == nil {
		b = append(b, 0)
	} else {
		b = appendTime(append(b, 1), *s.LastUsedAt)
	}
	for _, str := range []string{s.ClientName, s.ClientVersion, s.UserAgent, s.IP} {
		b = appendString(b, str)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

// decodeSession reads a session; its TokenDigest is left for the caller, who knows it.
func decodeSession(b []byte) (*auth.Session, error) {
	r := reader{b: b}
	if r.byte() != sessionVersion {
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
	switch r.byte() {
	case 0:
	case 1:
		t := r.time()
		s.LastUsedAt = &t
	default:
		r.fail()
	}
	s.ClientName = r.string()
	s.ClientVersion = r.string()
	s.UserAgent = r.string()
	s.IP = r.string()
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

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
