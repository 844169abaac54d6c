//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// target is the server under test as clients see it.
type target struct {
	base  string // http://host:port
	host  string // host:port
	token string
	rest  *http.Client
	// sources is how many loopback source addresses (127.0.0.1 ...)
	// sessions are spread over, round robin.
	sources int
	// polling makes sessions connect over HTTP long-polling instead of
	// WebSocket (polling.go).
	polling bool
}

// newTarget prepares the REST client for a server at base. WebSocket
// sessions bind their sockets to sources loopback source addresses
// (127.0.0.1 ... 127.0.0.<sources>), so they share sources*28,000
// ephemeral ports instead of one address's. workers is the number of
// keep-alive REST connections to keep open.
func newTarget(base, token string, sources, workers int) (*target, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("parse server URL: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://host:port", base)
	}
	t := &target{
		base:    u.Scheme + "://" + u.Host,
		host:    u.Host,
		token:   token,
		sources: max(1, sources),
		rest: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				MaxIdleConns:        workers + 16,
				MaxIdleConnsPerHost: workers + 16,
				IdleConnTimeout:     time.Minute,
				DisableCompression:  true,
			},
		},
	}
	return t, nil
}

// close drops idle REST connections.
func (t *target) close() { t.rest.CloseIdleConnections() }

// ping checks GET /api/status/ping answers "pong".
func (t *target) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/api/status/ping", nil)
	if err != nil {
		return fmt.Errorf("ping request: %w", err)
	}
	resp, err := t.rest.Do(req)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK || string(body) != "pong" {
		return fmt.Errorf("ping: status %d, body %q", resp.StatusCode, body)
	}
	return nil
}

// do sends one authenticated REST request and drains the answer, so the
// keep-alive connection is reused. It returns the body when small.
func (t *target) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("X-AUTH-TOKEN", t.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.rest.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return got, fmt.Errorf("%s %s: status %d: %.200s", method, path, resp.StatusCode, got)
	}
	return got, nil
}

// register records connectionID as pending for user (PUT register).
func (t *target) register(ctx context.Context, user, connectionID string) error {
	_, err := t.do(ctx, http.MethodPut, "/api/"+url.PathEscape(user)+"/register?connectionId="+url.QueryEscape(connectionID), nil)
	return err
}

// metrics fetches GET path (e.g. /metrics) with the token; ok is false when
// the server does not expose it.
func (t *target) metrics(ctx context.Context, path string) (text string, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path, nil)
	if err != nil {
		return "", false
	}
	req.Header.Set("X-AUTH-TOKEN", t.token)
	resp, err := t.rest.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", false
	}
	return string(b), true
}

// userName is the user id the load generator uses for user i.
func userName(i int) string { return "u" + strconv.Itoa(i) }
