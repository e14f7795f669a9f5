package auth_test

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// A session may never obtain or control a credential whose scopes exceed its own. A key
// session holding keys:write alone once rerolled the user's full key, signed in with the new
// secret and so held every scope of the user (for an admin: admin). These are the domain's
// answers; server/e2e_keyscope_test.go runs the same attack over HTTP.
func TestNarrowSessionCannotControlWiderKey(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	alice, bob := f.member(t, "alice"), f.member(t, "bob")
	bg := context.Background()

	full, err := f.svc.CreateUserKey(alice, "full", nil) // nil scopes: every scope of a member's key
	if err != nil {
		t.Fatal(err)
	}
	bobs, err := f.svc.CreateUserKey(bob, "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	keysOnly := f.keySession(t, alice, auth.ScopeKeysWrite)

	_, err = f.svc.RerollUserKey(keysOnly, full.Key.ID, 0)
	wantCode(t, "a keys:write session rerolling a full key", err, auth.CodeForbidden)
	if msg := auth.ErrorMessage(err); !strings.Contains(msg, "cannot reroll a key wider than itself") ||
		!strings.Contains(msg, "read, keys:write, sessions:write") {
		t.Errorf("the refusal does not say why: %q", msg)
	}
	_, err = f.svc.DeleteUserKey(keysOnly, full.Key.ID)
	wantCode(t, "a keys:write session deleting a full key", err, auth.CodeForbidden)
	_, err = f.svc.CreateUserKey(keysOnly, "", nil, auth.KeyScopes(auth.RoleMember)...)
	wantCode(t, "a keys:write session making a full key", err, auth.CodeForbidden)
	// Nothing changed: the full key's secret still signs in.
	if _, err := f.svc.LoginUserKey(bg, full.Key.ID, full.Secret, ""); err != nil {
		t.Fatalf("the refused reroll or delete touched the key: %v", err)
	}

	// Someone else's key, or none, is NOT_FOUND whatever its scopes: a narrow session cannot
	// tell other users' key ids from unused ones.
	for _, id := range []int64{bobs.Key.ID, 1 << 40} {
		_, err = f.svc.RerollUserKey(keysOnly, id, 0)
		wantCode(t, "rerolling someone else's key or none", err, auth.CodeNotFound)
		_, err = f.svc.DeleteUserKey(keysOnly, id)
		wantCode(t, "deleting someone else's key or none", err, auth.CodeNotFound)
	}

	// What the session covers, it may act on: a key with its own scopes (its own key
	// included) and narrower ones.
	same, err := f.svc.CreateUserKey(keysOnly, "same", nil)
	if err != nil || !slices.Equal(same.Key.Scopes, []auth.Scope{auth.ScopeKeysWrite}) {
		t.Fatalf("a keys:write session making a key like itself: %v, %v", same, err)
	}
	if _, err := f.svc.RerollUserKey(keysOnly, same.Key.ID, 0); err != nil {
		t.Fatalf("rerolling a key no wider than the session: %v", err)
	}
	own := auth.PrincipalFrom(keysOnly).Session.UserKeyID
	if _, err := f.svc.RerollUserKey(keysOnly, own, 0); err != nil {
		t.Fatalf("rerolling the session's own key: %v", err)
	}
	wide := f.keySession(t, alice, auth.ScopeRead, auth.ScopeKeysWrite)
	readOnly, err := f.svc.CreateUserKey(alice, "r", nil, auth.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.DeleteUserKey(wide, readOnly.Key.ID); err != nil {
		t.Fatalf("deleting a narrower key: %v", err)
	}
	// A full key's session holds the member's key scopes, which a key made without scopes
	// holds too: it covers it.
	fullSession := f.keySession(t, alice)
	if _, err := f.svc.RerollUserKey(fullSession, full.Key.ID, 0); err != nil {
		t.Fatalf("a full key's session rerolling a full key: %v", err)
	}
	// A password session covers every key of its user.
	if _, err := f.svc.DeleteUserKey(alice, full.Key.ID); err != nil {
		t.Fatalf("a password session deleting a full key: %v", err)
	}

	// An admin's key without the admin scope cannot reach a key that holds it.
	admin := f.as(t, "admin", "admin-password")
	adminFull, err := f.svc.CreateUserKey(admin, "full", nil)
	if err != nil {
		t.Fatal(err)
	}
	noAdmin := f.keySession(t, admin, auth.ScopeRead, auth.ScopeKeysWrite, auth.ScopeSessionsWrite)
	_, err = f.svc.RerollUserKey(noAdmin, adminFull.Key.ID, 0)
	wantCode(t, "an admin's session without admin rerolling the admin's full key", err, auth.CodeForbidden)
	_, err = f.svc.DeleteUserKey(noAdmin, adminFull.Key.ID)
	wantCode(t, "an admin's session without admin deleting the admin's full key", err, auth.CodeForbidden)
}

// keyOpClass says how a Service method that touches keys or answers a credential keeps a
// session from obtaining or controlling a credential wider than itself.
type keyOpClass int

const (
	// signIn: public; the caller proves a credential (password, key secret, refresh token,
	// external token). The session making the request plays no part, so there is no caller
	// scope to exceed; what the new session holds comes from the credential.
	signIn keyOpClass = iota + 1
	// grants makes a new key: keyScopesFor refuses a scope the session does not cover.
	grants
	// actsOnKey takes an existing key's id: ownKeyFor (or checkOwnKey) checks ownership,
	// then coverage.
	actsOnKey
	// readsKeys answers key metadata, never a secret or a session.
	readsKeys
	// serviceKeyOp: makes or acts on a service key; checked by TestServiceAccountRights.
	serviceKeyOp
)

// keyOps lists every Service method that touches user keys or answers a new credential
// (*NewUserKey, *NewSession). TestEveryKeyOperationIsCovered fails for a method missing here,
// so a new key operation must be classified, and, if it acts on a key, prove the rule.
var keyOps = map[string]struct {
	class keyOpClass
	// act runs the method on key id as ctx (actsOnKey only).
	act func(ctx context.Context, svc *auth.Service, id int64) error
}{
	"Login":          {class: signIn},
	"LoginPassword":  {class: signIn},
	"LoginUserKey":   {class: signIn},
	"LoginExternal":  {class: signIn},
	"LoginEmailCode": {class: signIn},
	"LoginPasskey":   {class: signIn},
	// Sign-in through a provider: LoginAuthorizationCode, and FinishSSO (whose result
	// carries the session).
	"LoginAuthorizationCode": {class: signIn},
	"FinishSSO":              {class: signIn},
	"Refresh":                {class: signIn},
	"CreateUserKey":          {class: grants},
	"UserKeys":               {class: readsKeys},
	"UserKey":                {class: readsKeys},
	"EffectiveKeyScopes":     {class: readsKeys},
	"RerollUserKey": {class: actsOnKey, act: func(ctx context.Context, svc *auth.Service, id int64) error {
		_, err := svc.RerollUserKey(ctx, id, 0)
		return err
	}},
	"DeleteUserKey": {class: actsOnKey, act: func(ctx context.Context, svc *auth.Service, id int64) error {
		_, err := svc.DeleteUserKey(ctx, id)
		return err
	}},
	// Service keys: their rights (a session never makes or controls one wider than itself, a
	// service key mints nothing) are TestServiceAccountRights's (serviceaccounts_test.go).
	"AuthenticateServiceKey": {class: signIn},
	"CreateServiceKey":       {class: serviceKeyOp},
	"RerollServiceKey":       {class: serviceKeyOp},
	"DeleteServiceKey":       {class: serviceKeyOp},
	"ServiceKeysOf":          {class: readsKeys},
	"ServiceKeyUsage":        {class: readsKeys},
}

// needsKeyOpEntry reports whether Service method m must be listed in keyOps: its name speaks
// of keys, or it answers a new key or session.
func needsKeyOpEntry(m reflect.Method) bool {
	if strings.Contains(m.Name, "Key") {
		return true
	}
	for i := range m.Type.NumOut() {
		switch m.Type.Out(i) {
		case reflect.TypeOf(&auth.NewUserKey{}), reflect.TypeOf(&auth.NewSession{}):
			return true
		}
	}
	return false
}

func TestEveryKeyOperationIsCovered(t *testing.T) {
	svcType := reflect.TypeOf(&auth.Service{})
	var missing []string
	for i := range svcType.NumMethod() {
		m := svcType.Method(i)
		if !needsKeyOpEntry(m) {
			continue
		}
		if _, ok := keyOps[m.Name]; !ok {
			missing = append(missing, m.Name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("Service methods that touch keys or answer credentials but are not classified in keyOps: %v", missing)
	}
	for name, op := range keyOps {
		m, ok := svcType.MethodByName(name)
		switch {
		case !ok:
			t.Errorf("keyOps lists %s, which Service no longer has", name)
			continue
		case op.class == actsOnKey && op.act == nil:
			t.Errorf("%s acts on a key but keyOps gives no way to run it", name)
		case op.class == readsKeys:
			// A read may answer key metadata, never a secret or a session.
			for i := range m.Type.NumOut() {
				if out := m.Type.Out(i); out == reflect.TypeOf(&auth.NewUserKey{}) || out == reflect.TypeOf(&auth.NewSession{}) {
					t.Errorf("%s is classified as a read but answers %v", name, out)
				}
			}
		}
	}

	// Every operation on an existing key: a narrow session is refused a wider own key
	// (FORBIDDEN), answered NOT_FOUND for someone else's key, and allowed a key it covers.
	f := newLifecycleFixture(t, auth.Config{})
	alice, bob := f.member(t, "alice"), f.member(t, "bob")
	newKey := func(ctx context.Context, scopes ...auth.Scope) int64 {
		t.Helper()
		nk, err := f.svc.CreateUserKey(ctx, "", nil, scopes...)
		if err != nil {
			t.Fatal(err)
		}
		return nk.Key.ID
	}
	for name, op := range keyOps {
		switch op.class {
		case actsOnKey:
			narrow := f.keySession(t, alice, auth.ScopeKeysWrite)
			wantCode(t, name+" on a wider own key", op.act(narrow, f.svc, newKey(alice)), auth.CodeForbidden)
			wantCode(t, name+" on a wider own key with an explicit list", op.act(narrow, f.svc, newKey(alice, auth.ScopeRead, auth.ScopeKeysWrite)), auth.CodeForbidden)
			wantCode(t, name+" on someone else's key", op.act(narrow, f.svc, newKey(bob, auth.ScopeKeysWrite)), auth.CodeNotFound)
			if err := op.act(narrow, f.svc, newKey(alice, auth.ScopeKeysWrite)); err != nil {
				t.Errorf("%s on a key the session covers: %v", name, err)
			}
			if err := op.act(alice, f.svc, newKey(alice)); err != nil {
				t.Errorf("%s by a password session: %v", name, err)
			}
		case grants:
			narrow := f.keySession(t, alice, auth.ScopeKeysWrite)
			_, err := f.svc.CreateUserKey(narrow, "", nil, auth.ScopeKeysWrite, auth.ScopeSessionsWrite)
			wantCode(t, name+" wider than the session", err, auth.CodeForbidden)
		}
	}
}

// A key session hands down no more time than it holds: the keys it makes expire no later than
// the key it came from. A password session, or a key without expiry, is not bound.
func TestKeySessionCannotMintALongerLivedKey(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	alice := f.member(t, "alice")
	bg := context.Background()
	tomorrow := f.clock.Now().Add(24 * time.Hour).UTC()
	short, err := f.svc.CreateUserKey(alice, "short", &tomorrow)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := f.svc.LoginUserKey(bg, short.Key.ID, short.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Authenticate(bg, ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	keySess := auth.WithPrincipal(bg, p)

	inherited, err := f.svc.CreateUserKey(keySess, "child", nil)
	if err != nil {
		t.Fatal(err)
	}
	if inherited.Key.ExpiresAt == nil || !inherited.Key.ExpiresAt.Equal(tomorrow) {
		t.Errorf("a key made by a key session without expiresAt expires at %v, want the parent's %v", inherited.Key.ExpiresAt, tomorrow)
	}
	later := tomorrow.Add(time.Hour)
	_, err = f.svc.CreateUserKey(keySess, "longer", &later)
	wantCode(t, "a key session making a key that outlives its own", err, auth.CodeForbidden)
	sooner := tomorrow.Add(-time.Hour)
	if nk, err := f.svc.CreateUserKey(keySess, "shorter", &sooner); err != nil || !nk.Key.ExpiresAt.Equal(sooner) {
		t.Errorf("a shorter-lived key: %v, %v", nk, err)
	}
	// Signed in with the password, the user may make a key that never expires.
	if nk, err := f.svc.CreateUserKey(alice, "forever", nil); err != nil || nk.Key.ExpiresAt != nil {
		t.Errorf("a password session's key: %+v, %v", nk, err)
	}
	// A key session from a key without expiry is not bound either.
	unbound := f.keySession(t, alice, auth.ScopeKeysWrite)
	if nk, err := f.svc.CreateUserKey(unbound, "free", nil); err != nil || nk.Key.ExpiresAt != nil {
		t.Errorf("a key made by the session of a key without expiry: %+v, %v", nk, err)
	}
}

// Promoting a user widens no key already out: a key made without scopes holds what its
// owner's role allowed when it was made, spelled out, so the member's key handed to a
// program does not become an admin credential with the promotion.
func TestPromotionWidensNoKey(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	admin := f.as(t, "admin", "admin-password")
	alice := f.member(t, "alice")
	bg := context.Background()
	nk, err := f.svc.CreateUserKey(alice, "ci", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := nk.Key.Scopes; !slices.Equal(got, auth.KeyScopes(auth.RoleMember)) {
		t.Fatalf("a key made without scopes stores %v, want the member's key scopes spelled out", got)
	}
	u, err := f.svc.User(alice, auth.PrincipalFrom(alice).User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetUserRole(admin, u.ID, auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	ns, err := f.svc.LoginUserKey(bg, nk.Key.ID, nk.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ns.Session.Scopes, auth.ScopeAdmin) {
		t.Fatalf("the member's old key signs in with %v after the promotion", ns.Session.Scopes)
	}
}

// A key stored without scopes (made before keys spelled theirs out) is pinned to its
// owner's role before a promotion.
func TestPromotionPinsUnscopedKeys(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	admin := f.as(t, "admin", "admin-password")
	alice := f.member(t, "alice")
	bg := context.Background()
	nk, err := f.svc.CreateUserKey(alice, "legacy", nil)
	if err != nil {
		t.Fatal(err)
	}
	// As an older server stored it.
	if _, err := f.store.UpdateKey(bg, nk.Key.ID, func(k *auth.UserKey) error { k.Scopes = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	id := auth.PrincipalFrom(alice).User.ID
	if _, err := f.svc.SetUserRole(admin, id, auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	k, err := f.store.Key(bg, nk.Key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(k.Scopes, auth.KeyScopes(auth.RoleMember)) {
		t.Fatalf("the legacy key holds %v after the promotion, want the member's scopes", k.Scopes)
	}
}
