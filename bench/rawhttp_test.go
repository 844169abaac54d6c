//go:build linux

package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		raw      string
		status   int
		body     string
		keep     bool
		wantErr  bool
		leftover string // what must remain unread: the next response
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"sessions\":1}NEXT", 200, `{"sessions":1}`, true, false, "NEXT"},
		{"empty body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nNEXT", 200, "", true, false, "NEXT"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npong\r\n3;x=y\r\n!!!\r\n0\r\n\r\nNEXT", 200, "pong!!!", true, false, "NEXT"},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: 1\r\n\r\nNEXT", 200, "a", true, false, "NEXT"},
		{"connection close", "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", 401, "{}", false, false, ""},
		{"HTTP/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", false, false, ""},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 200, "ok", true, false, ""},
		{"LF only", "HTTP/1.1 200 OK\nContent-Length: 2\n\nokNEXT", 200, "ok", true, false, "NEXT"},
		{"no framing reads to the end", "HTTP/1.1 200 OK\r\n\r\nuntil close", 200, "until close", false, false, ""},
		{"204 has no body", "HTTP/1.1 204 No Content\r\n\r\nNEXT", 204, "", true, false, "NEXT"},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, "", false, true, ""},
		{"garbage status", "SSH-2.0-OpenSSH\r\n\r\n", 0, "", false, true, ""},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, "", false, true, ""},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, "", false, true, ""},
		{"header without colon", "HTTP/1.1 200 OK\r\nBroken\r\n\r\n", 0, "", false, true, ""},
		{"eof in headers", "HTTP/1.1 200 OK\r\nContent-Length: 1", 0, "", false, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			br := bufio.NewReaderSize(strings.NewReader(tt.raw), 64)
			status, body, keep, err := readResponse(br, nil, maxBody)
			if (err != nil) != tt.wantErr {
				t.Fatalf("readResponse error = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if status != tt.status || string(body) != tt.body || keep != tt.keep {
				t.Errorf("readResponse = %d, %q, keep %v; want %d, %q, keep %v", status, body, keep, tt.status, tt.body, tt.keep)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tt.leftover {
				t.Errorf("left unread %q, want %q", rest, tt.leftover)
			}
		})
	}
}

func TestReadResponseKeepsAtMost4KB(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 10000)
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + big + "NEXT"
	br := bufio.NewReader(strings.NewReader(raw))
	_, body, _, err := readResponse(br, nil, maxBody)
	if err != nil || len(body) != 4096 {
		t.Fatalf("got %d bytes, %v; want the first 4096", len(body), err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
		t.Errorf("left unread %q, want NEXT", rest)
	}
}

func TestRestConnAgainstNetHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-AUTH-TOKEN") != "tok" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/chunked" {
			w.Write([]byte(strings.Repeat("a", 5000))) // beyond net/http's buffer: chunked
			return
		}
		w.Write([]byte(r.Method + " " + r.URL.Path + " " + string(b)))
	}))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc := newRestConn(strings.TrimPrefix(srv.URL, "http://"), "tok")
	defer rc.close()
	for i := range 3 {
		status, body, err := rc.post(ctx, "/api/u1/push", []byte(`{"message":1}`))
		if err != nil || status != 200 || string(body) != `POST /api/u1/push {"message":1}` {
			t.Fatalf("request %d: %d %q %v", i, status, body, err)
		}
	}
	status, body, err := rc.post(ctx, "/chunked", []byte(`{}`))
	if err != nil || status != 200 || len(body) != 4096 {
		t.Fatalf("chunked: %d, %d bytes, %v", status, len(body), err)
	}
	if _, _, err := rc.post(ctx, "/api/u1/push", nil); err != nil {
		t.Fatalf("after chunked: %v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 requests, want 1 kept alive", n)
	}
	bad := newRestConn(strings.TrimPrefix(srv.URL, "http://"), "wrong")
	defer bad.close()
	if status, _, err := bad.post(ctx, "/api/u1/push", []byte(`{}`)); err != nil || status != 401 {
		t.Errorf("wrong token: %d, %v; want 401", status, err)
	}
}

// TestRestConnStaleConnection: a kept connection the server dropped as idle
// is dialed again and the request resent once when retryStale is set (as
// for polling sessions); a push is never resent.
func TestRestConnStaleConnection(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	srv.Config.IdleTimeout = 50 * time.Millisecond
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, retry := range []bool{true, false} {
		rc := newRestConn(strings.TrimPrefix(srv.URL, "http://"), "")
		rc.retryStale = retry
		before := conns.Load()
		if status, _, err := rc.do(ctx, "POST", "/x", pollContentType, []byte("3"), 64); err != nil || status != 200 {
			t.Fatalf("retry=%v: first request: %d %v", retry, status, err)
		}
		time.Sleep(300 * time.Millisecond) // the server drops the connection
		status, _, err := rc.do(ctx, "POST", "/x", pollContentType, []byte("3"), 64)
		switch {
		case retry && (err != nil || status != 200):
			t.Errorf("retry=%v: request on a dropped connection: %d %v, want it resent", retry, status, err)
		case retry && conns.Load()-before != 2:
			t.Errorf("retry=%v: %d connections, want 2", retry, conns.Load()-before)
		case !retry && err == nil:
			t.Errorf("retry=%v: request on a dropped connection succeeded, want an error (never resent)", retry)
		}
		rc.close()
	}
}

// countConns counts the connections srv (not started yet) accepts.
func countConns(srv *httptest.Server) *atomic.Int32 {
	var n atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}
