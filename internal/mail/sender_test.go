package mail_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/mail"
	"github.com/authgraph/authgraph/internal/mail/mailtest"
)

func render(t *testing.T, m mail.Message) mail.Rendered {
	t.Helper()
	r, err := mail.NewRenderer("https://auth.example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func smtpSender(t testing.TB, srv *mailtest.Server) *mail.SMTPSender {
	t.Helper()
	cfg, err := mail.ParseSMTPURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	s, err := mail.NewSMTPSender(cfg, mail.SMTPOptions{TLSConfig: &tls.Config{RootCAs: srv.RootCAs, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The mail goes over STARTTLS with a password to a real SMTP server, which reads it as a
// mail client would.
func TestSMTPSenderDeliversOverSTARTTLSWithAuth(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{TLS: true, Username: "authgraph", Password: "p@ss word"})
	msg := mail.Message{ID: "verify:abc", To: "ada@example.com", ToName: "Ada Lovelace", Template: mail.KindVerifyEmail,
		Link: "/account/verify?token=T0k3n"}
	if err := smtpSender(t, srv).Send(context.Background(), render(t, msg)); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(1)[0]
	if got.From != "no-reply@localhost" || len(got.To) != 1 || got.To[0] != "ada@example.com" {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}
	p, err := got.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "Confirm your email address" {
		t.Errorf("subject %q", p.Subject)
	}
	if to := p.Header.Get("To"); !strings.Contains(to, "Ada Lovelace") || !strings.Contains(to, "<ada@example.com>") {
		t.Errorf("To: %q", to)
	}
	if id := p.Header.Get("Message-Id"); id != "<verify:abc@authgraph>" {
		t.Errorf("Message-ID %q", id)
	}
	if !strings.Contains(p.Text, "https://auth.example.com/account/verify?token=T0k3n") {
		t.Errorf("text part lacks the link: %q", p.Text)
	}
	if !strings.Contains(p.HTML, `href="https://auth.example.com/account/verify?token=T0k3n"`) {
		t.Errorf("html part lacks the link: %q", p.HTML)
	}
}

func TestSMTPSenderWrongPasswordFails(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{TLS: true, Username: "authgraph", Password: "right"})
	cfg, err := mail.ParseSMTPURL(strings.Replace(srv.URL(), ":right@", ":wrong-pw@", 1))
	if err != nil {
		t.Fatal(err)
	}
	s, err := mail.NewSMTPSender(cfg, mail.SMTPOptions{TLSConfig: &tls.Config{RootCAs: srv.RootCAs, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), render(t, mail.Message{ID: "x", To: "ada@example.com", Template: mail.KindPasswordChanged}))
	if err == nil {
		t.Fatal("sent with a wrong password")
	}
	if strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("the error holds the password: %v", err)
	}
	if len(srv.Messages()) != 0 {
		t.Error("the server received a message")
	}
}

// A name that is fine but exotic (quotes, non-ASCII, a would-be header after a space) stays
// inside the To header: the raw message has exactly one To and no Bcc.
func TestNamesCannotAddHeaders(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	name := `Ada "the" Lovelace, Bcc: victim@example.com Ünïcode`
	msg := mail.Message{ID: "n1", To: "ada@example.com", ToName: name, Template: mail.KindPasswordChanged}
	if err := smtpSender(t, srv).Send(context.Background(), render(t, msg)); err != nil {
		t.Fatal(err)
	}
	raw := srv.Wait(1)[0].Raw
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	if n := bytes.Count(head, []byte("\nTo:")); n != 1 {
		t.Errorf("%d To headers in\n%s", n, head)
	}
	if bytes.Contains(bytes.ToLower(head), []byte("\nbcc:")) {
		t.Errorf("a Bcc header in\n%s", head)
	}
	p, err := srv.Messages()[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if len(srv.Messages()[0].To) != 1 {
		t.Errorf("recipients %q", srv.Messages()[0].To)
	}
	addrs, err := p.Header.AddressList("To")
	// go-mail drops the double quotes; the rest of the name survives, encoded.
	if err != nil || len(addrs) != 1 || addrs[0].Address != "ada@example.com" ||
		!strings.Contains(addrs[0].Name, "Lovelace, Bcc: victim@example.com Ünïcode") {
		t.Fatalf("To parses as %d addresses (%v)", len(addrs), err)
	}
}

func TestLogSenderWritesTheLink(t *testing.T) {
	var buf bytes.Buffer
	s := mail.LogSender{Log: zerolog.New(&buf)}
	msg := mail.Message{ID: "r1", To: "ada@example.com", Template: mail.KindResetPassword, Link: "/account/reset?token=abc"}
	if err := s.Send(context.Background(), render(t, msg)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, `"level":"warn"`) || !strings.Contains(out, "https://auth.example.com/account/reset?token=abc") {
		t.Errorf("log: %s", out)
	}
}

func TestNewSender(t *testing.T) {
	var buf bytes.Buffer
	s, err := mail.NewSender("", zerolog.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(mail.LogSender); !ok || !strings.Contains(buf.String(), `"level":"warn"`) {
		t.Errorf("no URL gives %T and logs %s", s, buf.String())
	}
	buf.Reset()
	s, err = mail.NewSender("smtps://u:topsecret@mail.example.com", zerolog.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*mail.SMTPSender); !ok || strings.Contains(buf.String(), "topsecret") || !strings.Contains(buf.String(), "mail.example.com:465") {
		t.Errorf("an smtps URL gives %T and logs %s", s, buf.String())
	}
	if _, err := mail.NewSender("smtp://u:topsecret@host:0", zerolog.Nop()); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("a bad URL answers %v", err)
	}
}

func TestSMTPSenderDeliversOverImplicitTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{ImplicitTLS: true, Username: "authgraph", Password: "pw"})
	if !strings.HasPrefix(srv.URL(), "smtps://") {
		t.Fatalf("URL %s", srv.URL())
	}
	msg := mail.Message{ID: "tls:1", To: "ada@example.com", Template: mail.KindPasswordChanged}
	if err := smtpSender(t, srv).Send(context.Background(), render(t, msg)); err != nil {
		t.Fatal(err)
	}
	if p, err := srv.Wait(1)[0].Parse(); err != nil || p.Subject != "Your password was changed" {
		t.Errorf("subject %q (%v)", p.Subject, err)
	}
}

// smtp:// requires STARTTLS: a server that does not offer it gets nothing, rather than the
// mail (and the password) in plain text.
func TestSMTPSenderRequiresSTARTTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	cfg, err := mail.ParseSMTPURL(strings.TrimSuffix(srv.URL(), "?tls=none"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS != mail.TLSStartTLS {
		t.Fatalf("TLS mode %q", cfg.TLS)
	}
	s, err := mail.NewSMTPSender(cfg, mail.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msg := mail.Message{ID: "p", To: "ada@example.com", Template: mail.KindPasswordChanged}
	if err := s.Send(context.Background(), render(t, msg)); err == nil {
		t.Fatal("sent without STARTTLS")
	}
	if len(srv.Messages()) != 0 {
		t.Error("the server received the mail in plain text")
	}
}
