package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/webhook"
)

// An admin registers a loopback receiver (allowed by AUTHGRAPH_WEBHOOK_ALLOW_PRIVATE, as
// only tests should): a failed sign-in reaches it signed with the secret shown once; the
// list never shows the secret again; the delivery log shows the attempt; redelivery sends
// the same event with the same id; an account admin sees none of the admin's endpoints.
func TestWebhooksEndToEnd(t *testing.T) {
	var mu sync.Mutex
	var secret string
	type got struct{ id, body string }
	var received []got
	var bad int
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !webhook.Verify(secret, r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body, time.Now()) {
			bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		received = append(received, got{r.Header.Get("webhook-id"), string(body)})
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	s, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_WEBHOOK_ALLOW_PRIVATE": "true",
		"AUTHGRAPH_ARGON2_MEMORY": "64", "AUTHGRAPH_ARGON2_TIME": "1", "AUTHGRAPH_RATE_LIMITS": "off"})
	admin := s.login(t, adminName, adminPass)
	r := ok(t, "createWebhook", s.post(t, admin, `mutation($u: String!) { createWebhook(input: {url: $u, types: ["session.sign_in"]}) { id url types secret accountID } }`,
		map[string]any{"u": rcv.URL + "/hook"}))
	mu.Lock()
	secret = r.str(t, "createWebhook.secret")
	mu.Unlock()
	id := r.str(t, "createWebhook.id")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q", secret)
	}
	time.Sleep(2100 * time.Millisecond) // the fan-out reads the endpoints every 2 s at most
	s.post(t, "", `mutation { createSessionUsingUsername(input: {username: "admin-typo", password: "nope-nope-nope"}) { token } }`, nil)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(received) >= 1 })
	mu.Lock()
	first := received[0]
	mu.Unlock()
	if !strings.Contains(first.body, `"type":"session.sign_in"`) || !strings.Contains(first.body, `"reason":"unknown_user"`) ||
		strings.Contains(first.body, "nope-nope-nope") || strings.Contains(first.body, "admin-typo") {
		t.Fatalf("delivered %s", first.body)
	}
	list := ok(t, "webhooks", s.post(t, admin, `{ webhooks { id secret deliveries { eventId attempt status outcome latencyMs } } }`, nil))
	if strings.Contains(list.Raw, "whsec_") || !strings.Contains(list.Raw, `"outcome":"delivered"`) || !strings.Contains(list.Raw, first.id) {
		t.Fatalf("webhooks: %s", list.Raw)
	}
	ok(t, "redeliver", s.post(t, admin, `mutation($id: ObjectID!, $e: String!) { redeliverWebhookEvent(input: {webhookId: $id, eventId: $e}) }`,
		map[string]any{"id": id, "e": first.id}))
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(received) >= 2 })
	mu.Lock()
	if received[1].id != first.id || received[1].body != first.body || bad != 0 {
		t.Fatalf("redelivered %+v, %d unverified", received[1], bad)
	}
	mu.Unlock()

	// An account admin sees none of the ADMIN's endpoints, and cannot delete them.
	uid := s.createUser(t, admin, "acctadmin", "acct-admin-password-1")
	ok(t, "setUserRole", s.post(t, admin, `mutation($id: ObjectID!) { setUserRole(input: {userId: $id, role: ACCOUNT_ADMIN}) { id } }`, map[string]any{"id": uid}))
	aa := s.login(t, "acctadmin", "acct-admin-password-1")
	if r := ok(t, "webhooks", s.post(t, aa, `{ webhooks { id } }`, nil)); strings.Contains(r.Raw, id) {
		t.Fatalf("an account admin sees the admin's endpoint: %s", r.Raw)
	}
	wantGQLCode(t, "deleteWebhook by an account admin", s.post(t, aa, `mutation($id: ObjectID!) { deleteWebhook(input: {webhookId: $id}) { webhookId } }`, map[string]any{"id": id}), "NOT_FOUND")
	ok(t, "deleteWebhook", s.post(t, admin, `mutation($id: ObjectID!) { deleteWebhook(input: {webhookId: $id}) { webhookId } }`, map[string]any{"id": id}))
	// The refusal of a non-public literal address, without the test's allowance, is in the
	// authorization matrix; the guard's own tests cover names that resolve to such addresses.
}
