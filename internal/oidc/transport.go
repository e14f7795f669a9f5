package oidc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"sync"
	"time"
)

const (
	// maxDocumentSize bounds a discovery document or JWKS, so a broken or hostile provider
	// cannot make us buffer an unbounded body. Real ones are a few KiB.
	maxDocumentSize = 1 << 20
	// refreshTimeout bounds one fetch even with a caller's client that has no timeout, so
	// that a hung provider cannot hold the shared fetch, and every request waiting on it,
	// forever.
	refreshTimeout = 2 * DefaultHTTPTimeout
	// maxDocuments bounds the URLs a transport remembers; an issuer has two (discovery and
	// JWKS), a third for a while when its discovery names a new jwks_uri.
	maxDocuments = 8
)

// boundedTransport is the http.RoundTripper under go-oidc's discovery and RemoteKeySet for
// one issuer. RemoteKeySet refetches the JWKS whenever no cached key verifies a token, with
// no floor, so made-up key IDs would make every sign-in a request to the provider. The
// transport puts the floor underneath go-oidc rather than beside it: it goes to the network
// for a URL at most once per minInterval, shares that fetch between concurrent callers, and
// answers every other GET of the URL in the interval with that fetch's outcome, its body or
// its error. So go-oidc keeps all the verifying and caching, and sees a provider that
// answers at most once per interval; a failure is replayed rather than masked by an older
// body, so that a token needing new keys gets "unavailable", never "bad signature".
type boundedTransport struct {
	client *http.Client // does the network fetches
	// check vets a fetched body and returns what to serve (it may filter it); nil serves
	// the body as fetched.
	check       func([]byte) ([]byte, error)
	now         func() time.Time
	minInterval time.Duration

	mu   sync.Mutex
	docs map[string]*document // by URL
}

// document is the last network fetch of one URL.
type document struct {
	attempt  time.Time     // start of the last fetch; zero before the first
	body     []byte        // of the last fetch, when it succeeded
	err      error         // of the last fetch (a *fetchError); nil when it succeeded
	inflight chan struct{} // closed when the fetch in progress ends; nil when none is
}

// fetchError is a provider document that could not be had: the network, the HTTP status, a
// body too large or not what check wants. go-oidc wraps its transport's errors with %w, so
// this type is how a caller tells "provider unavailable" from "bad token" in its errors.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

func newBoundedClient(o options, check func([]byte) ([]byte, error)) *http.Client {
	return &http.Client{Transport: &boundedTransport{
		client:      o.client,
		check:       check,
		now:         o.now,
		minInterval: o.minRefreshInterval,
		docs:        map[string]*document{},
	}}
}

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if req.Method != http.MethodGet {
		return nil, &fetchError{fmt.Errorf("method %s: only GET is sent to a provider", req.Method)}
	}
	url := req.URL.String()

	t.mu.Lock()
	d := t.docs[url]
	if d == nil {
		t.forgetIdle()
		d = &document{}
		t.docs[url] = d
	}
	if d.inflight == nil && (d.attempt.IsZero() || t.now().Sub(d.attempt) >= t.minInterval) {
		d.attempt = t.now()
		d.inflight = make(chan struct{})
		// The fetch outlives a caller that gives up: others may be waiting on it.
		go t.fetch(context.WithoutCancel(req.Context()), url, d, d.inflight)
	}
	done := d.inflight
	t.mu.Unlock()

	if done != nil {
		select {
		case <-done:
		case <-req.Context().Done():
			return nil, &fetchError{fmt.Errorf("waiting for the provider: %w", req.Context().Err())}
		}
	}
	t.mu.Lock()
	body, err := d.body, d.err
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// fetch GETs url from the network, records the outcome in d and closes done.
func (t *boundedTransport) fetch(ctx context.Context, url string, d *document, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	body, err := get(ctx, t.client, url)
	if err == nil && t.check != nil {
		body, err = t.check(body)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		d.err = &fetchError{err}
	} else {
		d.body, d.err = body, nil
	}
	d.inflight = nil
	close(done)
}

// forgetIdle drops the documents no fetch is running for once there are maxDocuments, so a
// provider naming a new jwks_uri at each discovery cannot grow the map; t.mu must be held.
func (t *boundedTransport) forgetIdle() {
	if len(t.docs) < maxDocuments {
		return
	}
	for u, d := range t.docs {
		if d.inflight == nil {
			delete(t.docs, u)
		}
	}
}

// get GETs url and answers its body, which must be a 200 of at most maxDocumentSize bytes.
// Errors do not repeat the URL: net/http's *url.Error around them names it.
func get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if uerr, ok := err.(*neturl.Error); ok {
			err = uerr.Err // go-oidc's request, around this one, names the URL already
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxDocumentSize {
		return nil, fmt.Errorf("body larger than %d bytes", maxDocumentSize)
	}
	return body, nil
}
