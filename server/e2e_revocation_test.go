package main

// End-to-end tests of revocations racing the sign-ins they revoke, over real HTTP against a
// real redis-server: whatever the interleaving, no session that a racing sign-in was handed
// still works once the revocation has answered.

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/authgraph/authgraph/internal/redistest"
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

// Sign-ins of a user that are in flight while deleteUser runs answer INVALID_CREDENTIALS,
// like a sign-in after it, never an internal error, and leave no session behind.
func TestDeleteUserRacingSignIns(t *testing.T) {
	srv, _ := startRedisServer(t, revocationEnv)
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "alice", "alice-password")
	alice := srv.login(t, "alice", "alice-password")
	aliceID := srv.post(t, alice, `{ me { id } }`, nil).str(t, "me.id")
	k := srv.createKey(t, alice, nil)
	const (
		qPassword = `mutation($u: String!, $p: String!, $r: Boolean) { createSessionUsingUsername(input: {username: $u, password: $p, refreshable: $r}) { token refreshToken } }`
		qKey      = `mutation($id: ObjectID!, $s: String!, $r: Boolean) { createSessionUsingUsername: createSessionUsingUserKey(input: {userKeyId: $id, secret: $s, refreshable: $r}) { token refreshToken } }`
	)
	access, refresh := revocationRace(t, srv, "createSessionUsingUsername", func(w int) string {
		if w%4 < 2 {
			return body(qKey, map[string]any{"id": k.id, "s": k.secret, "r": w%2 == 1})
		}
		return body(qPassword, map[string]any{"u": "alice", "p": "alice-password", "r": w%2 == 1})
	}, func() {
		ok(t, "deleteUser", srv.post(t, admin, `mutation($id: ObjectID!) { deleteUser(input: {userId: $id}) { user { id } } }`, map[string]any{"id": aliceID}))
	})
	wantAllDead(t, srv, access, refresh)
}

// cuttingProxy forwards TCP to Redis, and while armed closes the connection (both ways,
// without forwarding) of any client write that contains match, so the command it carries
// fails as on a timeout; go-redis's own retries meet the cut as well.
type cuttingProxy struct {
	ln     net.Listener
	target string
	match  []byte
	armed  atomic.Bool
	cuts   atomic.Int32
}

func newCuttingProxy(t *testing.T, target, match string) *cuttingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{ln: ln, target: target, match: []byte(match)}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			go func() { _, _ = io.Copy(client, server); client.Close() }()
			go func() {
				defer server.Close()
				defer client.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := client.Read(buf)
					if n > 0 {
						if p.armed.Load() && bytes.Contains(buf[:n], p.match) {
							p.cuts.Add(1)
							return
						}
						if _, err := server.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// deleteUserKey fails half-way (Redis cut off after the key was revoked, while its sessions
// were being ended): it answers 503, the key already signs in no more, and the retry ends
// what is left and answers the key, not NOT_FOUND. Then none of the key's sessions works.
func TestDeleteUserKeyFailingHalfWayIsRetried(t *testing.T) {
	rs := redistest.Start(t)
	if rs.Cluster {
		t.Skip("the proxy fronts one Redis node")
	}
	// HGETALL reads the user's session index, half-way through deleting a key: after the
	// key was revoked and its refresh token families ended, before its plain sessions are.
	// Nothing else on the server sends it while the test cuts. go-redis writes command
	// names in lower case (the scripts' upper-case calls do not match).
	proxy := newCuttingProxy(t, rs.Addr, "hgetall")
	env := map[string]string{
		"AUTHGRAPH_REDIS_URL": "redis://" + proxy.ln.Addr().String(), "AUTHGRAPH_REDIS_PREFIX": rs.Prefix,
		"AUTHGRAPH_REDIS_TIMEOUT": "100ms",
	}
	for k, v := range revocationEnv {
		env[k] = v
	}
	srv := startServer(t, env)
	admin := srv.login(t, adminName, adminPass)
	k := srv.createKey(t, admin, nil)
	const q = `mutation($id: ObjectID!, $s: String!, $r: Boolean) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s, refreshable: $r}) { token refreshToken } }`
	var access, refresh []string
	for i := range 200 {
		r := ok(t, "createSessionUsingUserKey", srv.post(t, "", q, map[string]any{"id": k.id, "s": k.secret, "r": i%4 == 0}))
		access = append(access, r.str(t, "createSessionUsingUserKey.token"))
		if i%4 == 0 {
			refresh = append(refresh, r.str(t, "createSessionUsingUserKey.refreshToken"))
		}
	}

	proxy.armed.Store(true)
	r := srv.post(t, admin, qDeleteKey, map[string]any{"id": k.id})
	proxy.armed.Store(false)
	if r.Status != http.StatusServiceUnavailable || r.code() != "SERVICE_UNAVAILABLE" || proxy.cuts.Load() == 0 {
		t.Fatalf("deleteUserKey with Redis cut off half-way: %d %s (%d cuts)", r.Status, r.Raw, proxy.cuts.Load())
	}
	wantGQLCode(t, "a sign-in with the half-deleted key", srv.post(t, "", qKeyLogin, map[string]any{"id": k.id, "s": k.secret}), "INVALID_CREDENTIALS")

	r = ok(t, "the retried deleteUserKey", srv.post(t, admin, qDeleteKey, map[string]any{"id": k.id}))
	if r.str(t, "deleteUserKey.userKey.id") != k.id {
		t.Fatalf("the retried deleteUserKey: %s", r.Raw)
	}
	wantAllDead(t, srv, access, refresh)
	wantGQLCode(t, "deleteUserKey once done", srv.post(t, admin, qDeleteKey, map[string]any{"id": k.id}), "NOT_FOUND")
	wantWorks(t, srv, "the admin's own session", admin)
}
