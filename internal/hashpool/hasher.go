package hashpool

import "context"

// Hash implements auth.Hasher: inner's Hash on a worker, or ErrBusy, or ctx's error.
func (p *Pool) Hash(ctx context.Context, secret string) (string, error) {
	if err := p.acquire(ctx); err != nil {
		return "", err
	}
	defer p.release()
	return p.inner.Hash(ctx, secret)
}

// Verify implements auth.Hasher: inner's Verify on a worker, or ErrBusy, or ctx's error.
func (p *Pool) Verify(ctx context.Context, secret, encoded string) (ok, needsRehash bool, err error) {
	if err := p.acquire(ctx); err != nil {
		return false, false, err
	}
	defer p.release()
	return p.inner.Verify(ctx, secret, encoded)
}

// VerifyDummyErr runs inner's VerifyDummy on a worker, and answers as Verify would have
// for a known id: nil after the work, ErrBusy when the pool is full, or ctx's error. A
// caller that returns this error where it would return Verify's gives unknown and known
// ids the same answer under load too (see the package doc).
func (p *Pool) VerifyDummyErr(ctx context.Context, secret string) error {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	p.inner.VerifyDummy(ctx, secret)
	return nil
}

// VerifyDummy implements auth.Hasher as VerifyDummyErr, dropping its error: when the pool
// is full it returns at once, without the work. Prefer VerifyDummyErr.
func (p *Pool) VerifyDummy(ctx context.Context, secret string) { _ = p.VerifyDummyErr(ctx, secret) }
