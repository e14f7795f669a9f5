package argon2id

import (
	"errors"
	"fmt"
)

// Params are the Argon2id cost parameters and output sizes.
type Params struct {
	Memory  uint32 // memory cost in KiB
	Time    uint32 // number of passes over the memory
	Threads uint8  // degree of parallelism (lanes)
	SaltLen uint32 // salt length in bytes
	KeyLen  uint32 // derived key (hash) length in bytes
}

// DefaultParams is OWASP's minimum recommendation for Argon2id (19 MiB, 2 passes, 1 lane),
// authgraph's default.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds shared by Validate and Decode. Decode accepts exactly what Validate allows, so
// every hash this package writes can be read back, and a hostile stored value can ask for
// at most maxMemory KiB and maxTime passes of work.
const (
	maxMemory  = 4 << 20 // KiB, i.e. 4 GiB
	maxTime    = 100
	minSaltLen = 8 // RFC 9106 and the reference implementation's minimum
	maxSaltLen = 64
	minKeyLen  = 16 // below 128 bits a tag is guessable offline
	maxKeyLen  = 64
)

// Validate reports whether p is a sane parameter set. It rejects values that would make
// argon2 panic (zero passes or lanes), that the algorithm would silently round up
// (memory below 8 KiB per lane), that are too weak to mean anything (short salts and keys),
// or so large that a single hash could exhaust the machine.
func (p Params) Validate() error {
	var errs []error
	if p.Threads < 1 {
		errs = append(errs, errors.New("threads must be at least 1"))
	}
	if p.Memory < 8*uint32(p.Threads) || p.Memory < 8 {
		errs = append(errs, errors.New("memory must be at least 8 KiB per thread"))
	}
	if p.Memory > maxMemory {
		errs = append(errs, fmt.Errorf("memory must be at most %d KiB", maxMemory))
	}
	if p.Time < 1 || p.Time > maxTime {
		errs = append(errs, fmt.Errorf("time must be between 1 and %d", maxTime))
	}
	if p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen {
		errs = append(errs, fmt.Errorf("salt length must be between %d and %d bytes", minSaltLen, maxSaltLen))
	}
	if p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen {
		errs = append(errs, fmt.Errorf("key length must be between %d and %d bytes", minKeyLen, maxKeyLen))
	}
	if len(errs) > 0 {
		return fmt.Errorf("argon2id: invalid params: %w", errors.Join(errs...))
	}
	return nil
}
