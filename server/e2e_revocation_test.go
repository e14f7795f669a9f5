package main

// End-to-end tests of revocations racing the sign-ins they revoke, over real HTTP against a
// real redis-server: whatever the interleaving, no session that a racing sign-in was handed
// still works once the revocation has answered.

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// revocationRace runs workers that send signIn (a GraphQL body) over and over and collect
// every access token (at path op.token) and refresh token (op.refreshToken) it answers. Once
// warm sign-ins have succeeded, revoke runs; every sign-in sent after it has answered must
// answer INVALID_CREDENTIALS, and each worker sends two, then stops. It answers the tokens.
func revocationRace(t *testing.T, srv *testServer, op string, signIn func(worker int) string, revoke func()) (access, refresh []string) {
	t.Helper()
	const (
		workers  = 8
		warm     = 16
		maxTries = 2000
	)
	var (
		mu        sync.Mutex
		successes atomic.Int32
		revoked   atomic.Bool
		ready     = make(chan struct{})
		readyOnce sync.Once
		wg        sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			defer readyOnce.Do(func() { close(ready) })
			after := 0
			for range maxTries {
				late := revoked.Load()
				r, err := srv.try(signIn(w))
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				switch code := r.code(); {
				case code == "" && late:
					t.Errorf("worker %d: a sign-in sent after the revocation answered succeeded: %s", w, r.Raw)
				case code == "":
					var out struct {
						Data map[string]struct {
							Token        string `json:"token"`
							RefreshToken string `json:"refreshToken"`
						} `json:"data"`
					}
					if err := json.Unmarshal([]byte(r.Raw), &out); err != nil || out.Data[op].Token == "" {
						t.Errorf("worker %d: %s", w, r.Raw)
						return
					}
					mu.Lock()
					access = append(access, out.Data[op].Token)
					if rt := out.Data[op].RefreshToken; rt != "" {
						refresh = append(refresh, rt)
					}
					mu.Unlock()
					if successes.Add(1) == warm {
						readyOnce.Do(func() { close(ready) })
					}
				case code != "INVALID_CREDENTIALS":
					t.Errorf("worker %d: %s", w, r.Raw)
					return
				}
				if late {
					if after++; after == 2 {
						return
					}
				}
			}
		})
	}
	<-ready
	revoke()
	revoked.Store(true)
	wg.Wait()
	if n := successes.Load(); n < warm {
		t.Fatalf("only %d sign-ins succeeded before the revocation; the race did not happen", n)
	}
	return access, refresh
}

// wantAllDead fails t unless every access token answers 401 on { me { id } } and every
// refresh token is refused.
func wantAllDead(t *testing.T, srv *testServer, access, refresh []string) {
	t.Helper()
	alive, refreshed := 0, 0
	for _, tok := range access {
		r := srv.post(t, tok, `{ me { id } }`, nil)
		switch {
		case r.Status == http.StatusUnauthorized && r.code() == "UNAUTHENTICATED":
		case r.Status == http.StatusOK && r.code() == "":
			alive++
		default:
			t.Errorf("{ me { id } }: %d %s", r.Status, r.Raw)
		}
	}
	for _, tok := range refresh {
		switch r := srv.refresh(t, tok); r.code() {
		case "INVALID_CREDENTIALS", "REFRESH_TOKEN_REUSED":
		case "":
			refreshed++
		default:
			t.Errorf("refreshSession: %s", r.Raw)
		}
	}
	if alive > 0 || refreshed > 0 {
		t.Errorf("%d of %d sessions handed out still answer { me } and %d of %d refresh tokens still refresh",
			alive, len(access), refreshed, len(refresh))
	}
}

// revocationEnv: no rate limits (one address signs in hundreds of times), cheap argon2,
// and room for every worker in the hashing queue (beyond it a sign-in answers 503).
var revocationEnv = map[string]string{
	"AUTHGRAPH_RATE_LIMITS":   "off",
	"AUTHGRAPH_ARGON2_MEMORY": "64",
	"AUTHGRAPH_ARGON2_TIME":   "1",
	"AUTHGRAPH_HASH_QUEUE":    "64",
}

func body(query string, vars map[string]any) string {
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Sign-ins with a key that are in flight while deleteUserKey runs leave no session behind,
// plain or refreshable.
func TestDeleteUserKeyRacingSignIns(t *testing.T) {
	srv, _ := startRedisServer(t, revocationEnv)
	admin := srv.login(t, adminName, adminPass)
	k := srv.createKey(t, admin, nil)
	const q = `mutation($id: ObjectID!, $s: String!, $r: Boolean) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s, refreshable: $r}) { token refreshToken } }`
	access, refresh := revocationRace(t, srv, "createSessionUsingUserKey", func(w int) string {
		return body(q, map[string]any{"id": k.id, "s": k.secret, "r": w%2 == 1})
	}, func() {
		ok(t, "deleteUserKey", srv.post(t, admin, qDeleteKey, map[string]any{"id": k.id}))
	})
	wantAllDead(t, srv, access, refresh)
	wantWorks(t, srv, "the admin's own session", admin)
}

// Sign-ins with the old password that are in flight while changePassword runs (ending the
// other sessions) leave no session behind.
func TestChangePasswordRacingSignIns(t *testing.T) {
	srv, _ := startRedisServer(t, revocationEnv)
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "alice", "alice-password")
	alice := srv.login(t, "alice", "alice-password")
	const q = `mutation($u: String!, $p: String!, $r: Boolean) { createSessionUsingUsername(input: {username: $u, password: $p, refreshable: $r}) { token refreshToken } }`
	access, refresh := revocationRace(t, srv, "createSessionUsingUsername", func(w int) string {
		return body(q, map[string]any{"u": "alice", "p": "alice-password", "r": w%2 == 1})
	}, func() {
		ok(t, "changePassword", srv.post(t, alice, qChangePass, map[string]any{"c": "alice-password", "n": "a-brand-new-password"}))
	})
	wantAllDead(t, srv, access, refresh)
	wantWorks(t, srv, "the session that changed the password", alice)
}

// Sign-ins of a user that are in flight while disableUser runs leave no session that comes
// back when the user is enabled again.
func TestDisableUserRacingSignIns(t *testing.T) {
	srv, _ := startRedisServer(t, revocationEnv)
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "alice", "alice-password")
	alice := srv.login(t, "alice", "alice-password")
	aliceID := srv.post(t, alice, `{ me { id } }`, nil).str(t, "me.id")
	const q = `mutation($u: String!, $p: String!, $r: Boolean) { createSessionUsingUsername(input: {username: $u, password: $p, refreshable: $r}) { token refreshToken } }`
	access, refresh := revocationRace(t, srv, "createSessionUsingUsername", func(w int) string {
		return body(q, map[string]any{"u": "alice", "p": "alice-password", "r": w%2 == 1})
	}, func() {
		ok(t, "disableUser", srv.post(t, admin, `mutation($id: ObjectID!) { disableUser(input: {userId: $id}) { id } }`, map[string]any{"id": aliceID}))
	})
	ok(t, "enableUser", srv.post(t, admin, `mutation($id: ObjectID!) { enableUser(input: {userId: $id}) { id } }`, map[string]any{"id": aliceID}))
	wantAllDead(t, srv, access, refresh)
}
