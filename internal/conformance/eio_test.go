package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"notification-server/engineio"
)

// TestEIO checks the eio mode's reference configuration: the open packet's
// values, the echo, and the server's ping. The official suite is run by
// TestEIOSuite when ENGINEIO_PROTOCOL_SUITE names the engine.io-protocol
// repository's test-suite directory with its npm packages installed:
//
//	git clone https://github.com/socketio/engine.io-protocol ../engine.io-protocol
//	(cd ../engine.io-protocol/test-suite && npm ci)
//	ENGINEIO_PROTOCOL_SUITE=$PWD/../engine.io-protocol/test-suite go test ./internal/conformance -run TestEIOSuite
func TestEIO(t *testing.T) {
	t.Parallel()
	handler, srv := newEIOHandler(slog.New(slog.NewTextHandler(io.Discard, nil)))
	hs := startParking(handler, srv)
	defer hs.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	do := func(method, query, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+"/engine.io/?"+query, strings.NewReader(body))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	status, open := do(http.MethodGet, "EIO=4&transport=polling", "")
	want := `"upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`
	if status != 200 || !strings.HasPrefix(open, `0{"sid":"`) || !strings.HasSuffix(open, want) {
		t.Fatalf("handshake: %d %q", status, open)
	}
	sid := open[9:29]
	q := "EIO=4&transport=polling&sid=" + sid
	if status, body := do(http.MethodPost, q, "4hello\x1ebAQIDBA=="); status != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", status, body)
	}
	if status, body := do(http.MethodGet, q, ""); status != 200 || body != "4hello\x1ebAQIDBA==" {
		t.Fatalf("echo: %d %q", status, body)
	}
	start := time.Now()
	if status, body := do(http.MethodGet, q, ""); status != 200 || body != "2" {
		t.Fatalf("ping: %d %q", status, body)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("ping after %v, want about 300ms", waited)
	}
}

// TestEIOSuite runs the official engine.io-protocol test suite (mocha)
// against the eio mode, when ENGINEIO_PROTOCOL_SUITE is set. The suite
// expects its server on localhost:3000; the test runs a copy of it pointed
// at the test server's port instead.
func TestEIOSuite(t *testing.T) {
	dir := os.Getenv("ENGINEIO_PROTOCOL_SUITE")
	if dir == "" {
		t.Skip("ENGINEIO_PROTOCOL_SUITE not set")
	}
	src, err := os.ReadFile(filepath.Join(dir, "test-suite.js"))
	if err != nil {
		t.Fatal(err)
	}
	handler, srv := newEIOHandler(slog.New(slog.NewTextHandler(io.Discard, nil)))
	hs := startParking(handler, srv)
	defer hs.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	patched := strings.Replace(string(src), `"http://localhost:3000"`, `"`+hs.URL+`"`, 1)
	if patched == string(src) {
		t.Fatal("test-suite.js has no localhost:3000 URL to point at the test server")
	}
	local := filepath.Join(dir, "test-suite.local.js")
	if err := os.WriteFile(local, []byte(patched), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(local)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "node_modules", ".bin", "mocha"), "test-suite.local.js")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("official suite failed: %v", err)
	}
}

// startParking starts a test server whose idle polling connections park in
// srv, as the product's and the modes' servers do.
func startParking(h http.Handler, srv *engineio.Server) *httptest.Server {
	hs := httptest.NewUnstartedServer(h)
	hs.Listener = srv.Listen(hs.Listener, 0)
	hs.Start()
	return hs
}
