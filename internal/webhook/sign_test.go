package webhook

import (
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
)

// The test vector the Standard Webhooks specification publishes: matching it means any of
// the specification's libraries verifies our deliveries.
func TestSignMatchesTheSpecificationsExample(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"test": 2432232314}`)
	at := time.Unix(1614265330, 0)
	got, err := Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", at, body)
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !Verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,other "+got, body, at.Add(time.Minute)) {
		t.Fatal("Verify refuses the example")
	}
	for name, ok := range map[string]bool{
		"tampered body": Verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", got, []byte(`{"test": 1}`), at),
		"other id":      Verify(secret, "msg_other", "1614265330", got, body, at),
		"too old":       Verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", got, body, at.Add(10*time.Minute)),
		"other secret":  Verify(NewSecret(), "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", got, body, at),
	} {
		if ok {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestNewSecret(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if a == b || !strings.HasPrefix(a, SecretPrefix) {
		t.Fatal(a, b)
	}
	if _, err := key(a); err != nil {
		t.Fatal(err)
	}
}

// An endpoint wants the events of its account and types that happened after it was created;
// an event recorded before, but appended by the trail's writer later, is not for it.
func TestEndpointWantsOnlyEventsAfterItsCreation(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ep := &Endpoint{Account: 1, Types: []audit.Type{audit.SignIn}, CreatedAt: created}
	e := audit.Event{Time: created.Add(time.Millisecond), Type: audit.SignIn, AccountID: 1}
	if !ep.Wants(&e) {
		t.Fatal("an event after creation was not wanted")
	}
	before := e
	before.Time = created.Add(-time.Millisecond)
	other := e
	other.AccountID = 2
	kind := e
	kind.Type = audit.KeyCreated
	for name, ev := range map[string]audit.Event{"before creation": before, "other account": other, "other type": kind} {
		if ep.Wants(&ev) {
			t.Errorf("%s: wanted", name)
		}
	}
}
