package memstore

import (
	"time"

	"github.com/authgraph/authgraph/internal/token"
)

// onceSet keeps single-use records under a digest until they expire: the authorization code
// flows and the app codes, which anonymous clients can start and nobody may finish. Expired
// entries are swept out whenever the set has doubled since the last sweep, so they cannot pile
// up. Its map is made on first use; callers hold s.mu.
type onceSet[T any] struct {
	m       map[token.Digest]onceEntry[T]
	sweepAt int
}

type onceEntry[T any] struct {
	v       T
	expires time.Time
}

// put stores v under d until expires; false when a live record holds d already.
func (o *onceSet[T]) put(d token.Digest, v T, expires, now time.Time) bool {
	if o.m == nil {
		o.m = map[token.Digest]onceEntry[T]{}
	}
	if len(o.m) >= o.sweepAt {
		for k, e := range o.m {
			if !now.Before(e.expires) {
				delete(o.m, k)
			}
		}
		o.sweepAt = 2*len(o.m) + 64
	}
	if e, ok := o.m[d]; ok && now.Before(e.expires) {
		return false
	}
	o.m[d] = onceEntry[T]{v, expires}
	return true
}

// take removes the record under d and answers it if it was still live.
func (o *onceSet[T]) take(d token.Digest, now time.Time) (T, bool) {
	e, ok := o.m[d]
	if !ok {
		var zero T
		return zero, false
	}
	delete(o.m, d)
	return e.v, now.Before(e.expires)
}
