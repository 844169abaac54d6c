package engineio

import (
	"context"
	"fmt"
	"runtime"
	"sync"
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
	for _, w := range polls.waits {
		if ws, ok := w.(*wsConn); ok && ws.reader != nil && ws.reader.srv == srv {
			n++
		}
	}
	return n
}

// TestNoWaitArmedAfterClose closes a session while its reader is busy with
// a message, and lets the reader finish while the close handshake waits for
// a reply that never comes. When the handshake gives up and closes the
// connection, the kernel drops the descriptor from epoll without an event,
// so a wait armed by the reader after the handshake began would never end;
// the reader must end instead, so that nothing stays counted and Shutdown
// does not wait for it.
func TestNoWaitArmedAfterClose(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	ts := newTestServer(t, &Options{OnConnection: func(c *Conn) {
		c.OnMessage(func([]byte, bool) {
			close(started)
			<-release
		})
	}})
	c, err := ts.dial("EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	readWS(t, c) // open
	conn := ts.nextConn()
	writeWS(t, c, websocket.MessageText, "4busy")
	<-started
	conn.Close() // a close packet, then the writer's close handshake
	ws := conn.s.ws
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		polls.mu.Lock()
		stopped := ws.wait.stopped
		polls.mu.Unlock()
		if stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the close handshake did not begin")
		}
	}
	close(release) // the reader finishes while the handshake waits
	// The client never reads again, so never answers the close frame; the
	// handshake gives up after 5 s and closes the connection.
	for deadline := time.Now().Add(15 * time.Second); ts.srv.goroutines.Load() != 0 || armedFor(ts.srv) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the session ended: %d goroutines tracked, %d waits armed", ts.srv.goroutines.Load(), armedFor(ts.srv))
		}
	}
}

// TestCloseWhileReading closes sessions the way a ping timeout does while
// their clients write without pause, so that closes land at every point of
// a reader's work, including between withdrawing its wait and closing the
// connection. No wait may be left armed and no reading left counted.
// Without the guard in arm this left a few of 2,000 sessions behind.
func TestCloseWhileReading(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{OnConnection: func(c *Conn) {
		c.OnMessage(func([]byte, bool) {})
	}})
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-ts.closes:
			case <-stop:
				return
			}
		}
	}()
	defer func() { close(stop); <-drained }()
	for range 10 {
		const n = 100
		var wg sync.WaitGroup
		for i := range n {
			c, err := ts.dial("EIO=4&transport=websocket")
			if err != nil {
				t.Fatal(err)
			}
			readWS(t, c)
			conn := ts.nextConn()
			wg.Add(2)
			go func() {
				defer wg.Done()
				for {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					err := c.Write(ctx, websocket.MessageText, []byte("4x"))
					cancel()
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i%10) * time.Millisecond)
				conn.s.close(ReasonPingTimeout, false)
				c.CloseNow()
			}()
		}
		wg.Wait()
	}
	for deadline := time.Now().Add(10 * time.Second); ts.srv.goroutines.Load() != 0 || armedFor(ts.srv) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after every session ended: %d readings counted, %d waits armed", ts.srv.goroutines.Load(), armedFor(ts.srv))
		}
	}
}
