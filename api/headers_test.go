package api

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"notification-server/registry"
)

// TestAnswerHeaders checks the whole header block of JSON answers as a
// client sees it through net/http: the same fields and values whatever the
// handler does to build them cheaply.
func TestAnswerHeaders(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, Options{}, registry.Options{})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	tests := []struct {
		name, method, path, body string
		wantCode                 int
		wantLength               string
	}{
		{"push", "POST", "/api/u1/push", `{"message":"hi"}`, 200, "15"},
		{"unauthorized", "POST", "/api/u1/push", `{"message":"hi"}`, 401, "41"},
		{"not found", "GET", "/nope", "", 404, "22"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantCode != 401 {
				req.Header.Set("X-AUTH-TOKEN", token)
			}
			before := time.Now().Truncate(time.Second)
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			_, _ = io.Copy(io.Discard, res.Body)
			after := time.Now()
			if res.StatusCode != tt.wantCode {
				t.Errorf("status = %d, want %d", res.StatusCode, tt.wantCode)
			}
			want := []string{"Cache-Control", "Content-Length", "Content-Type", "Date", "X-Content-Type-Options"}
			if got := slices.Sorted(maps.Keys(res.Header)); !slices.Equal(got, want) {
				t.Errorf("header fields %q, want %q", got, want)
			}
			for k, v := range map[string]string{
				"Content-Type":           "application/json; charset=utf-8",
				"X-Content-Type-Options": "nosniff",
				"Cache-Control":          "no-store",
				"Content-Length":         tt.wantLength,
			} {
				if got := res.Header.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			date := res.Header.Get("Date")
			d, err := http.ParseTime(date)
			if err != nil || date != d.Format(http.TimeFormat) {
				t.Errorf("Date %q is not in the HTTP format: %v", date, err)
			}
			if d.Before(before) || d.After(after) {
				t.Errorf("Date %v, want between %v and %v", d, before, after)
			}
		})
	}
}

func TestHTTPDate(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 30, 5, 59, 59, 0, time.UTC)
	tests := []time.Time{
		base,
		base.Add(999 * time.Millisecond), // same second: the cached value
		base.Add(time.Second),            // the next one
		base.Add(time.Hour).In(time.FixedZone("CET", 3600)),
		base.Add(-24 * time.Hour),
	}
	for _, now := range tests {
		got := httpDate(now)
		if want := now.UTC().Format(http.TimeFormat); len(got) != 1 || got[0] != want {
			t.Errorf("httpDate(%v) = %q, want %q", now, got, want)
		}
	}
}

// TestStalledBody checks that a push body that stops coming is answered 400
// and the connection closed within the shorter of BodyTimeout and the
// server's ReadTimeout, and that a server ReadTimeout (with an IdleTimeout,
// as the server sets both) does not cut a keep-alive connection that sits
// idle between pushes longer than it.
func TestStalledBody(t *testing.T) {
	t.Parallel()
	const short, long = 200 * time.Millisecond, 10 * time.Second
	tests := []struct {
		name              string
		bodyTimeout, read time.Duration
	}{
		{"BodyTimeout, no ReadTimeout", short, 0},
		{"shorter ReadTimeout", long, short},
		{"shorter BodyTimeout", short, long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestAPI(t, Options{BodyTimeout: tt.bodyTimeout}, registry.Options{})
			srv := httptest.NewUnstartedServer(a)
			srv.Config.ReadTimeout = tt.read
			srv.Config.IdleTimeout = long // as the server sets it
			srv.Start()
			defer srv.Close()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			push := func(body string, length int) (*http.Response, time.Duration) {
				t.Helper()
				start := time.Now()
				fmt.Fprintf(conn, "POST /api/u1/push HTTP/1.1\r\nHost: x\r\nX-AUTH-TOKEN: %s\r\nContent-Length: %d\r\n\r\n%s", token, length, body)
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return res, time.Since(start)
			}
			// A whole push, a pause longer than the timeouts, another.
			for range 2 {
				if res, _ := push(`{"message":1}`, 13); res.StatusCode != 200 {
					t.Fatalf("push answered %d, want 200", res.StatusCode)
				}
				time.Sleep(2 * short)
			}
			res, took := push(`{"message":`, 100)
			if res.StatusCode != 400 || !res.Close {
				t.Errorf("stalled body answered %d (close %v), want 400 and close", res.StatusCode, res.Close)
			}
			if took > 3*time.Second {
				t.Errorf("stalled body answered after %v, want about %v", took, short)
			}
		})
	}
}

// TestBodyReservedAsItArrives checks that a declared Content-Length
// reserves at most bodyPrealloc before the bytes come: a client declaring
// a megabyte and sending a hundred bytes holds no megabyte of memory.
func TestBodyReservedAsItArrives(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, Options{MaxBodyBytes: 8 << 20}, registry.Options{})
	for _, declared := range []int64{1 << 20, 8 << 20} {
		r := httptest.NewRequest("POST", "/api/u1/push", io.MultiReader(
			strings.NewReader(strings.Repeat("x", 100)),
			iotest.ErrReader(errors.New("client stalled"))))
		r.ContentLength = declared
		var buf bytes.Buffer
		if err := a.readBody(httptest.NewRecorder(), r, &buf); err == nil {
			t.Fatalf("declared %d: readBody of a stalled body succeeded", declared)
		}
		if c := buf.Cap(); c > 2*bodyPrealloc {
			t.Errorf("declared %d, sent 100 bytes: %d bytes reserved, want at most %d", declared, c, 2*bodyPrealloc)
		}
	}
	// A large body still arrives whole.
	body := `{"message":"` + strings.Repeat("y", 300<<10) + `"}`
	r := httptest.NewRequest("POST", "/api/u1/push", strings.NewReader(body))
	var buf bytes.Buffer
	if err := a.readBody(httptest.NewRecorder(), r, &buf); err != nil || buf.String() != body {
		t.Fatalf("readBody of %d bytes: %v, got %d bytes", len(body), err, buf.Len())
	}
}
