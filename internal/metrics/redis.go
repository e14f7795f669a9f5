package metrics

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// WatchRedis counts the client's failed commands and exports its connection pool's
// statistics, read at each scrape.
func (m *Metrics) WatchRedis(rdb redis.UniversalClient) {
	if m == nil || rdb == nil {
		return
	}
	rdb.AddHook(errorHook{m.redisErrors})
	m.reg.MustRegister(&poolCollector{rdb: rdb})
}

type errorHook struct{ errs *prometheus.CounterVec }

func (h errorHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			h.errs.WithLabelValues("dial").Inc()
		}
		return c, err
	}
}

func (h errorHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if failed(err) {
			h.errs.WithLabelValues(commandLabel(cmd)).Inc()
		}
		return err
	}
}

func (h errorHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if failed(cmd.Err()) {
				h.errs.WithLabelValues(commandLabel(cmd)).Inc()
			}
		}
		return err
	}
}

// failed reports whether err is a failure: redis.Nil (a missing key) is an answer.
func failed(err error) bool { return err != nil && !errors.Is(err, redis.Nil) }

// commandLabel is the command's name: authgraph's code picks it, never a client. Anything
// unexpected (an empty or odd name) is "other".
func commandLabel(cmd redis.Cmder) string {
	name := strings.ToLower(cmd.Name())
	if name == "" || len(name) > 32 || strings.ContainsFunc(name, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' && r != '.' }) {
		return "other"
	}
	return name
}

// poolCollector reads go-redis's pool statistics at each scrape.
type poolCollector struct{ rdb redis.UniversalClient }

var (
	poolHits     = prometheus.NewDesc(namespace+"_redis_pool_hits_total", "Times a free connection was found in the pool.", nil, nil)
	poolMisses   = prometheus.NewDesc(namespace+"_redis_pool_misses_total", "Times no free connection was found in the pool.", nil, nil)
	poolTimeouts = prometheus.NewDesc(namespace+"_redis_pool_timeouts_total", "Times waiting for a pool connection timed out.", nil, nil)
	poolConns    = prometheus.NewDesc(namespace+"_redis_pool_connections", "Connections in the pool, by state (total, idle).", []string{"state"}, nil)
	poolStale    = prometheus.NewDesc(namespace+"_redis_pool_stale_connections_total", "Stale connections removed from the pool.", nil, nil)
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolHits, poolMisses, poolTimeouts, poolConns, poolStale} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.rdb.PoolStats()
	if s == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(poolHits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(poolMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(poolTimeouts, prometheus.CounterValue, float64(s.Timeouts))
	ch <- prometheus.MustNewConstMetric(poolStale, prometheus.CounterValue, float64(s.StaleConns))
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(s.TotalConns), "total")
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(s.IdleConns), "idle")
}
