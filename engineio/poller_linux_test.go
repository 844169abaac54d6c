package engineio

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestIdleSessionsHoldNoGoroutine opens many WebSocket sessions and lets
// them sit idle: their reading waits in the read poller, not on goroutines
// of their own. Each must still be read when its client writes, and every
// wait must be withdrawn when the server ends its session, so that the
// server's goroutine count and the poller go back to nothing.
func TestIdleSessionsHoldNoGoroutine(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	const n = 200
	ts := newTestServer(t, nil)
	before := runtime.NumGoroutine()
	clients := make([]*websocket.Conn, n)
	conns := make([]*Conn, n)
	for i := range clients {
		c, err := ts.dial("EIO=4&transport=websocket")
		if err != nil {
			t.Fatal(err)
		}
		readWS(t, c) // open
		clients[i], conns[i] = c, ts.nextConn()
	}
	// Each client has its own reading goroutine (coder/websocket's) and
	// the test's HTTP transport some more; the server adds at most a few.
	if grown := runtime.NumGoroutine() - before; grown > n+n/4 {
		t.Errorf("%d idle sessions added %d goroutines", n, grown)
	}
	// The last readers may still be on their way to arming.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		armed := armedFor(ts.srv)
		if armed == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waits armed in the poller, want %d", armed, n)
		}
	}

	// Every session is read again when its client writes, twice.
	for round := range 2 {
		for i, c := range clients {
			writeWS(t, c, websocket.MessageText, fmt.Sprintf("4r%d-%d", round, i))
		}
		for i, c := range clients {
			if _, got := readWS(t, c); got != fmt.Sprintf("4r%d-%d", round, i) {
				t.Fatalf("session %d echoed %q", i, got)
			}
		}
	}

	// Ended by the server while its reading waits in the poller.
	for i, conn := range conns {
		if i%2 == 0 {
			conn.Close()
		}
	}
	for i, c := range clients {
		if i%2 == 1 {
			c.CloseNow()
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for ts.srv.goroutines.Load() != 0 || ts.srv.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after every session ended: %d goroutines tracked, %d sessions", ts.srv.goroutines.Load(), ts.srv.Len())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if armed := armedFor(ts.srv); armed != 0 {
		t.Errorf("%d waits left in the poller for ended sessions", armed)
	}
}

// armedFor counts the waits armed in the poller for sessions of srv.
func armedFor(srv *Server) int {
	polls.mu.Lock()
	defer polls.mu.Unlock()
	n := 0
	for _, ws := range polls.waits {
		if ws.reader != nil && ws.reader.srv == srv {
			n++
		}
	}
	return n
}
