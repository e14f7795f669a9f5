package redisstore

import (
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

// A browser's user agent, the longest string a session usually carries.
const benchUserAgent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

func benchSession(userID int64, d token.Digest) *auth.Session {
	now := time.Now()
	return &auth.Session{
		UserID: userID, TokenDigest: d, Method: auth.MethodPassword,
		CreatedAt: now, ExpiresAt: now.Add(720 * time.Hour),
		ClientName: "web", ClientVersion: "1.4.2", UserAgent: benchUserAgent, IP: "203.0.113.54",
	}
}

// benchUsers makes users 1…n, whom sessions need.
func benchUsers(b *testing.B, s *Store, n int) {
	b.Helper()
	for i := range n {
		u := &auth.User{Username: "u" + strconv.Itoa(i), PasswordHash: "h", Role: auth.RoleMember, CreatedAt: time.Now()}
		if err := s.CreateUser(b.Context(), u); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSessionByDigest(b *testing.B) {
	srv := redistest.Start(b)
	s := New(srv.Client, Options{Prefix: srv.Prefix})
	benchUsers(b, s, 100)
	digests := make([]token.Digest, 1000)
	for i := range digests {
		digests[i] = token.Sum(newToken(b))
		if err := s.CreateSession(b.Context(), benchSession(int64(i%100+1), digests[i])); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := s.SessionByDigest(b.Context(), digests[i%len(digests)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.SessionByDigest(b.Context(), digests[i%len(digests)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkSessionMemory reports the Redis memory that a session costs, indexes included, with
// ten sessions per user, under the default prefix. Run it with enough sessions for the fixed
// costs to vanish: go test -run X -bench SessionMemory -benchtime 100000x
func BenchmarkSessionMemory(b *testing.B) {
	for _, ua := range []struct{ name, userAgent string }{
		{"browser", benchUserAgent},
		{"cli", "authgraph-cli/1.0"},
	} {
		b.Run(ua.name, func(b *testing.B) {
			srv := redistest.Start(b)
			if srv.External {
				b.Skip("measuring memory needs a private redis-server")
			}
			s := New(srv.Client, Options{})
			benchUsers(b, s, b.N/10+1)
			before := usedMemory(b, srv)
			b.ResetTimer()
			const workers = 32
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := w; i < b.N; i += workers {
						tok, err := token.New(token.Session)
						if err == nil {
							sess := benchSession(int64(i/10+1), token.Sum(tok))
							sess.UserAgent = ua.userAgent
							err = s.CreateSession(b.Context(), sess)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(usedMemory(b, srv)-before)/float64(b.N), "redis-B/session")
		})
	}
}

var usedMemoryRE = regexp.MustCompile(`(?m)^used_memory:(\d+)`)

func usedMemory(b *testing.B, srv *redistest.Server) int64 {
	b.Helper()
	info, err := srv.Client.Info(b.Context(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	m := usedMemoryRE.FindStringSubmatch(info)
	if m == nil {
		b.Fatal("no used_memory in INFO")
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}
