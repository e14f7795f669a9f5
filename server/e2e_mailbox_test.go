package main

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/authgraph/authgraph/internal/mail/mailtest"
)

// mailPublicURL is AUTHGRAPH_PUBLIC_URL in the tests that read mail: the listener's port is
// chosen at start, after the configuration is read, so links name this base, which
// mailbox.link checks and then replaces with the test server's address.
const mailPublicURL = "http://authgraph.test"

// mailbox is a real SMTP server (mailtest) that the test server sends its mail to.
type mailbox struct {
	t    *testing.T
	smtp *mailtest.Server
	srv  *testServer
	seen map[string]bool // links already answered, so that a second mail of a kind is told apart
}

// startMailServer runs the server with a real SMTP server as its relay and open sign-up,
// plus env.
func startMailServer(t *testing.T, env map[string]string) (*testServer, *mailbox) {
	t.Helper()
	smtp := mailtest.Start(t, mailtest.Options{})
	vars := map[string]string{
		"AUTHGRAPH_SMTP_URL":   smtp.URL(),
		"AUTHGRAPH_SIGNUP":     "OPEN",
		"AUTHGRAPH_PUBLIC_URL": mailPublicURL,
	}
	for k, v := range env {
		vars[k] = v
	}
	srv := startServer(t, vars)
	return srv, &mailbox{t: t, smtp: smtp, srv: srv, seen: map[string]bool{}}
}

var linkInMail = regexp.MustCompile(`https?://[^\s<>"]+`)

// link waits for a mail to the address to whose link opens view (verify, reset, code, …) on
// the account page, and answers that link on the test server, with its fragment and the
// fragment's parameters. Links answered before are skipped.
func (m *mailbox) link(to, view string) (string, url.Values) {
	m.t.Helper()
	for n := 1; ; n++ {
		msgs := m.smtp.Wait(n) // fails the test after a minute without the mail
		if len(msgs) < n {
			continue
		}
		msg := msgs[n-1]
		if len(msg.To) != 1 || !strings.EqualFold(msg.To[0], to) {
			continue
		}
		p, err := msg.Parse()
		if err != nil {
			m.t.Fatalf("a mail to %s: %v", to, err)
		}
		for _, l := range linkInMail.FindAllString(p.Text, -1) {
			if !strings.HasPrefix(l, mailPublicURL+"/account/#") {
				m.t.Fatalf("a link that is not the account page with a fragment: %s", l)
			}
			frag, err := url.ParseQuery(l[strings.Index(l, "#")+1:])
			if err != nil || frag.Get("view") != view || m.seen[l] {
				continue
			}
			m.seen[l] = true
			return m.srv.URL + strings.TrimPrefix(l, mailPublicURL), frag
		}
	}
}
