package oidc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ParseIssuers reads the operator's issuer configuration: a JSON array of Issuer objects, as
// kept in an environment variable such as AUTHGRAPH_OIDC_ISSUERS. For example:
//
//	[{"url": "https://example.eu.auth0.com/",
//	  "audiences": ["https://authgraph.example.com"],
//	  "allowed_emails": ["alice@example.com"],
//	  "allowed_subjects": ["auth0|5f7c8ec7c33c6c004bbafe82"],
//	  "users": {"auth0|5f7c8ec7c33c6c004bbafe82": "bob"}}]
//
// Unknown fields are errors, so that a typo ("audience") does not silently drop a check.
// Every issuer is validated as New would validate it, and the error says which one is wrong.
func ParseIssuers(jsonText string) ([]Issuer, error) {
	text := strings.TrimSpace(jsonText)
	if !strings.HasPrefix(text, "[") {
		return nil, errors.New("oidc: issuers: want a JSON array of issuer objects")
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var issuers []Issuer
	if err := dec.Decode(&issuers); err != nil {
		return nil, fmt.Errorf("oidc: issuers: %w", describeJSONError(err, text))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("oidc: issuers: unexpected text after the JSON array")
	}
	if _, err := compileAll(issuers); err != nil {
		return nil, err
	}
	return issuers, nil
}

// compileAll validates every issuer and rejects duplicates, which would make routing by
// "iss" ambiguous.
func compileAll(issuers []Issuer) (map[string]*issuer, error) {
	if len(issuers) == 0 {
		return nil, errors.New("oidc: issuers: at least one is required")
	}
	out := make(map[string]*issuer, len(issuers))
	for i, cfg := range issuers {
		is, err := compile(cfg)
		if err != nil {
			return nil, fmt.Errorf("oidc: issuers[%d] (%q): %w", i, redactURL(cfg.URL), err)
		}
		if _, dup := out[cfg.URL]; dup {
			return nil, fmt.Errorf("oidc: issuers[%d] (%q): url: listed twice", i, cfg.URL)
		}
		out[cfg.URL] = is
	}
	return out, nil
}

// describeJSONError adds the line and column to a syntax or type error, since the JSON
// usually spans several lines of an env file.
func describeJSONError(err error, text string) error {
	var offset int64
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = syn.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	default:
		return err
	}
	if offset > int64(len(text)) {
		offset = int64(len(text))
	}
	before := []byte(text[:offset])
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}
