package mail

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
)

//go:embed templates/*.txt templates/*.html
var embedded embed.FS

// Rendered is a mail ready to send.
type Rendered struct {
	ID      string // the idempotency key, also the base of the Message-ID header
	To      string
	ToName  string
	Subject string
	Text    string
	HTML    string
}

// Renderer turns a Message into a Rendered mail. Each kind has two templates: <kind>.txt
// (text/template, defining "subject" and "text") and <kind>.html (html/template, defining
// "html"). The embedded ones are used unless the override directory holds a file of the same
// name. Templates see .Name (the recipient's name, may be empty), .To, .Link (absolute) and
// .Data (the message's fields); a field a template names but the message lacks is an error.
type Renderer struct {
	base string // public base URL, without a trailing slash
	text map[Kind]*texttemplate.Template
	html map[Kind]*htmltemplate.Template
}

// NewRenderer parses every template now, so that a broken override fails at start, not at
// the first mail. publicURL is the base of every link (AUTHGRAPH_PUBLIC_URL); it is never
// taken from a request. overrideDir may be empty.
func NewRenderer(publicURL, overrideDir string) (*Renderer, error) {
	base, err := checkBaseURL(publicURL)
	if err != nil {
		return nil, err
	}
	r := &Renderer{base: base, text: map[Kind]*texttemplate.Template{}, html: map[Kind]*htmltemplate.Template{}}
	for _, k := range Kinds {
		src, err := readTemplate(overrideDir, string(k)+".txt")
		if err != nil {
			return nil, err
		}
		t, err := texttemplate.New(string(k)).Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("mail: template %s.txt: %w", k, err)
		}
		if t.Lookup("subject") == nil || t.Lookup("text") == nil {
			return nil, fmt.Errorf("mail: template %s.txt must define \"subject\" and \"text\"", k)
		}
		r.text[k] = t
		src, err = readTemplate(overrideDir, string(k)+".html")
		if err != nil {
			return nil, err
		}
		h, err := htmltemplate.New(string(k)).Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("mail: template %s.html: %w", k, err)
		}
		if h.Lookup("html") == nil {
			return nil, fmt.Errorf("mail: template %s.html must define \"html\"", k)
		}
		r.html[k] = h
	}
	return r, nil
}

func checkBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("mail: the public URL must be an http(s) URL with a host and no query, e.g. https://auth.example.com")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func readTemplate(dir, name string) (string, error) {
	if dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			return string(b), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("mail: read template override %s: %w", name, err)
		}
	}
	b, err := embedded.ReadFile("templates/" + name)
	if err != nil {
		return "", fmt.Errorf("mail: embedded template %s: %w", name, err)
	}
	return string(b), nil
}

// Link returns the absolute form of a message's relative link. The link must be a path
// starting with one "/": a scheme, a host ("//evil.example") or a backslash is refused, so
// that a link in a mail can only point at the configured public URL.
func (r *Renderer) Link(rel string) (string, error) {
	if rel == "" {
		return "", nil
	}
	if !strings.HasPrefix(rel, "/") || strings.HasPrefix(rel, "//") || strings.ContainsAny(rel, "\\ ") {
		return "", fmt.Errorf("%w: the link must be a path starting with /", ErrInvalidMessage)
	}
	u, err := url.Parse(rel)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "", fmt.Errorf("%w: the link must be a path starting with /", ErrInvalidMessage)
	}
	return r.base + rel, nil
}

type templateData struct {
	Name string
	To   string
	Link string
	Data map[string]string
}

// check is what Enqueue verifies: a mail renders, a deferred one is valid.
func (r *Renderer) check(m Message) error {
	if m.Deferred {
		return m.Validate()
	}
	_, err := r.Render(m)
	return err
}

// Render validates m and fills its templates.
func (r *Renderer) Render(m Message) (Rendered, error) {
	if err := m.Validate(); err != nil {
		return Rendered{}, err
	}
	link, err := r.Link(m.Link)
	if err != nil {
		return Rendered{}, err
	}
	data := templateData{Name: m.ToName, To: m.To, Link: link, Data: m.Data}
	if data.Data == nil {
		data.Data = map[string]string{}
	}
	var subject, text, html strings.Builder
	t := r.text[m.Template]
	if err := t.ExecuteTemplate(&subject, "subject", data); err != nil {
		return Rendered{}, fmt.Errorf("%w: %s subject: %v", ErrInvalidMessage, m.Template, err)
	}
	if err := t.ExecuteTemplate(&text, "text", data); err != nil {
		return Rendered{}, fmt.Errorf("%w: %s text: %v", ErrInvalidMessage, m.Template, err)
	}
	if err := r.html[m.Template].ExecuteTemplate(&html, "html", data); err != nil {
		return Rendered{}, fmt.Errorf("%w: %s html: %v", ErrInvalidMessage, m.Template, err)
	}
	// The data was checked for control characters, but an overriding template may itself
	// break the subject over lines: it is folded to one line here, whatever its source.
	subj := strings.Join(strings.Fields(subject.String()), " ")
	if err := checkHeaderValue("subject", subj, maxValueLen); err != nil {
		return Rendered{}, err
	}
	return Rendered{ID: m.ID, To: m.To, ToName: m.ToName, Subject: subj,
		Text: text.String(), HTML: html.String()}, nil
}
