package redisstore

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

// BenchmarkEmailMemory reports what an email adds to a user in Redis (the address in the
// user's record and its claim in the account's index), and what an outstanding emailed
// token costs, under the default prefix. Run it with enough users for the fixed costs to
// vanish: go test -run X -bench EmailMemory -benchtime 100000x ./internal/redisstore/
func BenchmarkEmailMemory(b *testing.B) {
	srv := redistest.Start(b)
	if srv.External {
		b.Skip("measuring memory needs a private redis-server")
	}
	s := New(srv.Client, Options{})
	benchUsers(b, s, b.N)
	parallel := func(f func(i int) error) {
		const workers = 32
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < b.N; i += workers {
					if err := f(i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	b.ResetTimer()
	before := usedMemory(b, srv)
	parallel(func(i int) error {
		// A typical address: a first and last name at a company's domain.
		_, err := s.SetEmail(b.Context(), int64(i+1), "firstname.lastname"+strconv.Itoa(i)+"@example-company.com", true)
		return err
	})
	withEmail := usedMemory(b, srv)
	parallel(func(i int) error {
		tok, err := token.New(token.Emailed)
		if err != nil {
			return err
		}
		return s.CreateEmailToken(b.Context(), &auth.EmailToken{
			Digest: token.Sum(tok), Purpose: auth.PurposeVerifyEmail, UserID: int64(i + 1),
			Extra: "firstname.lastname" + strconv.Itoa(i) + "@example-company.com", ExpiresAt: time.Now().Add(24 * time.Hour),
		})
	})
	b.ReportMetric(float64(withEmail-before)/float64(b.N), "redis-B/email")
	b.ReportMetric(float64(usedMemory(b, srv)-withEmail)/float64(b.N), "redis-B/token")
}
