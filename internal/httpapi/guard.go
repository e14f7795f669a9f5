package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/errmap"
)

// guardRequest refuses, with a clear 4xx in the contract's error shape, what is not one
// GraphQL request over HTTP: another method, a POST that is not JSON, a body or query
// string that is not UTF-8, JSON that does not parse, a JSON array (a batch: gqlgen runs one
// operation per request, and a batch would multiply every per-request limit), fields of
// the wrong type. gqlgen would refuse most of these too, but in its own shape (no
// extensions.code), some with a 200, and one by echoing the whole body, passwords included.
// The body has been read by limitBody already.
func guardRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var status int
		var msg string
		switch r.Method {
		case http.MethodPost:
			status, msg = checkPost(r)
		case http.MethodGet, http.MethodHead:
			status, msg = checkGet(r.URL)
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			status, msg = http.StatusMethodNotAllowed, "Send GraphQL requests with POST (or GET for queries)."
		}
		if status != 0 {
			writeError(w, status, auth.CodeInvalidInput, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// rawRequest is a GraphQL request body, with the types GraphQL over HTTP gives its fields.
type rawRequest struct {
	Query         *string    `json:"query"`
	OperationName *string    `json:"operationName"`
	Variables     jsonObject `json:"variables"`
	Extensions    jsonObject `json:"extensions"`
}

// jsonObject checks that a value is a JSON object (or null) without building it: gqlgen
// decodes the body again, and building the variables twice was a tenth of the handler's
// time for a small query.
type jsonObject struct{}

var mapType = reflect.TypeFor[map[string]any]()

func (jsonObject) UnmarshalJSON(b []byte) error {
	// The decoder has checked the syntax already; a value's first byte says its kind.
	if len(b) > 0 && (b[0] == '{' || b[0] == 'n') {
		return nil
	}
	return &json.UnmarshalTypeError{Value: "non-object", Type: mapType}
}

func checkPost(r *http.Request) (int, string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, "The Content-Type must be application/json."
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return http.StatusUnsupportedMediaType, "The request body must be UTF-8 JSON."
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return http.StatusBadRequest, "The request body could not be read."
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !utf8.Valid(body) {
		return http.StatusBadRequest, "The request body must be UTF-8."
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return http.StatusBadRequest, "The request body is empty: send a JSON object with a query."
	case trimmed[0] == '[':
		return http.StatusBadRequest, "Batched requests are not supported: send one operation per request."
	case trimmed[0] != '{':
		return http.StatusBadRequest, "The request body must be a JSON object with a query."
	}
	return decodeRequest(body)
}

// decodeRequest checks that body is exactly one JSON object whose fields have their types.
// Its messages never quote the body.
func decodeRequest(body []byte) (int, string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var req rawRequest
	err := dec.Decode(&req)
	if err == nil && dec.More() {
		return http.StatusBadRequest, "The request body must hold one JSON object, and nothing after it."
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &syntax):
		return http.StatusBadRequest, fmt.Sprintf("The request body is not valid JSON (at byte %d).", syntax.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		want := "an object"
		if f := strings.SplitN(typ.Field, ".", 2)[0]; f == "query" || f == "operationName" {
			want = "a string"
		}
		return http.StatusBadRequest, fmt.Sprintf("The request field %q must be %s.", strings.SplitN(typ.Field, ".", 2)[0], want)
	}
	return http.StatusBadRequest, "The request body is not valid JSON."
}

// checkGet checks the query string of a GET: UTF-8, and variables and extensions, if
// given, JSON objects.
func checkGet(u *url.URL) (int, string) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return http.StatusBadRequest, "The query string is malformed."
	}
	for k, vs := range q {
		for _, v := range vs {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return http.StatusBadRequest, "The query string must be UTF-8."
			}
		}
	}
	for _, f := range []string{"variables", "extensions"} {
		if v := q.Get(f); v != "" {
			var m map[string]any
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				return http.StatusBadRequest, fmt.Sprintf("The %s parameter must be a JSON object.", f)
			}
		}
	}
	return 0, ""
}

// shapeErrors makes every error answer of next carry the contract's shape,
// {"errors":[{"message","extensions":{"code"}}]}: an answer with a 4xx or 5xx status whose
// errors lack a code (gqlgen's transports write some of those: "variables could not be
// decoded") gets BAD_USER_INPUT, or INTERNAL_SERVER_ERROR with its message masked
// for a 5xx; one that is not GraphQL JSON at all is replaced. Answers with other statuses
// pass through untouched and unbuffered.
func shapeErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &shapeWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		sw.finish()
	})
}

type shapeWriter struct {
	http.ResponseWriter
	status int
	buf    *bytes.Buffer // the body of an error answer, held until finish
	wrote  bool
}

func (w *shapeWriter) WriteHeader(code int) {
	if w.wrote || w.buf != nil {
		return
	}
	if code >= 400 {
		w.status, w.buf = code, &bytes.Buffer{}
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *shapeWriter) Write(b []byte) (int, error) {
	if !w.wrote && w.buf == nil {
		w.WriteHeader(http.StatusOK)
	}
	if w.buf != nil {
		return w.buf.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *shapeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *shapeWriter) finish() {
	if w.buf == nil {
		return
	}
	body := w.buf.Bytes()
	if fixed, ok := reshape(body, w.status); ok {
		body = fixed
		w.Header().Set("Content-Type", "application/json")
		w.Header().Del("Content-Length")
	}
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(body)
}

// reshape returns body with a code on every error, and whether it changed anything.
func reshape(body []byte, status int) ([]byte, bool) {
	code := auth.CodeInvalidInput
	if status >= 500 {
		code = auth.CodeInternal
	}
	var resp map[string]json.RawMessage
	var errs []map[string]any
	if json.Unmarshal(body, &resp) != nil || json.Unmarshal(resp["errors"], &errs) != nil || len(errs) == 0 {
		msg := http.StatusText(status)
		if msg == "" {
			msg = "Request refused."
		}
		return mustJSON(errorBody{Errors: []errorItem{{Message: msg + ".", Extensions: map[string]any{"code": errmap.GraphQL(code)}}}}), true
	}
	changed := false
	for _, e := range errs {
		ext, _ := e["extensions"].(map[string]any)
		if _, ok := ext["code"].(string); ok {
			continue
		}
		if ext == nil {
			ext = map[string]any{}
		}
		ext["code"] = errmap.GraphQL(code)
		if code == auth.CodeInternal {
			e["message"] = "Internal server error."
		}
		if _, ok := e["message"].(string); !ok {
			e["message"] = http.StatusText(status) + "."
		}
		e["extensions"] = ext
		changed = true
	}
	if !changed {
		return body, false
	}
	resp["errors"] = mustJSON(errs)
	return mustJSON(resp), true
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of JSON values always marshal
	}
	return b
}

// notFound answers paths that serve nothing, in the contract's error shape.
func notFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotFound, auth.CodeNotFound, "Not found: the API is at /graphql.")
}
