package engineio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"notification-server/internal/leakcheck"
)

// TestChurnLeavesNothing opens sessions that end every way a session ends
// (clean close, dropped TCP connection, ping timeout, dropped in the middle
// of an upgrade, poll abandoned by the client) and checks that goroutines
// return to where they started without a Shutdown. Not parallel: it counts
// the process's goroutines.
func TestChurnLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ts := newTestServer(t, &Options{PingInterval: 100 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
		for round := 0; round < 5; round++ {
			// Clean WebSocket close.
			c, err := ts.dial("EIO=4&transport=websocket")
			if err != nil {
				t.Fatal(err)
			}
			readWS(t, c)
			writeWS(t, c, websocket.MessageText, "4x")
			readWS(t, c)
			c.Close(websocket.StatusNormalClosure, "")

			// Dropped WebSocket, v3.
			c, err = ts.dial("EIO=3&transport=websocket")
			if err != nil {
				t.Fatal(err)
			}
			readWS(t, c)
			c.CloseNow()

			// Polling session left to time out.
			ts.openPolling("EIO=4&transport=polling")

			// Upgrade dropped after the probe.
			sid := ts.openPolling("EIO=4&transport=polling").SID
			ws, err := ts.dial("EIO=4&transport=websocket&sid=" + sid)
			if err != nil {
				t.Fatal(err)
			}
			writeWS(t, ws, websocket.MessageText, "2probe")
			readWS(t, ws)
			ws.CloseNow()

			// A poll the client abandons.
			sid = ts.openPolling("EIO=4&transport=polling").SID
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.base+"?EIO=4&transport=polling&sid="+sid, nil)
			if res, err := ts.client.Do(req); err == nil {
				// The first poll may get the first ping; the next one waits.
				res.Body.Close()
				req, _ = http.NewRequestWithContext(ctx, http.MethodGet, ts.base+"?EIO=4&transport=polling&sid="+sid, nil)
				if res, err := ts.client.Do(req); err == nil {
					res.Body.Close()
				}
			}
			cancel()
		}
		deadline := time.Now().Add(5 * time.Second)
		for ts.srv.Len() > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d sessions still open", ts.srv.Len())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := ts.srv.goroutines.Load(); n != 0 {
			// Readers, writers and OnClose calls may take a moment to end.
			deadline := time.Now().Add(5 * time.Second)
			for ts.srv.goroutines.Load() != 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if n := ts.srv.goroutines.Load(); n != 0 {
			t.Errorf("%d server goroutines still running after every session ended", n)
		}
		st := ts.srv.Stats()
		for _, reason := range []string{ReasonTransportClose, ReasonPingTimeout} {
			if st.Closes[reason] == 0 {
				t.Errorf("no close counted as %q: %v", reason, st.Closes)
			}
		}
	}()
	// The test server's cleanup runs at the end of the test; count after
	// this point only what must be gone already: session goroutines and
	// the heartbeat scheduler. Leave slack for the httptest server (with
	// its listener's accepting) and the HTTP client's idle connections.
	deadline := time.Now().Add(5 * time.Second)
	for {
		stacks := leakcheck.Ours()
		n := 0
		for _, g := range stacks {
			if strings.Contains(g, "engineio.(*") && !strings.Contains(g, "engineio.(*parkListener)") {
				n++
			}
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d engineio goroutines left (started with %d goroutines):\n%s", n, before, strings.Join(stacks, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUpgradeRace sends two probing WebSockets for one session at once:
// one upgrades, the other is closed, and nothing is lost.
func TestUpgradeRace(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{OnConnection: func(c *Conn) {}})
	sid := ts.openPolling("EIO=4&transport=polling").SID
	conn := ts.nextConn()
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, 2)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ts.dial("EIO=4&transport=websocket&sid=" + sid)
			if err == nil {
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	upgraded := 0
	for _, c := range conns {
		if c == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.Write(ctx, websocket.MessageText, []byte("2probe"))
		_, msg, err := c.Read(ctx)
		cancel()
		if err != nil {
			continue // the loser is closed
		}
		if string(msg) != "3probe" {
			t.Fatalf("probe answered %q", msg)
		}
		conn.Send([]byte("queued during the upgrade"), false)
		writeWS(t, c, websocket.MessageText, "5")
		if _, msg := readWS(t, c); msg != "4queued during the upgrade" {
			t.Errorf("after upgrade got %q", msg)
		}
		upgraded++
	}
	if upgraded != 1 {
		t.Errorf("%d WebSockets upgraded, want 1", upgraded)
	}
}

// TestPollingDuringUpgrade posts over polling while the probe is under way:
// the message is delivered, and polls are answered with a noop.
func TestPollingDuringUpgrade(t *testing.T) {
	t.Parallel()
	got := make(chan string, 4)
	ts := newTestServer(t, &Options{OnConnection: func(c *Conn) {
		c.OnMessage(func(data []byte, binary bool) { got <- string(data) })
	}})
	sid := ts.openPolling("EIO=4&transport=polling").SID
	q := "EIO=4&transport=polling&sid=" + sid
	ws, err := ts.dial("EIO=4&transport=websocket&sid=" + sid)
	if err != nil {
		t.Fatal(err)
	}
	writeWS(t, ws, websocket.MessageText, "2probe")
	readWS(t, ws)
	if status, _ := ts.post(q, "4over polling"); status != 200 {
		t.Fatalf("POST during upgrade: %d", status)
	}
	if status, body := ts.get(q); status != 200 || body != "6" {
		t.Errorf("GET during upgrade: %d %q, want a noop", status, body)
	}
	writeWS(t, ws, websocket.MessageText, "5")
	writeWS(t, ws, websocket.MessageText, "4over websocket")
	for _, want := range []string{"over polling", "over websocket"} {
		select {
		case msg := <-got:
			if msg != want {
				t.Errorf("got %q, want %q", msg, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q not delivered", want)
		}
	}
}

// TestManySlowSessions fills the queues of sessions that never read and
// checks that each is closed as slow while a reading session keeps getting
// everything.
func TestManySlowSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{MaxQueue: 16})
	var slow []*Conn
	for i := 0; i < 20; i++ {
		ts.openPolling("EIO=4&transport=polling")
		slow = append(slow, ts.nextConn())
	}
	c, err := ts.dial("EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	readWS(t, c)
	fast := ts.nextConn()
	for i := 0; i < 100; i++ {
		msg := []byte(fmt.Sprint(i))
		for _, s := range slow {
			s.Send(msg, false)
		}
		if err := fast.Send(msg, false); err != nil {
			t.Fatalf("Send to the reading session: %v", err)
		}
		if _, got := readWS(t, c); got != "4"+string(msg) {
			t.Fatalf("reading session got %q, want %q", got, "4"+string(msg))
		}
	}
	if n := ts.srv.Stats().Closes[ReasonQueueOverflow]; n != 20 {
		t.Errorf("%d sessions closed as slow, want 20", n)
	}
	if ts.srv.Len() != 1 {
		t.Errorf("Len() = %d, want 1", ts.srv.Len())
	}
}

// TestPerMessageDeflateLimit checks that with compression on, MaxPayload
// bounds the decompressed size: a small compressed frame that inflates
// beyond it closes the session.
func TestPerMessageDeflateLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{PerMessageDeflate: true, MaxPayload: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(ts.base, "http") + "?EIO=4&transport=websocket"
	c, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: ts.client, CompressionMode: websocket.CompressionContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if ext := res.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("compression not negotiated: %q", ext)
	}
	readWS(t, c)
	writeWS(t, c, websocket.MessageText, "4"+strings.Repeat("a", 900)) // within the limit
	if _, msg := readWS(t, c); len(msg) != 901 {
		t.Fatalf("echo of %d bytes", len(msg))
	}
	writeWS(t, c, websocket.MessageText, "4"+strings.Repeat("a", 100000)) // compresses to little
	if code := waitClosedErr(t, c); code != websocket.StatusMessageTooBig {
		t.Errorf("closed with %v, want %v", code, websocket.StatusMessageTooBig)
	}
}

// TestTooManyPacketsInOnePayload checks the bound on packets per POST.
func TestTooManyPacketsInOnePayload(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	sid := ts.openPolling("EIO=4&transport=polling").SID
	body := strings.Repeat("6\x1e", maxPayloadPackets) + "6"
	if status, _ := ts.post("EIO=4&transport=polling&sid="+sid, body); status != 400 {
		t.Errorf("status %d, want 400", status)
	}
	if reason := ts.waitClose(sid); reason != ReasonParseError {
		t.Errorf("close reason %q", reason)
	}
}

// TestLongPollOutlivesReadTimeout serves through an http.Server whose
// ReadTimeout is shorter than the heartbeat: long polls must still end
// with the ping, not with a cancelled request.
func TestLongPollOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	srv := NewServer(&Options{PingInterval: 600 * time.Millisecond, PingTimeout: 500 * time.Millisecond, OnConnection: func(*Conn) {}})
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.ReadTimeout = 200 * time.Millisecond
	hs.Start()
	defer hs.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	get := func(q string) (int, string) {
		t.Helper()
		res, err := client.Get(hs.URL + "/?" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	_, open := get("EIO=4&transport=polling")
	sid := open[9:29]
	if status, body := get("EIO=4&transport=polling&sid=" + sid); status != 200 || body != "2" {
		t.Errorf("long poll: %d %q, want the ping", status, body)
	}
}

// TestWebSocketClientNeverReads fills a WebSocket whose client never reads:
// once the socket buffers are full the writer blocks, the queue fills, and
// the session is closed as slow; Send never blocks meanwhile.
func TestWebSocketClientNeverReads(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{MaxQueue: 64, OnConnection: func(*Conn) {}})
	c, err := ts.dial("EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	conn := ts.nextConn()
	big := bytes.Repeat([]byte("x"), 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for {
		start := time.Now()
		err := conn.Send(big, false)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("Send blocked for %v", d)
		}
		if err != nil {
			if !errors.Is(err, ErrQueueFull) && !errors.Is(err, ErrClosed) {
				t.Fatalf("Send: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session was never closed as slow")
		}
	}
	if reason := ts.waitClose(conn.ID()); reason != ReasonQueueOverflow {
		t.Errorf("close reason %q, want %q", reason, ReasonQueueOverflow)
	}
}
