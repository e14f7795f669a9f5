package memstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/token"
)

// Emailed tokens and codes that nobody uses must not stay in memory once expired.
func TestExpiredEmailTokensAreSwept(t *testing.T) {
	c := clock.NewFake(time.Now())
	s := New(c)
	create := func(i int) {
		t.Helper()
		d := token.Sum(strconv.Itoa(i))
		if err := s.CreateEmailToken(t.Context(), &auth.EmailToken{Digest: d, Purpose: auth.PurposeVerifyEmail, UserID: 1, ExpiresAt: c.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetEmailCode(t.Context(), int64(i), auth.PurposeSignInCode, d, c.Now().Add(time.Hour)); err != nil {
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
	for _, et := range s.email.tokens {
		if !c.Now().Before(et.ExpiresAt) {
			t.Fatalf("an expired token still stored after 300 more were made")
		}
	}
	for k, code := range s.email.codes {
		if c.Now().UnixNano() >= code.expiresAt {
			t.Fatalf("the expired code of user %d still stored after 300 more were made", k.userID)
		}
	}
}
