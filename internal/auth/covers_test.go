package auth

import "testing"

func TestCoversAndCheckOwnKey(t *testing.T) {
	member := &User{ID: 1, Role: RoleMember}
	admin := &User{ID: 2, Role: RoleAdmin}
	session := func(u *User, scopes ...Scope) *Principal {
		s := &Session{UserID: u.ID}
		if scopes != nil {
			s.Scopes = scopes
		}
		return &Principal{User: u, Session: s}
	}
	for _, tt := range []struct {
		name   string
		p      *Principal
		scopes []Scope
		want   bool
	}{
		{"a sign-in session covers everything", session(member), AllScopes, true},
		{"a key session covers its own scopes", session(member, ScopeRead, ScopeKeysWrite), []Scope{ScopeKeysWrite, ScopeRead}, true},
		{"a key session covers nothing more", session(member, ScopeKeysWrite), []Scope{ScopeKeysWrite, ScopeRead}, false},
		{"no principal covers nothing", nil, []Scope{ScopeRead}, false},
		{"no session covers nothing", &Principal{User: member}, []Scope{ScopeRead}, false},
	} {
		if got := tt.p.covers(tt.scopes); got != tt.want {
			t.Errorf("%s: covers = %v", tt.name, got)
		}
	}

	for _, tt := range []struct {
		name string
		p    *Principal
		key  *UserKey
		want Code
	}{
		{"own key of the session's scopes", session(member, ScopeKeysWrite), &UserKey{UserID: 1, Scopes: []Scope{ScopeKeysWrite}}, ""},
		{"own key made without scopes, from a narrow session", session(member, ScopeKeysWrite), &UserKey{UserID: 1}, CodeForbidden},
		{"own key made without scopes, from a full key's session", session(member, KeyScopes(RoleMember)...), &UserKey{UserID: 1}, ""},
		{"an admin's full key, from a session without admin", session(admin, KeyScopes(RoleMember)...), &UserKey{UserID: 2}, CodeForbidden},
		{"own key, from a sign-in session", session(admin), &UserKey{UserID: 2}, ""},
		// Not found before any scope is compared, even from the narrowest session: nothing
		// tells another user's key from none.
		{"someone else's wider key", session(member, ScopeKeysWrite), &UserKey{UserID: 2}, CodeNotFound},
		{"someone else's key, from a sign-in session", session(admin), &UserKey{UserID: 1}, CodeNotFound},
	} {
		if got := ErrorCode(checkOwnKey(tt.p, tt.key, keyOpReroll)); got != tt.want {
			t.Errorf("%s: checkOwnKey = %q, want %q", tt.name, got, tt.want)
		}
	}
}
