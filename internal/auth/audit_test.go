package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
)

// syncTrail records at once, so tests read what they did without waiting for a writer.
type syncTrail struct{ *audit.Ring }

func (s syncTrail) Record(ctx context.Context, e audit.Event) { _ = s.Append(ctx, []audit.Event{e}) }

type trailFixture struct {
	svc   *auth.Service
	trail syncTrail
	lim   *fakeLimiter
	admin context.Context
}

func newTrailFixture(t *testing.T) *trailFixture {
	t.Helper()
	h, err := argon2id.New(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	f := &trailFixture{trail: syncTrail{audit.NewRing(1000, 0, c.Now)}, lim: &fakeLimiter{}}
	f.svc = auth.NewService(memstore.New(c), h, c, auth.Config{Limiter: f.lim, Auditor: f.trail})
	if _, err := f.svc.EnsureUser(context.Background(), "root", "root-password", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	f.admin = f.signIn(t, "root", "root-password")
	return f
}

func (f *trailFixture) signIn(t *testing.T, name, password string) context.Context {
	t.Helper()
	ctx := auth.WithClient(context.Background(), auth.ClientInfo{IP: "192.0.2.1", UserAgent: "ua", Name: "test"})
	ns, err := f.svc.LoginPassword(ctx, name, password, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Authenticate(ctx, ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	return auth.WithPrincipal(ctx, p)
}

func (f *trailFixture) events(t *testing.T, st audit.Stream) []audit.Event {
	t.Helper()
	p, err := f.trail.List(context.Background(), audit.Query{Stream: st, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return p.Events
}

// A refusal by the limits is recorded without what was typed: the attempt's kind only.
func TestTrailRecordsRateLimitsWithoutTheIdentifier(t *testing.T) {
	f := newTrailFixture(t)
	f.lim.reset(&auth.RateLimitedError{RetryAfter: time.Second, Rule: "login:id"}, nil)
	anon := auth.WithClient(context.Background(), auth.ClientInfo{IP: "198.51.100.1"})
	if _, err := f.svc.LoginPassword(anon, "MyPassw0rd-as-username", "guess-guess-guess", ""); err == nil {
		t.Fatal("not refused")
	}
	evs := f.events(t, audit.Stream{})
	if len(evs) != 1 || evs[0].Type != audit.SignInRateLimited || evs[0].Detail != "password" || evs[0].IP != "198.51.100.1" {
		t.Fatalf("%+v", evs)
	}
	if s := strings.Join([]string{evs[0].Reason, evs[0].Detail, evs[0].ClientName, evs[0].UserAgent}, " "); strings.Contains(s, "MyPassw0rd") {
		t.Fatal("the identifier is in the trail")
	}
}

// The actor is told apart: a user on themselves, through a key, an admin on someone else.
func TestTrailActors(t *testing.T) {
	f := newTrailFixture(t)
	u, err := f.svc.CreateUser(f.admin, "bob", "bob-password-long", auth.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	bob := f.signIn(t, "bob", "bob-password-long")
	nk, err := f.svc.CreateUserKey(bob, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := f.svc.LoginUserKey(context.Background(), nk.Key.ID, nk.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.svc.Authenticate(context.Background(), ns.Token)
	if _, err := f.svc.CreateUserKey(auth.WithPrincipal(context.Background(), p), "k2", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetUserDisabled(f.admin, u.ID, true); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range f.events(t, audit.Stream{User: u.ID}) {
		got = append(got, string(e.Type)+"/"+string(e.ActorKind))
	}
	want := "user.disabled/admin key.created/key session.sign_in/key key.created/user session.sign_in/anonymous user.created/admin"
	if strings.Join(got, " ") != want {
		t.Fatalf("bob's trail: %v\nwant %s", got, want)
	}
}

// An account admin reads their account's trail and their users', nothing else; an ADMIN
// with no filter reads the unattributed stream.
func TestAuditEventsScoping(t *testing.T) {
	f := newTrailFixture(t)
	other, err := f.svc.CreateAccount(f.admin, "other", "Other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUserInAccount(f.admin, "other", "olga", "olga-password-long", auth.RoleAccountAdmin); err != nil {
		t.Fatal(err)
	}
	olga := f.signIn(t, "olga", "olga-password-long")
	root := auth.PrincipalFrom(f.admin).User
	if _, err := f.svc.AuditEvents(olga, auth.EventFilter{Account: root.AccountID}, "", 10); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("another account's trail: %v", err)
	}
	if _, err := f.svc.AuditEvents(olga, auth.EventFilter{User: root.ID}, "", 10); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("an ADMIN's trail: %v", err)
	}
	page, err := f.svc.AuditEvents(olga, auth.EventFilter{}, "", 10)
	if err != nil || len(page.Events) == 0 {
		t.Fatalf("her account's trail: %v %v", page, err)
	}
	for _, e := range page.Events {
		if e.AccountID != other.ID {
			t.Fatalf("an event of account %d in account %d's trail", e.AccountID, other.ID)
		}
	}
	member := auth.WithPrincipal(context.Background(), &auth.Principal{User: &auth.User{ID: 99, Role: auth.RoleMember}, Session: &auth.Session{}})
	if _, err := f.svc.AuditEvents(member, auth.EventFilter{}, "", 10); auth.ErrorCode(err) != auth.CodeForbidden {
		t.Fatalf("a member: %v", err)
	}
	if _, err := f.svc.LoginPassword(context.Background(), "nobody", "whatever-pass", ""); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatal(err)
	}
	page, err = f.svc.AuditEvents(f.admin, auth.EventFilter{}, "", 10)
	if err != nil || len(page.Events) != 1 || page.Events[0].Reason != "unknown_user" {
		t.Fatalf("the unattributed stream: %+v %v", page, err)
	}
	mine, err := f.svc.SecurityEvents(olga, auth.EventFilter{Types: []audit.Type{audit.SignIn}}, "", 10)
	if err != nil || len(mine.Events) != 1 || mine.Events[0].UserID != auth.PrincipalFrom(olga).User.ID {
		t.Fatalf("her own sign-ins: %+v %v", mine, err)
	}
}
