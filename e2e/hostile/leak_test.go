package hostile

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"notification-server/api"
	"notification-server/engineio"
	"notification-server/registry"
	"notification-server/socketio"
)

// startInProcess serves the handler main builds (registry, Socket.IO server
// and API wired the same way) on 127.0.0.1 inside the test process, with
// the heartbeat shortened to interval+interval. Everything is closed when
// the test ends.
func startInProcess(t testing.TB, interval time.Duration) *server {
	t.Helper()
	return startInProcessLogger(t, interval, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// startInProcessLogger is startInProcess with the server's logs going to
// log.
func startInProcessLogger(t testing.TB, interval time.Duration, log *slog.Logger) *server {
	t.Helper()
	reg, err := registry.New(&registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sockets := socketio.NewServer(&socketio.Options{
		Engine: engineio.Options{
			PingInterval:   interval,
			PingTimeout:    interval,
			UpgradeTimeout: 2 * interval,
			Logger:         log,
		},
		ConnectTimeout: 2 * interval,
		Logger:         log,
	})
	handler, err := api.New(&api.Options{Registry: reg, Tokens: []string{token}, Sockets: sockets, MetricsPublic: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(handler)
	hs.Config.ReadHeaderTimeout = 5 * time.Second
	hs.Config.IdleTimeout = 5 * time.Second
	hs.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sockets.Shutdown(ctx); err != nil {
			t.Errorf("socketio shutdown: %v", err)
		}
		hs.Close()
		reg.Close()
	})
	addr := hs.Listener.Addr().String()
	return &server{t: t, addr: addr, base: "http://" + addr}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestNoLeaks has many sessions connect, register, receive a push and end
// every way a session ends: a clean close, a TCP reset, a ping timeout, an
// abandoned upgrade, and an abandoned session that never connected to a
// namespace. Afterwards the process's goroutines must return to where
// they were before, and the heap near it. Not parallel: it counts the
// whole process's goroutines.
func TestNoLeaks(t *testing.T) {
	const interval = 100 * time.Millisecond
	s := startInProcess(t, interval)
	const user = "leaky"
	ids := []string{"clean", "reset", "timeout", "upgrade"}
	for _, id := range ids {
		if code, body := s.rest(http.MethodPut, "/api/"+user+"/register?connectionId="+id, ""); code != http.StatusOK {
			t.Fatalf("register: %d %s", code, body)
		}
	}
	round := func(t *testing.T, n int) {
		s := &server{t: t, addr: s.addr, base: s.base}
		// Sessions of the previous round may still be timing out, so
		// the count of sessions reached varies.
		push := func() {
			t.Helper()
			code, body := s.rest(http.MethodPost, "/api/"+user+"/push", fmt.Sprintf(`{"message":%d}`, n))
			if code != http.StatusOK {
				t.Fatalf("round %d: push: %d %s", n, code, body)
			}
		}
		// Clean close: DISCONNECT, then a WebSocket close.
		c := dialSocket(t, s)
		c.register(user, "clean")
		push()
		if got := c.nextEvent(5 * time.Second); got != fmt.Sprintf(`["message",%d]`, n) {
			t.Fatalf("round %d: got %s", n, got)
		}
		c.write("41")
		c.c.Close(1000, "")
		c.close()

		// TCP reset: no close frame, the kernel sends RST.
		w, err := dialRawWS(t, s.addr, "", "/socket.io/?EIO=4&transport=websocket")
		if err != nil {
			t.Fatal(err)
		}
		w.writeFrame(0x1, "40")
		w.writeFrame(0x1, `42["register","`+user+`","reset"]`)
		w.Conn.(*net.TCPConn).SetLinger(0)
		w.Close()

		// Ping timeout: connected and registered, then silent.
		w, err = dialRawWS(t, s.addr, "", "/socket.io/?EIO=4&transport=websocket")
		if err != nil {
			t.Fatal(err)
		}
		w.writeFrame(0x1, "40")
		w.writeFrame(0x1, `42["register","`+user+`","timeout"]`)
		if !w.waitClosed(5 * interval * 4) {
			t.Fatalf("round %d: silent session not closed by the heartbeat", n)
		}
		w.Close()

		// Upgrade abandoned after the probe, with the polling side left too.
		p := pollingClient(t, s, user, "upgrade")
		ws, err := dialWS(wsURL(s, p.sid()))
		if err != nil {
			t.Fatal(err)
		}
		sk := newSocket(t, ws)
		probe(sk)
		sk.close()

		// Never connected to a namespace.
		w, err = dialRawWS(t, s.addr, "", "/socket.io/?EIO=4&transport=websocket")
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	// Each round is a subtest, so that its clients' cleanups run (and
	// their memory goes) when it ends.
	t.Run("warm up", func(t *testing.T) { round(t, 0) })
	waitSessions(t, s, 0)
	baseGoroutines, baseHeap := runtime.NumGoroutine(), heapInUse()

	const rounds = 50
	for n := 1; n <= rounds; n++ {
		t.Run(fmt.Sprint("round ", n), func(t *testing.T) { round(t, n) })
	}
	waitSessions(t, s, 0)
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseGoroutines {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after %d rounds, %d before:\n%s", runtime.NumGoroutine(), rounds, baseGoroutines, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Some growth is allowed for pools and maps that keep their size; a
	// leak of one session per round (buffers of several KiB each, 250
	// sessions) would be far above it.
	const slack = 512 << 10
	heap := heapInUse()
	t.Logf("%d rounds of 5 sessions: goroutines %d -> %d, heap %d KiB -> %d KiB", rounds, baseGoroutines, runtime.NumGoroutine(), baseHeap>>10, heap>>10)
	if heap > baseHeap+slack {
		t.Errorf("heap grew from %d KiB to %d KiB after %d rounds", baseHeap>>10, heap>>10, rounds)
	}
}

// waitSessions waits until the server counts want live sessions.
func waitSessions(t *testing.T, s *server, want float64) {
	t.Helper()
	if v := s.waitMetric(t, "notification_sessions{", 10*time.Second, func(v float64) bool { return v == want }); v != want {
		t.Fatalf("%v live sessions, want %v", v, want)
	}
}
