package memstore

import (
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/token"
)

// Sessions that expire without ever being looked up again must not stay in memory.
func TestExpiredSessionsAreSwept(t *testing.T) {
	c := clock.NewFake(time.Now())
	s := New(c)
	for _, name := range []string{"a", "b", "c"} { // sessions need their user to exist
		if err := s.CreateUser(t.Context(), &auth.User{Username: name, Role: auth.RoleMember, CreatedAt: c.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	create := func(i int) {
		t.Helper()
		sess := &auth.Session{
			UserID: int64(i%3 + 1), TokenDigest: token.Sum(string(rune(i))), Method: auth.MethodPassword,
			CreatedAt: c.Now(), ExpiresAt: c.Now().Add(time.Hour),
		}
		if err := s.CreateSession(t.Context(), sess); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		create(i)
	}
	c.Advance(2 * time.Hour)
	for i := range 300 {
		create(1000 + i)
	}
	for _, sess := range s.sessions {
		if sess.Expired(c.Now()) {
			t.Fatalf("expired session %d still stored after 300 more were made", sess.ID)
		}
	}
	if n, d := len(s.sessions), len(s.byDigest); d != n {
		t.Errorf("%d sessions but %d digests", n, d)
	}
}
