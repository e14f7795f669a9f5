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

func TestTokenOf(t *testing.T) {
	for in, want := range map[string]string{
		"age_abc":    "age_abc",
		" age_abc\t": "age_abc",
		"https://auth.example/account/#token=age_abc&view=reset":   "age_abc",
		"https://auth.example/account/#view=reset&token=age_a%2Bb": "age_a+b",
		"http://x/account/reset?token=age_q":                       "age_q",
	} {
		if got, err := tokenOf(in); err != nil || got != want {
			t.Errorf("tokenOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "  ", "https://auth.example/account/#view=reset&token="} {
		if got, err := tokenOf(bad); err == nil {
			t.Errorf("tokenOf(%q) = %q, want an error", bad, got)
		}
	}
}

// TestPasswordResetAsksForTheOneTimeCode runs `password reset` against a fake API that
// answers OTP_REQUIRED until the code comes: the link is the first line of stdin, the new
// password the second, the code the third, and the same token is sent again with the code.
func TestPasswordResetAsksForTheOneTimeCode(t *testing.T) {
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
		if !strings.Contains(req.Query, "resetPassword") || r.Header.Get("x-auth-token") != "" {
			w.WriteHeader(400)
			io.WriteString(w, `{"errors":[{"message":"unexpected","extensions":{"code":"BAD_USER_INPUT"}}]}`)
			return
		}
		in := req.Variables["input"].(map[string]any)
		mu.Lock()
		inputs = append(inputs, in)
		mu.Unlock()
		if in["otp"] != "123456" {
			io.WriteString(w, `{"errors":[{"message":"A one-time password is required.","extensions":{"code":"OTP_REQUIRED"}}],"data":null}`)
			return
		}
		io.WriteString(w, `{"data":{"resetPassword":{"username":"ann"}}}`)
	}))
	defer api.Close()

	var out, errb bytes.Buffer
	stdin := "https://auth.example/account/#token=age_tok&view=reset\nnew password for ann\n123456\n"
	code := Run(context.Background(), []string{"authgraph", "--api-url", api.URL, "password", "reset"},
		Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, ConfigDir: t.TempDir()})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if len(inputs) != 2 || inputs[0]["otp"] != nil || inputs[1]["token"] != "age_tok" || inputs[1]["newPassword"] != "new password for ann" {
		t.Fatalf("inputs sent: %v", inputs)
	}
	if !strings.Contains(out.String(), "Password changed for ann") || strings.Contains(out.String(), "age_tok") {
		t.Fatalf("output: %q", out.String())
	}
}
