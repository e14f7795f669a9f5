package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HashPool is what the argon2id pool (internal/hashpool) tells about its queue.
type HashPool interface {
	Workers() int
	QueueSize() int
	InFlight() int
	Queued() int
	WaitTotal() time.Duration
	Rejected() uint64
}

// WatchHashPool exports the pool's state, read at each scrape.
func (m *Metrics) WatchHashPool(p HashPool) {
	if m == nil || p == nil {
		return
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "argon2", Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Subsystem: "argon2", Name: name, Help: help}, f)
	}
	m.reg.MustRegister(
		gauge("workers", "Most argon2id hashes run at once.", func() float64 { return float64(p.Workers()) }),
		gauge("queue_capacity", "Most callers that may wait for an argon2id worker.", func() float64 { return float64(p.QueueSize()) }),
		gauge("in_flight", "argon2id hashes running now.", func() float64 { return float64(p.InFlight()) }),
		gauge("queue_depth", "Callers waiting for an argon2id worker now.", func() float64 { return float64(p.Queued()) }),
		counter("queue_wait_seconds_total", "Time callers spent waiting for an argon2id worker, summed.", func() float64 { return p.WaitTotal().Seconds() }),
		counter("rejected_total", "Callers refused (503) because every worker was busy and the queue full.", func() float64 { return float64(p.Rejected()) }),
	)
}
