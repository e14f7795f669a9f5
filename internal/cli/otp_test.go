package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestLoginAsksForTheOneTimeCode runs login against a fake API that answers OTP_REQUIRED
// until the code comes: the CLI must read the code as the next line of stdin and send it
// with the same credentials.
func TestLoginAsksForTheOneTimeCode(t *testing.T) {
	var mu sync.Mutex
	var inputs []map[string]any
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &req)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(req.Query, "createSessionUsingUsername"):
			in := req.Variables["input"].(map[string]any)
			mu.Lock()
			inputs = append(inputs, in)
			mu.Unlock()
			if in["otp"] != "123456" {
				io.WriteString(w, `{"errors":[{"message":"A one-time password is required.","extensions":{"code":"OTP_REQUIRED"}}],"data":null}`)
				return
			}
			io.WriteString(w, `{"data":{"createSessionUsingUsername":{"id":"S1","token":"tok","method":"PASSWORD","expiresAt":"2027-01-01T00:00:00Z"}}}`)
		case strings.Contains(req.Query, "me"):
			if r.Header.Get("x-auth-token") != "tok" {
				w.WriteHeader(401)
				io.WriteString(w, `{"errors":[{"message":"Unauthorized.","extensions":{"code":"UNAUTHENTICATED"}}]}`)
				return
			}
			io.WriteString(w, `{"data":{"me":{"id":"U1","username":"ann","role":"MEMBER","createdAt":"2026-01-01T00:00:00Z"}}}`)
		}
	}))
	defer api.Close()

	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"authgraph", "--api-url", api.URL, "login", "--username", "ann", "--account", "acme"},
		Env{Stdin: strings.NewReader("pw\n123456\n"), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, ConfigDir: t.TempDir()})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if len(inputs) != 2 || inputs[0]["otp"] != nil || inputs[1]["otp"] != "123456" || inputs[1]["password"] != "pw" || inputs[1]["account"] != "acme" {
		t.Fatalf("inputs sent: %v", inputs)
	}
	if !strings.Contains(out.String(), "as ann") || strings.Contains(out.String(), "tok") {
		t.Fatalf("output: %q", out.String())
	}
}
