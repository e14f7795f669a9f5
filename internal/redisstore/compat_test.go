package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

// A session written in version 2, by a build before the compact encoding, is still found,
// listed and ended, and DeleteSession still refuses it to anyone but its owner.
func TestVersion2SessionsStayUsable(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	ctx := t.Context()
	u := f.user(t, "alice")
	d := token.Sum(newToken(t))
	now := time.Now().UTC()
	old := &auth.Session{
		ID: 77, UserID: u.ID, TokenDigest: d, Method: auth.MethodPassword,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), UserAgent: userAgents[0],
	}
	rdb := f.srv.Client
	if err := rdb.Set(ctx, f.name.token(d), encodeSessionV2(old), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, f.name.sessionsOf(u.ID), "77", d[:]).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := f.SessionByDigest(ctx, d)
	if err != nil || got.ID != 77 || got.UserAgent != old.UserAgent {
		t.Fatalf("SessionByDigest = %+v, %v", got, err)
	}
	if list, err := f.SessionsOf(ctx, u.ID); err != nil || len(list) != 1 {
		t.Fatalf("SessionsOf = %v, %v", list, err)
	}
	if _, err := f.DeleteSession(ctx, u.ID+1, 77); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("DeleteSession by another user: %v", err)
	}
	if _, err := f.DeleteSession(ctx, u.ID, 77); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if _, err := f.SessionByDigest(ctx, d); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("after DeleteSession: %v", err)
	}
}
