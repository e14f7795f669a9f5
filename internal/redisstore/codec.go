package redisstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
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
	// PasswordVersion: absent (0) until the password first changes.
	PasswordVersion int64 `json:"pv,omitempty"`
	// PasswordChangedBy: the session that made the last change, absent (0) until then.
	PasswordChangedBy int64 `json:"pb,omitempty"`
	// Email and EmailVerified: absent without an email (emailtokens.go).
	Email         string `json:"e,omitempty"`
	EmailVerified bool   `json:"ev,omitempty"`
}

func encodeUser(u *auth.User) ([]byte, error) {
	return json.Marshal(userRecord{u.AccountID, u.Username, u.PasswordHash, u.Role, u.CreatedAt, u.Disabled, u.PasswordVersion, u.PasswordChangedBy, u.Email, u.EmailVerified})
}

// tombstone starts the record of a user that DeleteUser is removing: the record is kept,
// behind this byte, until everything of the user is gone (see doc.go). JSON never starts
// with it.
const tombstone = '!'

// errTombstone is what decodeUser answers for a user being deleted, and decodeKey for a key
// being deleted (revoked); callers treat it as not found.
var errTombstone = errors.New("record is being deleted")

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
		CreatedAt: r.Created.UTC(), Disabled: r.Disabled, PasswordVersion: r.PasswordVersion, PasswordChangedBy: r.PasswordChangedBy,
		Email: r.Email, EmailVerified: r.EmailVerified,
	}, nil
}

type accountRecord struct {
	Slug    string    `json:"s"`
	Name    string    `json:"n"`
	Created time.Time `json:"c"`
	SignUp  string    `json:"p,omitempty"` // the account's own sign-up policy; absent: the deployment's
}

func encodeAccount(a *auth.Account) ([]byte, error) {
	return json.Marshal(accountRecord{a.Slug, a.Name, a.CreatedAt, string(a.SignUp)})
}

func decodeAccount(id int64, b []byte) (*auth.Account, error) {
	var r accountRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: account: %w", errCorrupt, err)
	}
	return &auth.Account{ID: id, Slug: r.Slug, Name: r.Name, CreatedAt: r.Created.UTC(), SignUp: auth.SignUpPolicy(r.SignUp)}, nil
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
	// Revoked marks a key that DeleteKey is removing (see doc.go). Only the revokeKey script
	// writes it, appended to the record; encodeKey never does.
	Revoked bool `json:"x,omitempty"`
}

// revokedMark is what the revokeKey script appends to a key record, before its closing
// brace, to revoke it: keyRecord's Revoked field. The record keeps its owner first, so
// keyHead still matches it.
const revokedMark = `,"x":true`

func encodeKey(k *auth.UserKey) ([]byte, error) {
	return json.Marshal(keyRecord{
		k.UserID, k.Name, k.SecretHash, k.CreatedAt, k.LastUsedAt, k.ExpiresAt,
		k.Scopes, k.SecretHint, k.PreviousSecretHash, k.PreviousSecretHint, k.PreviousSecretExpiresAt, false,
	})
}

// decodeKey reads a key record; a revoked one (DeleteKey under way) is errTombstone, which
// every caller but DeleteKey treats as not found.
func decodeKey(id int64, b []byte) (*auth.UserKey, error) {
	k, revoked, err := decodeKeyRecord(id, b)
	if err == nil && revoked {
		return nil, errTombstone
	}
	return k, err
}

// decodeKeyRecord reads a key record, revoked or not.
func decodeKeyRecord(id int64, b []byte) (k *auth.UserKey, revoked bool, err error) {
	var r keyRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, false, fmt.Errorf("%w: key: %w", errCorrupt, err)
	}
	return &auth.UserKey{
		ID: id, UserID: r.UserID, Name: r.Name, SecretHash: r.Hash, CreatedAt: r.Created.UTC(),
		LastUsedAt: utcPtr(r.LastUsed), ExpiresAt: utcPtr(r.Expires),
		Scopes: r.Scopes, SecretHint: r.Hint,
		PreviousSecretHash: r.PrevHash, PreviousSecretHint: r.PrevHint, PreviousSecretExpiresAt: utcPtr(r.PrevExpires),
	}, r.Revoked, nil
}

// keyHead is how every encoding of a key owned by userID begins: encoding/json writes fields
// in declaration order, without spaces, and the comma keeps user 1 from matching user 12.
func keyHead(userID int64) string { return `{"u":` + itoa(userID) + "," }

// Sessions are binary, because their number grows with traffic (see doc.go). Version 3:
//
//	version byte (3) · varint id · varint user id · flags · method · varint user key id ·
//	[varint family id] · name · created · expires − created · [last used − created] ·
//	client name · client version · user agent · ip · [authenticated at − created] ·
//	[uvarint count and that many scope strings]
//
// flags: bit 0, a last-used time follows; bit 1, the user agent is dictionary-coded
// (useragent.go); bit 2, the ip is binary (4 or 16 bytes, netip's form), which is how an
// address in canonical text form is kept; bit 3, an authenticated-at time follows; bit 4,
// scopes follow (absent: nil, the user's full rights; present with a count of 0: none). A
// string is a uvarint length and its bytes. A time is a varint of Unix seconds and the
// nanoseconds in "scaled" form; the later times are differences from created in the same
// form (whole seconds, then nanoseconds, 0 to 1e9−1), so that a 30-day expiry costs 5 bytes,
// not 10. Scaled nanoseconds are a uvarint of n/1e6<<2 when n is whole milliseconds (one byte
// for a whole second), n/1e3<<2|1 for whole microseconds, n<<2|2 otherwise. A method is a
// byte (1 PASSWORD, 2 USER_KEY, 3 EXTERNAL), or 0 and a string for any other value. Times
// come back in UTC, to the nanosecond. The digest is not in the value: it is the key name.
//
// A session of a refresh token family (FamilyID ≠ 0) has the method byte's high bit set and a
// varint family id right after the user key id, in every version. A record cut short before
// the family id is an error, not a session without one.
//
// Versions 1 and 2 still read, so that records written before stay valid until they expire:
// every time as a varint of seconds and a uvarint of nanoseconds, an optional time as a 0 or
// 1 byte and the time, no flags, plain user agent and ip; version 1 ends after the ip (nil
// scopes, zero authenticated-at), version 2 adds the optional authenticated-at and the scopes
// (a 0 byte, or a 1 byte, a uvarint count and that many strings). Every field is required in
// its version, so that a truncated record is an error, never a shorter session: a session
// that lost its scopes would hold the user's full rights.

const (
	sessionVersion   = 3
	sessionVersionV2 = 2
	sessionVersionV1 = 1

	flagLastUsed = 1 << 0
	flagUACoded  = 1 << 1
	flagIPBinary = 1 << 2
	flagAuthAt   = 1 << 3
	flagScopes   = 1 << 4
	knownFlags   = flagLastUsed | flagUACoded | flagIPBinary | flagAuthAt | flagScopes
)

// SessionRecordVersion is the version of the session records this package writes. The
// embeddable verifier (package verify) reads them with this package's decoder and declares
// the version it was built for; a test there fails when the two differ, so that a change of
// the encoding cannot ship without the verifier's version (and its documentation) following.
const SessionRecordVersion = sessionVersion

// sessionOwner is the part of a session's encoding, after the version byte, that names the
// session and its user; DeleteSession and TouchSession check it (from the second byte). It
// is the same in every version.
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
	b := make([]byte, 0, 48+len(s.Name)+len(s.ClientName)+len(s.ClientVersion)+len(s.UserAgent)+len(s.IP))
	b = append(b, sessionVersion)
	b = binary.AppendVarint(binary.AppendVarint(b, s.ID), s.UserID)
	flagsAt := len(b)
	b = append(b, 0)
	var flags, family byte
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
	b = appendDelta(b, s.CreatedAt, s.ExpiresAt)
	if s.LastUsedAt != nil {
		flags |= flagLastUsed
		b = appendDelta(b, s.CreatedAt, *s.LastUsedAt)
	}
	b = appendString(b, s.ClientName)
	b = appendString(b, s.ClientVersion)
	var buf [256]byte
	if packed, ok := packUserAgent(buf[:0], s.UserAgent); ok {
		flags |= flagUACoded
		b = append(binary.AppendUvarint(b, uint64(len(packed))), packed...)
	} else {
		b = appendString(b, s.UserAgent)
	}
	if ip, err := netip.ParseAddr(s.IP); err == nil && ip.Zone() == "" && ip.String() == s.IP {
		flags |= flagIPBinary
		raw := ip.AsSlice()
		b = append(binary.AppendUvarint(b, uint64(len(raw))), raw...)
	} else {
		b = appendString(b, s.IP)
	}
	if !s.AuthenticatedAt.IsZero() {
		flags |= flagAuthAt
		b = appendDelta(b, s.CreatedAt, s.AuthenticatedAt)
	}
	if s.Scopes != nil {
		flags |= flagScopes
		b = binary.AppendUvarint(b, uint64(len(s.Scopes)))
		for _, sc := range s.Scopes {
			b = appendString(b, string(sc))
		}
	}
	b[flagsAt] = flags
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	return appendScaledNanos(binary.AppendVarint(b, t.Unix()), t.Nanosecond())
}

// appendDelta appends t − from as whole seconds and nanoseconds (0 to 1e9−1). It does not use
// time.Duration, which overflows past 292 years.
func appendDelta(b []byte, from, t time.Time) []byte {
	sec, nsec := t.Unix()-from.Unix(), t.Nanosecond()-from.Nanosecond()
	if nsec < 0 {
		sec, nsec = sec-1, nsec+int(time.Second)
	}
	return appendScaledNanos(binary.AppendVarint(b, sec), nsec)
}

func appendScaledNanos(b []byte, n int) []byte {
	switch {
	case n%int(time.Millisecond) == 0:
		return binary.AppendUvarint(b, uint64(n/int(time.Millisecond))<<2)
	case n%int(time.Microsecond) == 0:
		return binary.AppendUvarint(b, uint64(n/int(time.Microsecond))<<2|1)
	}
	return binary.AppendUvarint(b, uint64(n)<<2|2)
}

// decodeSession reads a session; its TokenDigest is left for the caller, who knows it.
func decodeSession(b []byte) (*auth.Session, error) {
	r := reader{b: b}
	version := r.byte()
	if version != sessionVersion && version != sessionVersionV2 && version != sessionVersionV1 {
		return nil, fmt.Errorf("%w: session: unknown version", errCorrupt)
	}
	s := &auth.Session{ID: r.varint(), UserID: r.varint()}
	var flags byte
	if version == sessionVersion {
		if flags = r.byte(); flags&^knownFlags != 0 {
			r.fail()
		}
	}
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
	if version != sessionVersion {
		decodeSessionOld(&r, s, version)
	} else {
		s.CreatedAt = r.time()
		s.ExpiresAt = r.delta(s.CreatedAt)
		if flags&flagLastUsed != 0 {
			t := r.delta(s.CreatedAt)
			s.LastUsedAt = &t
		}
		s.ClientName = r.string()
		s.ClientVersion = r.string()
		if flags&flagUACoded != 0 {
			ua, err := unpackUserAgent(r.bytes())
			if err != nil {
				r.fail()
			}
			s.UserAgent = ua
		} else {
			s.UserAgent = r.string()
		}
		if flags&flagIPBinary != 0 {
			ip, ok := netip.AddrFromSlice(r.bytes())
			if !ok {
				r.fail()
			}
			s.IP = ip.String()
		} else {
			s.IP = r.string()
		}
		if flags&flagAuthAt != 0 {
			s.AuthenticatedAt = r.delta(s.CreatedAt)
		}
		if flags&flagScopes != 0 {
			s.Scopes = r.scopes()
		}
	}
	if r.bad || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: session", errCorrupt)
	}
	return s, nil
}

// decodeSessionOld reads the rest of a version 1 or 2 record, after the name.
func decodeSessionOld(r *reader, s *auth.Session, version byte) {
	s.CreatedAt = r.timeOld()
	s.ExpiresAt = r.timeOld()
	s.LastUsedAt = r.optTimeOld()
	s.ClientName = r.string()
	s.ClientVersion = r.string()
	s.UserAgent = r.string()
	s.IP = r.string()
	if version >= sessionVersionV2 {
		if t := r.optTimeOld(); t != nil {
			s.AuthenticatedAt = *t
		}
		switch r.byte() {
		case 0:
		case 1:
			s.Scopes = r.scopes()
		default:
			r.fail()
		}
	}
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

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) string() string { return string(r.bytes()) }

// scopes reads a uvarint count and that many strings: never nil, even when empty.
func (r *reader) scopes() []auth.Scope {
	n := r.uvarint()
	if n > uint64(len(r.b)) { // each scope takes at least its length byte
		r.fail()
		return nil
	}
	scopes := make([]auth.Scope, 0, n)
	for range n {
		scopes = append(scopes, auth.Scope(r.string()))
	}
	return scopes
}

// scaledNanos reads nanoseconds in the scaled form of appendScaledNanos.
func (r *reader) scaledNanos() int64 {
	v := r.uvarint()
	n := v >> 2
	switch v & 3 {
	case 0:
		n *= uint64(time.Millisecond)
	case 1:
		n *= uint64(time.Microsecond)
	case 3:
		r.fail()
		return 0
	}
	if n >= uint64(time.Second) {
		r.fail()
		return 0
	}
	return int64(n)
}

func (r *reader) time() time.Time {
	sec, nsec := r.varint(), r.scaledNanos()
	return time.Unix(sec, nsec).UTC()
}

// delta reads a time written by appendDelta, relative to from.
func (r *reader) delta(from time.Time) time.Time {
	sec, nsec := r.varint(), r.scaledNanos()
	return time.Unix(from.Unix()+sec, int64(from.Nanosecond())+nsec).UTC()
}

// timeOld reads a version 1 or 2 time: Unix seconds and plain nanoseconds.
func (r *reader) timeOld() time.Time {
	sec, nsec := r.varint(), r.uvarint()
	if nsec >= uint64(time.Second) {
		r.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// optTimeOld reads a version 1 or 2 optional time: a 0 byte, or a 1 byte and the time.
func (r *reader) optTimeOld() *time.Time {
	switch r.byte() {
	case 0:
		return nil
	case 1:
		t := r.timeOld()
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
