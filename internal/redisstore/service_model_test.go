package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/storetest"
)

// The model tests of the domain over Redis (see storetest.Model): each run gets a store
// under a prefix of its own on one server.

func modelStores(rdb redis.UniversalClient, srv *redistest.Server) func(*testing.T, clock.Clock) auth.Store {
	n := 0
	return func(_ *testing.T, c clock.Clock) auth.Store {
		n++
		return New(rdb, Options{Prefix: fmt.Sprintf("%sm%d:", srv.Prefix, n), Clock: c})
	}
}

func TestModel(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Model(t, modelStores(srv.Client, srv))
}

func TestModelConcurrent(t *testing.T) {
	srv := redistest.Start(t)
	storetest.ModelConcurrent(t, modelStores(srv.Client, srv))
}

func TestModelFaults(t *testing.T) {
	srv := redistest.Start(t)
	storetest.ModelFaults(t, modelStores(srv.Client, srv))
}

// TestModelRedisFaults injects the failures into single Redis commands (and pipelines), so
// that a store method making several round trips fails half-way; an "after" failure is a
// command Redis ran whose answer was lost, as with a timeout.
func TestModelRedisFaults(t *testing.T) {
	srv := redistest.Start(t)
	hook := &faultHook{}
	rdb := srv.NewClient(nil)
	rdb.AddHook(hook)
	storetest.ModelBackendFaults(t, modelStores(rdb, srv), hook)
}

// Ending a user's other sessions reads the kept session to spare its refresh family. If
// that read fails, the call must fail too, not end the kept session's family with the others:
// the user who asked to stay signed in would be signed out by an outage, under a success.
func TestDeleteSessionsOfFailsRatherThanEndTheKeptFamily(t *testing.T) {
	srv := redistest.Start(t)
	hook := &faultHook{only: "get"}
	rdb := srv.NewClient(nil)
	rdb.AddHook(hook)
	f := newFixture(t, rdb, srv)
	ctx := t.Context()
	u := f.user(t, "alice")
	_, kept := f.family(t, u.ID, newToken(t), time.Hour)
	other := f.session(t, u.ID, newToken(t), time.Hour)

	hook.Arm(0, false)
	_, err := f.DeleteSessionsOf(ctx, u.ID, kept.ID)
	if !hook.Disarm() {
		t.Fatal("DeleteSessionsOf made no GET: the test no longer fails the read it is about")
	}
	if _, serr := f.SessionByDigest(ctx, kept.TokenDigest); serr != nil {
		t.Fatalf("the kept session is gone (%v) after DeleteSessionsOf answered %v", serr, err)
	}
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("DeleteSessionsOf with its read failing answered %v, want ErrUnavailable", err)
	}
	// The retry does the work and still spares the kept session.
	if _, err := f.DeleteSessionsOf(ctx, u.ID, kept.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SessionByDigest(ctx, kept.TokenDigest); err != nil {
		t.Errorf("kept session after the retry: %v", err)
	}
	if _, err := f.SessionByDigest(ctx, other.TokenDigest); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("other session after the retry: %v, want ErrNotFound", err)
	}
}

// A family revocation whose script ran but whose answer was lost (a timeout) has deleted the
// family, and with it the list of its access sessions. The retry must still end them, not
// answer "no such family" and leave them signed in.
func TestRevokeFamilyRetryEndsWhatAFailedOneLeft(t *testing.T) {
	srv := redistest.Start(t)
	hook := &faultHook{}
	rdb := srv.NewClient(nil)
	rdb.AddHook(hook)
	f := newFixture(t, rdb, srv)
	ctx := t.Context()
	u := f.user(t, "alice")
	warm, _ := f.family(t, u.ID, newToken(t), time.Hour)
	if err := f.RevokeFamily(ctx, u.ID, warm.ID); err != nil { // loads the script
		t.Fatal(err)
	}
	fam, access := f.family(t, u.ID, newToken(t), time.Hour)

	hook.Arm(0, true)
	err := f.RevokeFamily(ctx, u.ID, fam.ID)
	if !hook.Disarm() || !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("RevokeFamily with its answer lost: %v, want ErrUnavailable", err)
	}
	if err := f.RevokeFamily(ctx, u.ID, fam.ID); err != nil && !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("retry: %v", err)
	}
	if _, err := f.SessionByDigest(ctx, access.TokenDigest); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("the family's access session after the retry: %v, want ErrNotFound", err)
	}
}

// faultHook fails one chosen command of a client (see storetest.Injector). With only set,
// it counts (and fails) only the single commands of that name.
type faultHook struct {
	only                string
	mu                  sync.Mutex
	armed, after, fired bool
	at, calls           int
}

var errModelFault = errors.New("injected failure: i/o timeout")

func (h *faultHook) Arm(at int, after bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed, h.at, h.after, h.calls, h.fired = true, at, after, 0, false
}

func (h *faultHook) Disarm() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed = false
	return h.fired
}

// take counts a call named name ("" for a pipeline) and reports whether the fault hits
// it, and whether after it ran.
func (h *faultHook) take(name string) (hit, after bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.armed || h.fired || (h.only != "" && name != h.only) {
		return false, false
	}
	hit = h.calls == h.at
	h.calls++
	h.fired = hit
	return hit, h.after
}

func (h *faultHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *faultHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		hit, after := h.take(cmd.Name())
		if !hit {
			return next(ctx, cmd)
		}
		if after {
			_ = next(ctx, cmd)
		}
		cmd.SetErr(errModelFault)
		return errModelFault
	}
}

func (h *faultHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		hit, after := h.take("")
		if !hit {
			return next(ctx, cmds)
		}
		if after {
			_ = next(ctx, cmds)
		}
		for _, cmd := range cmds {
			cmd.SetErr(errModelFault)
		}
		return errModelFault
	}
}

func TestServiceKeyModel(t *testing.T) {
	srv := redistest.Start(t)
	storetest.ServiceKeyModel(t, modelStores(srv.Client, srv))
}
