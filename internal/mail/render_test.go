package mail

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := NewRenderer("https://auth.example.com/base/", "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sample gives a valid message of each kind, with the fields its template needs.
func sample(k Kind, id string) Message {
	m := Message{ID: id, To: "ada@example.com", Template: k, Link: "/account/x?token=T0k3n"}
	switch k {
	case KindSignInCode:
		m.Data = map[string]string{"code": "123456"}
	case KindInvitation:
		m.Data = map[string]string{"account": "Acme"}
	case KindEmailChanged, KindPasswordChanged:
		m.Link = ""
	}
	return m
}

func TestEveryKindRenders(t *testing.T) {
	r := newTestRenderer(t)
	for _, k := range Kinds {
		out, err := r.Render(sample(k, "id-"+string(k)))
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		if out.Subject == "" || !strings.Contains(out.Text, "Hello,") || !strings.Contains(out.HTML, "<p>Hello,</p>") {
			t.Errorf("%s: subject %q, text %q, html %q", k, out.Subject, out.Text, out.HTML)
		}
		if sample(k, "x").Link != "" && !strings.Contains(out.Text, "https://auth.example.com/base/account/x?token=T0k3n") {
			t.Errorf("%s: the text lacks the absolute link: %q", k, out.Text)
		}
	}
	out, _ := r.Render(sample(KindSignInCode, "c"))
	if out.Subject != "Your sign-in code: 123456" {
		t.Errorf("subject %q", out.Subject)
	}
}

func TestRenderRefusesAMissingField(t *testing.T) {
	m := sample(KindInvitation, "inv")
	m.Data = nil
	if _, err := newTestRenderer(t).Render(m); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("an invitation without its account answers %v", err)
	}
}

func TestHTMLEscapesData(t *testing.T) {
	m := sample(KindInvitation, "inv")
	m.Data["account"] = `<script>alert(1)</script>`
	m.ToName = `<b>Ada</b>`
	out, err := newTestRenderer(t).Render(m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.HTML, "<script>") || strings.Contains(out.HTML, "<b>Ada") {
		t.Errorf("html not escaped: %s", out.HTML)
	}
}

func TestLinksOnlyPointAtThePublicURL(t *testing.T) {
	r := newTestRenderer(t)
	for _, bad := range []string{"https://evil.example/x", "//evil.example/x", "/\\evil.example", "x/y",
		"javascript:alert(1)", "/a b"} {
		m := sample(KindVerifyEmail, "v")
		m.Link = bad
		if _, err := r.Render(m); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("link %q answers %v, want ErrInvalidMessage", bad, err)
		}
	}
	for _, bad := range []string{"", "ftp://x", "https://", "https://h/?q=1", "https://u:p@h", "/rel"} {
		if _, err := NewRenderer(bad, ""); err == nil {
			t.Errorf("public URL %q accepted", bad)
		}
	}
}

func TestHeaderInjectionIsRefused(t *testing.T) {
	r := newTestRenderer(t)
	for name, mut := range map[string]func(*Message){
		"name CRLF":     func(m *Message) { m.ToName = "Ada\r\nBcc: victim@example.com" },
		"name LF":       func(m *Message) { m.ToName = "Ada\nBcc: victim@example.com" },
		"name NUL":      func(m *Message) { m.ToName = "Ada\x00" },
		"name U+2028":   func(m *Message) { m.ToName = "Ada\u2028Bcc: v@example.com" },
		"to CRLF":       func(m *Message) { m.To = "ada@example.com\r\nBcc: victim@example.com" },
		"data CR":       func(m *Message) { m.Data = map[string]string{"code": "1\rBcc: v@example.com"} },
		"to with name":  func(m *Message) { m.To = "Ada <ada@example.com>" },
		"to two":        func(m *Message) { m.To = "ada@example.com, eve@example.com" },
		"id with space": func(m *Message) { m.ID = "a b" },
		"id too long":   func(m *Message) { m.ID = strings.Repeat("a", 201) },
		"bad utf8":      func(m *Message) { m.ToName = "\xff" },
		"template":      func(m *Message) { m.Template = "nope" },
	} {
		m := sample(KindSignInCode, "s")
		mut(&m)
		if _, err := r.Render(m); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%s: answers %v, want ErrInvalidMessage", name, err)
		}
	}
	m := sample(KindSignInCode, "s")
	m.ToName = "Ada\r\nBcc: victim@example.com"
	if _, err := r.Render(m); !errors.Is(err, ErrHeaderInjection) {
		t.Errorf("a CRLF in a name answers %v, want ErrHeaderInjection", err)
	}
}

func TestTemplatesAreOverridable(t *testing.T) {
	dir := t.TempDir()
	// A subject broken over lines by the override is folded, never a second header.
	src := "{{define \"subject\"}}Custom\nBcc: victim@example.com {{.Data.code}}{{end}}{{define \"text\"}}Code {{.Data.code}} {{.Link}}{{end}}"
	if err := os.WriteFile(filepath.Join(dir, "sign-in-code.txt"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer("https://auth.example.com", dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render(sample(KindSignInCode, "s"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Subject != "Custom Bcc: victim@example.com 123456" || out.Text != "Code 123456 https://auth.example.com/account/x?token=T0k3n" {
		t.Errorf("subject %q text %q", out.Subject, out.Text)
	}
	if !strings.Contains(out.HTML, "123456") { // the HTML part is still the embedded one
		t.Errorf("html %q", out.HTML)
	}
	// A broken override fails at start.
	if err := os.WriteFile(filepath.Join(dir, "invitation.html"), []byte("{{define \"html\"}}{{.Nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRenderer("https://auth.example.com", dir); err == nil {
		t.Error("a broken override was accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, "invitation.html"), []byte("no html block"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRenderer("https://auth.example.com", dir); err == nil {
		t.Error("an override without the html block was accepted")
	}
}
