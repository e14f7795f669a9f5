package keymeter

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
)

// benchLimits has every meter on (a rate too high to refuse, a quota too big to spend), so
// that a Take does all of its work: the request path's worst case.
var benchLimits = Limits{Rate: 1 << 20, Period: time.Second, Quota: 1 << 50, QuotaPeriod: 24 * time.Hour}

// cpuMeter reports the CPU that this process and redis-server spent per operation, beside
// ns/op: on a shared 2-core machine the wall time per round trip is mostly waiting, and the
// CPU is what a Take adds to a request's cost.
type cpuMeter struct {
	rdb          redis.UniversalClient
	self, server time.Duration
}

func (c *cpuMeter) start(b *testing.B) {
	c.self, c.server = selfCPU(b), serverCPU(b, c.rdb)
}

func (c *cpuMeter) stop(b *testing.B) {
	self, server := selfCPU(b)-c.self, serverCPU(b, c.rdb)-c.server
	b.ReportMetric(float64(self.Microseconds())/float64(b.N), "client-µs-cpu/op")
	b.ReportMetric(float64(server.Microseconds())/float64(b.N), "redis-µs-cpu/op")
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU answers redis-server's used_cpu_sys + used_cpu_user (INFO cpu), summed over the
// masters of a cluster.
func serverCPU(b *testing.B, rdb redis.UniversalClient) time.Duration {
	var total time.Duration
	read := func(ctx context.Context, c redis.Cmdable) error {
		info, err := c.Info(ctx, "cpu").Result()
		if err != nil {
			return err
		}
		for line := range strings.SplitSeq(info, "\r\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "used_cpu_sys" || k == "used_cpu_user" {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return err
				}
				total += time.Duration(f * float64(time.Second))
			}
		}
		return nil
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err = cc.ForEachMaster(b.Context(), func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return read(ctx, c)
		})
	} else {
		err = read(b.Context(), rdb)
	}
	if err != nil {
		b.Fatal(err)
	}
	return total
}

// BenchmarkRedisTake is one Take with the rate limit and quota on, over 1024 keys: serial
// (the latency of the one round trip) and from parallel goroutines (throughput). The GET
// rows are the floor: one plain round trip of the same client.
func BenchmarkRedisTake(b *testing.B) {
	s := redistest.Start(b)
	m := NewRedis(s.Client, s.Prefix, clock.Real{})
	ctx := context.Background()
	missing := s.Prefix + "{sk0}:none"
	b.Run("serial", func(b *testing.B) {
		c := cpuMeter{rdb: s.Client}
		c.start(b)
		b.ReportAllocs()
		i := int64(0)
		for b.Loop() {
			if _, err := m.Take(ctx, i%1024, benchLimits); err != nil {
				b.Fatal(err)
			}
			i++
		}
		c.stop(b)
	})
	b.Run("parallel", func(b *testing.B) {
		c := cpuMeter{rdb: s.Client}
		c.start(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int64(0)
			for pb.Next() {
				if _, err := m.Take(ctx, i%1024, benchLimits); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		c.stop(b)
	})
	b.Run("GET-serial", func(b *testing.B) {
		c := cpuMeter{rdb: s.Client}
		c.start(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Client.Get(ctx, missing).Err(); err != redis.Nil {
				b.Fatal(err)
			}
		}
		c.stop(b)
	})
	b.Run("GET-parallel", func(b *testing.B) {
		c := cpuMeter{rdb: s.Client}
		c.start(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Client.Get(ctx, missing).Err(); err != redis.Nil {
					b.Error(err)
					return
				}
			}
		})
		c.stop(b)
	})
}

// BenchmarkLeasedTake is Take on Leased from parallel goroutines: on one busy key (leases
// of up to 64 requests), and over 1024 keys taking turns (each key's lease grows more
// slowly). trips/op is the round trips to Redis per Take.
func BenchmarkLeasedTake(b *testing.B) {
	s := redistest.Start(b)
	var trips atomic.Int64
	c := s.NewClient(nil)
	c.AddHook(countTrips{&trips})
	for _, keys := range []int64{1, 1024} {
		b.Run(strconv.FormatInt(keys, 10)+"keys", func(b *testing.B) {
			m := NewLeased(NewRedis(c, s.Prefix+strconv.FormatInt(keys, 10)+":", clock.Real{}), LeaseOptions{})
			defer m.Close(context.Background())
			ctx := context.Background()
			cpu := cpuMeter{rdb: s.Client}
			trips.Store(0)
			cpu.start(b)
			b.ReportAllocs()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Take(ctx, next.Add(1)%keys, benchLimits); err != nil {
						b.Error(err)
						return
					}
				}
			})
			cpu.stop(b)
			b.ReportMetric(float64(trips.Load())/float64(b.N), "trips/op")
		})
	}
}

func BenchmarkMemoryTake(b *testing.B) {
	m := NewMemory(clock.Real{}, 0)
	ctx := context.Background()
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		if _, err := m.Take(ctx, i%1024, benchLimits); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

const (
	bytesKeys  = 100
	bytesHours = RetentionHours
)

// BenchmarkRedisBytes fills bytesKeys keys with every hour of 30 days of traffic (allowed
// and refused) through the meter and reports Redis's MEMORY USAGE of them: B/key is the
// state hash (GCRA, quota, lastUsed), B/key-hour the usage hashes per hour of traffic. The
// fill runs once; b.N does not change the figures.
func BenchmarkRedisBytes(b *testing.B) {
	s := redistest.Start(b)
	clk := clock.NewFake(start)
	m := NewRedis(s.Client, s.Prefix, clk)
	ctx := context.Background()
	l := Limits{Rate: 1, Period: time.Hour, Quota: 1 << 40, QuotaPeriod: 24 * time.Hour}
	for range bytesHours {
		for id := range int64(bytesKeys) {
			take(b, m, id, l) // allowed
			take(b, m, id, l) // refused by the rate limit
		}
		clk.Advance(time.Hour)
	}
	var state, hours int64
	for id := range int64(bytesKeys) {
		for i, k := range m.Keys(id) {
			n, err := s.Client.MemoryUsage(ctx, k, 0).Result()
			if err == redis.Nil {
				continue
			} else if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				state += n
			} else {
				hours += n
			}
		}
	}
	for b.Loop() {
	}
	b.ReportMetric(float64(state)/bytesKeys, "B/key")
	b.ReportMetric(float64(hours)/(bytesKeys*bytesHours), "B/key-hour")
	b.ReportMetric(float64(state+hours)/bytesKeys, "B/key-30days")
}

// BenchmarkUsageLayouts compares ways of keeping a key's hourly counts, filled by one script
// with bytesKeys keys × hours hours of one counter each, by MEMORY USAGE per key-hour: one
// hash per key (field: hour; beyond 128 fields Redis leaves the compact listpack for a hash
// table), one string per hour with a TTL, and the meter's ring of one hash per day.
func BenchmarkUsageLayouts(b *testing.B) {
	s := redistest.Start(b)
	fill := redis.NewScript(`
local layout, n, hours = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local base = 493000
for k = 1, n do
  local tag = KEYS[1] .. '{sk' .. k .. '}'
  for i = 0, hours - 1 do
    local h = base + i
    if layout == 'hash-per-key' then
      redis.call('HINCRBY', tag .. ':u', h, 17)
    elseif layout == 'key-per-hour' then
      redis.call('SET', tag .. ':u:' .. h, 17, 'EX', 2678400)
    else
      local d = math.floor(h / 24)
      local key = tag .. ':u' .. (d % 31)
      redis.call('HSET', key, 'd', d, 'a' .. (h % 24), 17)
      redis.call('EXPIRE', key, 2764800)
    end
  end
end
return 1`)
	for _, layout := range []string{"hash-per-key", "key-per-hour", "day-ring"} {
		for _, hours := range []int{24, RetentionHours} {
			b.Run(layout+"/"+strconv.Itoa(hours)+"h", func(b *testing.B) {
				ctx := context.Background()
				prefix := s.Prefix + layout + strconv.Itoa(hours) + ":"
				if s.Cluster {
					// The script's keys are built inside it, which a Cluster refuses; the
					// layouts' sizes do not depend on where they live.
					b.Skip("layout fill runs on a single server")
				}
				if err := fill.Run(ctx, s.Client, []string{prefix}, layout, bytesKeys, hours).Err(); err != nil {
					b.Fatal(err)
				}
				keys, err := redistest.Keys(ctx, s.Client, prefix+"*")
				if err != nil {
					b.Fatal(err)
				}
				var total int64
				for _, k := range keys {
					n, err := s.Client.MemoryUsage(ctx, k, 0).Result()
					if err != nil {
						b.Fatal(err)
					}
					total += n
				}
				for b.Loop() {
				}
				b.ReportMetric(float64(total)/float64(bytesKeys*hours), "B/key-hour")
			})
		}
	}
}
