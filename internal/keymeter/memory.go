package keymeter

import (
	"context"
	"time"

	"github.com/authgraph/authgraph/internal/clock"
)

// Memory is a Meter in process memory, for the embedded store.
type Memory struct {
	clock clock.Clock
	max   int
}

var _ Meter = (*Memory)(nil)

// NewMemory returns a meter on clock c (nil: the wall clock) keeping at most maxKeys keys.
func NewMemory(c clock.Clock, maxKeys int) *Memory {
	if c == nil {
		c = clock.Real{}
	}
	return &Memory{clock: c, max: maxKeys}
}

// Take implements Meter.
func (m *Memory) Take(ctx context.Context, id int64, l Limits) (Decision, error) {
	return Decision{}, errTODO
}

// Usage implements Meter.
func (m *Memory) Usage(ctx context.Context, id int64, l Limits, since time.Time) (Usage, error) {
	return Usage{}, errTODO
}

// ResetQuota implements Meter.
func (m *Memory) ResetQuota(ctx context.Context, id int64, l Limits) error { return errTODO }

// Forget implements Meter.
func (m *Memory) Forget(ctx context.Context, id int64) error { return errTODO }
