package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// APIError is an error the API answered: its GraphQL error code (extensions.code), its
// message, the HTTP status and, for an internal error, the request id to quote.
type APIError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Status    int    `json:"status,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

func (e *APIError) Error() string {
	s := e.Code + ": " + e.Message
	if e.Code == "" {
		s = e.Message
	}
	if e.Code == "UNAUTHENTICATED" {
		s += " (sign in with `authgraph login`)"
	}
	return s
}

// client talks GraphQL to one authgraph endpoint.
type client struct {
	url     string
	token   string
	http    *http.Client
	version string
}

// endpoint turns what the user gave (http://host:8080, or the full …/graphql URL) into the
// GraphQL endpoint.
func endpoint(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("the API URL must look like http://host:8080 or https://host/graphql, not %q", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/graphql"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String(), nil
}

type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code      string `json:"code"`
		RequestID string `json:"requestId"`
	} `json:"extensions"`
}

// do runs one operation and decodes its data into out.
func (c *client) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("apollographql-client-name", "authgraph-cli")
	req.Header.Set("apollographql-client-version", c.version)
	if c.token != "" {
		req.Header.Set("x-auth-token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", c.url, err)
	}
	var answer struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return &APIError{Code: "", Message: fmt.Sprintf("%s answered HTTP %d, not GraphQL (is it an authgraph server?)", c.url, resp.StatusCode), Status: resp.StatusCode}
	}
	if len(answer.Errors) > 0 {
		e := answer.Errors[0]
		return &APIError{Code: e.Extensions.Code, Message: e.Message, Status: resp.StatusCode, RequestID: e.Extensions.RequestID}
	}
	if resp.StatusCode != http.StatusOK {
		return &APIError{Message: fmt.Sprintf("HTTP %d from %s", resp.StatusCode, c.url), Status: resp.StatusCode}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(answer.Data, out)
}
