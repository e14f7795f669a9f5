// Package mailtest runs a real SMTP server in the test process (go-smtp on a loopback port),
// which records what it receives, can require STARTTLS and a password, and can be stopped
// and started again on the same port, as an outage would.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configures a Server.
type Options struct {
	// TLS makes the server offer STARTTLS with a fresh self-signed certificate for
	// 127.0.0.1 (trust Server.RootCAs).
	TLS bool
	// ImplicitTLS makes it speak TLS from the first byte (smtps://), with the same kind of
	// certificate.
	ImplicitTLS bool
	// Username and Password, when set, are required (AUTH PLAIN, over TLS only).
	Username, Password string
}

// Server is an SMTP server for one test.
type Server struct {
	Host string
	Port int
	// RootCAs trusts the server's certificate (with Options.TLS).
	RootCAs *x509.CertPool

	t    testing.TB
	opts Options
	tls  *tls.Config

	mu       sync.Mutex
	srv      *smtp.Server
	received []Received
	reject   error
	onData   func(Received)
	changed  chan struct{}
}

// Received is one message the server accepted.
type Received struct {
	From string
	To   []string
	Raw  []byte
}

// Start runs a server until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{t: t, opts: o, Host: "127.0.0.1", changed: make(chan struct{})}
	if o.TLS || o.ImplicitTLS {
		s.tls, s.RootCAs = selfSigned(t)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	s.serve(l)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) serve(l net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, authed: s.opts.Username == ""}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = s.tls
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.ErrorLog = testLogger{}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	if s.opts.ImplicitTLS {
		l = tls.NewListener(l, s.tls)
	}
	go func() { _ = srv.Serve(l) }()
}

type testLogger struct{}

func (testLogger) Printf(string, ...any) {}
func (testLogger) Println(...any)        {}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// URL is an AUTHGRAPH_SMTP_URL for this server.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr()}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	switch {
	case s.opts.ImplicitTLS:
		u.Scheme = "smtps"
	case !s.opts.TLS:
		u.RawQuery = "tls=none"
	}
	return u.String()
}

// Stop closes the listener and every open connection, like a crash of the server.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart listens again on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment after Close
		if l, err = net.Listen("tcp", s.Addr()); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("mailtest: listen again on %s: %v", s.Addr(), err)
	}
	s.serve(l)
}

// Reject makes DATA fail with err (nil: accept again), e.g. a temporary 451.
func (s *Server) Reject(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = err
}

// OnData calls f (from the server's goroutine) after each message is accepted.
func (s *Server) OnData(f func(Received)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onData = f
}

// Messages returns what was received so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Wait returns once n messages were received, or fails the test after a minute (a guard
// against a hang, not a measure of speed).
func (s *Server) Wait(n int) []Received {
	s.t.Helper()
	deadline := time.After(time.Minute)
	for {
		s.mu.Lock()
		got, ch := len(s.received), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-ch:
		case <-deadline:
			s.t.Fatalf("mailtest: %d messages received, want %d", got, n)
		}
	}
}

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (se *session) AuthMechanisms() []string {
	if se.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != se.s.opts.Username || pass != se.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := se.s
	s.mu.Lock()
	if s.reject != nil {
		err := s.reject
		s.mu.Unlock()
		return err
	}
	m := Received{From: se.from, To: se.to, Raw: b}
	s.received = append(s.received, m)
	close(s.changed)
	s.changed = make(chan struct{})
	f := s.onData
	s.mu.Unlock()
	if f != nil {
		f(m)
	}
	return nil
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }

// Parsed is a received message read as a mail client would.
type Parsed struct {
	Header  mail.Header
	Subject string // decoded
	Text    string // the text/plain part, decoded
	HTML    string // the text/html part, decoded
}

// Parse reads the message's headers and its text and HTML parts.
func (m Received) Parse() (Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return Parsed{}, err
	}
	p := Parsed{Header: msg.Header}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Parsed{}, err
	}
	err = readPart(msg.Header, msg.Body, &p)
	return p, err
}

// header is what mail.Header and a MIME part's header have in common.
type header interface{ Get(string) string }

func readPart(h header, body io.Reader, p *Parsed) error {
	ct, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("content type: %w", err)
	}
	if strings.HasPrefix(ct, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := readPart(part.Header, part, p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch ct {
	case "text/plain":
		p.Text = string(b)
	case "text/html":
		p.HTML = string(b)
	}
	return nil
}

func selfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mailtest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion: tls.VersionTLS12}, pool
}
