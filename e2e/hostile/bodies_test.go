package hostile

// Regression tests for body limits on every route, for large pushes to
// sessions that never read, and for a WebSocket frame declaring more than
// the limit.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRegisterBodyLimit sends register with a body beyond MAX_BODY_BYTES:
// every route must answer 413 with a JSON error (issue 6: "body limits on
// every route").
func TestRegisterBodyLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, hostileEnv...)
	code, body := s.rest(http.MethodPut, "/api/u/register?connectionId=c", strings.Repeat("a", 2*maxBodyBytes))
	if code != http.StatusRequestEntityTooLarge || !strings.HasPrefix(body, `{"error":`) {
		t.Errorf("register with %d body bytes: %d %s, want 413 JSON", 2*maxBodyBytes, code, body)
	}
}

// TestLargePushToStuckSessions pushes one 900 KB message to each of two
// users with 1000 WebSocket sessions that never read. The message is
// encoded once and queued by reference, so memory should grow by little
// more than the message; it grows by hundreds of KB per session instead.
func TestLargePushToStuckSessions(t *testing.T) {
	const n, perUser = 2000, 1000
	s := startServer(t, "MAX_SESSIONS_PER_USER=1000", "MAX_PENDING_PER_USER=1000", "PING_INTERVAL=10m", "PING_TIMEOUT=10m")
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for i := range n {
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/api/stuck-%d/register?connectionId=c-%d", s.base, i/perUser, i), nil)
		req.Header.Set("X-AUTH-TOKEN", token)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	for i := range n {
		c, err := dialSmallWS(s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		args, _ := json.Marshal([]string{"register", fmt.Sprintf("stuck-%d", i/perUser), fmt.Sprintf("c-%d", i)})
		c.writeFrame(0x1, "40")
		c.writeFrame(0x1, "42"+string(args))
	}
	if v := s.waitMetric(t, "notification_registered_sessions ", 30*time.Second, func(v float64) bool { return v >= n }); v < n {
		t.Fatalf("%v of %d sessions registered", v, n)
	}
	before := s.rss()
	big := `{"message":"` + strings.Repeat("x", 900_000) + `"}`
	for u := range n / perUser {
		if code, body := s.rest(http.MethodPost, fmt.Sprintf("/api/stuck-%d/push", u), big); code != http.StatusOK {
			t.Fatalf("push: %d %s", code, body)
		}
	}
	var peak int64
	for range 5 {
		time.Sleep(time.Second)
		peak = max(peak, s.rss())
	}
	if grew := peak - before; grew > 256<<20 {
		t.Errorf("RSS grew by %d MiB (from %d MiB) for two 900 KB pushes", grew>>20, before>>20)
	}
}

// TestHugeDeclaredFrameClosedAtOnce sends a WebSocket frame whose header
// declares 1 TiB, far beyond MAX_PAYLOAD, and a few bytes of it: the
// header alone shows the message is too large, so the session should be
// closed at once instead of waiting for bytes that never come.
func TestHugeDeclaredFrameClosedAtOnce(t *testing.T) {
	t.Parallel()
	s := startServer(t, hostileEnv...)
	w, err := dialRawWS(t, s.addr, "", "/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.writeFrame(0x1, "40")
	w.Write(append(frameHeader(0x1, true, 1<<40), "4aaaa"...))
	if !w.waitClosed(time.Second) {
		t.Errorf("session still open 1s after a frame declaring 1 TiB (MAX_PAYLOAD=%d)", maxPayload)
	}
}
