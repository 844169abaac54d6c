//go:build linux

package engineio

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// parkServer is a testServer whose http.Server the test builds itself, to
// choose the listener's idle timeout, to serve without Server.Listen, and to
// count the handlers running.
type parkServer struct {
	*testServer
	addr     string       // host:port
	ln       net.Listener // Server.Listen's listener; nil without it
	handlers atomic.Int64 // ServeHTTP calls in flight
}

// newParkServer starts srv behind a loopback httptest server, through
// Server.Listen(ln, idle) when listen is set. Sessions echo every message
// unless opts sets OnConnection.
func newParkServer(t *testing.T, opts *Options, listen bool, idle time.Duration) *parkServer {
	t.Helper()
	ps := &parkServer{testServer: &testServer{t: t, conns: make(chan *Conn, 1024), closes: make(chan closeRecord, 1024)}}
	o := ps.options(opts)
	ps.srv = NewServer(&o)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.handlers.Add(1)
		defer ps.handlers.Add(-1)
		ps.srv.ServeHTTP(w, r)
	}))
	if listen {
		hs.Listener = ps.srv.Listen(hs.Listener, idle)
		ps.ln = hs.Listener
	}
	ps.start(hs)
	ps.addr = hs.Listener.Addr().String()
	return ps
}

// rawClient is one TCP connection to the server, spoken to in plain
// HTTP/1.1, so that a test sees what happens on that very connection.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

// rawRequest returns an HTTP/1.1 request for the engine.io path with query;
// header holds name, value pairs.
func rawRequest(method, query, body string, header ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s /engine.io/?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, query)
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	if method == http.MethodPost {
		fmt.Fprintf(&b, "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// write sends reqs in one write.
func (rc *rawClient) write(reqs ...string) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(rc.c, strings.Join(reqs, "")); err != nil {
		rc.t.Fatalf("writing request: %v", err)
	}
}

// read reads one response and its body, failing the test after a few
// seconds.
func (rc *rawClient) read() (*http.Response, string) {
	rc.t.Helper()
	res, body, err := rc.readWithin(5 * time.Second)
	if err != nil {
		rc.t.Fatalf("reading response: %v", err)
	}
	return res, body
}

// readWithin reads one response and its body, giving up after d.
func (rc *rawClient) readWithin(d time.Duration) (*http.Response, string, error) {
	rc.c.SetReadDeadline(time.Now().Add(d))
	res, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b), err
}

// roundTrip sends one request and reads its answer, which must be a 200.
func (rc *rawClient) roundTrip(req string) (*http.Response, string) {
	rc.t.Helper()
	rc.write(req)
	res, body := rc.read()
	if res.StatusCode != http.StatusOK {
		rc.t.Fatalf("status %d, body %q", res.StatusCode, body)
	}
	return res, body
}

// waitEOF waits until the server closes the connection.
func (rc *rawClient) waitEOF() {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := rc.br.ReadByte()
	if err == nil {
		rc.t.Fatalf("read %q, want the connection closed", b)
	}
	if err != io.EOF {
		rc.t.Fatalf("read: %v, want EOF", err)
	}
}

// openRaw opens a protocol 4 polling session over rc and returns it.
func (ps *parkServer) openRaw(rc *rawClient, header ...string) *session {
	rc.t.Helper()
	_, body := rc.roundTrip(rawRequest(http.MethodGet, "EIO=4&transport=polling", "", header...))
	var info openInfo
	if !strings.HasPrefix(body, "0") || json.Unmarshal([]byte(body[1:]), &info) != nil {
		rc.t.Fatalf("handshake answered %q", body)
	}
	c := ps.nextConn()
	if c.ID() != info.SID {
		rc.t.Fatalf("session %s opened, handshake answered %s", c.ID(), info.SID)
	}
	return c.s
}

// pollQuery is the query of a polling request of s.
func pollQuery(s *session) string { return "EIO=4&transport=polling&sid=" + s.id }

// waitUntil waits, a few seconds at most, for cond to hold.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

// isParked reports whether s has a poll parked.
func isParked(s *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parked != nil
}

// parkWaits counts the waits armed in the poller for the parked polls of
// srv's sessions and for the connections parked idle on ln.
func parkWaits(srv *Server, ln net.Listener) (parked, idle int) {
	polls.mu.Lock()
	defer polls.mu.Unlock()
	for _, w := range polls.waits {
		switch w := w.(type) {
		case *parkedPoll:
			if w.s.srv == srv {
				parked++
			}
		case *idleConn:
			if net.Listener(w.l) == ln {
				idle++
			}
		}
	}
	return parked, idle
}

// idleParked counts the connections parked idle on ln.
func idleParked(ln net.Listener) int {
	l := ln.(*parkListener)
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.idlers)
}

// park sends a poll of s and waits for it to park.
func (rc *rawClient) park(s *session) {
	rc.t.Helper()
	rc.write(rawRequest(http.MethodGet, pollQuery(s), ""))
	waitUntil(rc.t, "the poll to park", func() bool { return isParked(s) })
}

// open opens a protocol 4 polling session on a new connection; header
// holds name, value pairs for the handshake.
func (ps *parkServer) open(header ...string) (*rawClient, *session) {
	ps.t.Helper()
	rc := dialRaw(ps.t, ps.addr)
	return rc, ps.openRaw(rc, header...)
}

// parkedPoll opens a session on a new connection and parks a poll of it.
func (ps *parkServer) parkedPoll() (*rawClient, *session) {
	ps.t.Helper()
	rc, s := ps.open()
	rc.park(s)
	return rc, s
}

// noParkedPollLeft waits for the server's goroutines to end and checks
// that no parked poll is left in the poller.
func (ps *parkServer) noParkedPollLeft() {
	ps.t.Helper()
	waitGoroutines(ps.t, ps.srv)
	if parked, _ := parkWaits(ps.srv, ps.ln); parked != 0 {
		ps.t.Errorf("%d parked polls left in the poller", parked)
	}
}

// waitGoroutines waits for srv's goroutines to end.
func waitGoroutines(t *testing.T, srv *Server) {
	t.Helper()
	waitUntil(t, "server goroutines to end", func() bool { return srv.goroutines.Load() == 0 })
}

// TestParkedPollAnsweredBySend parks a poll, checks that its handler
// returned and the poller watches its socket, answers it with Send, checks
// the answer's headers, and then uses the same TCP connection again: the
// connection came back to net/http.
func TestParkedPollAnsweredBySend(t *testing.T) {
	t.Parallel()
	const origin = "https://app.example"
	ps := newParkServer(t, &Options{AllowedOrigins: []string{origin}}, true, 0)
	rc, s := ps.open("Origin", origin)
	conn := &Conn{s: s}

	rc.write(rawRequest(http.MethodGet, pollQuery(s), "", "Origin", origin))
	waitUntil(t, "the poll to park", func() bool { return isParked(s) })
	waitUntil(t, "the poll's handler to return", func() bool { return ps.handlers.Load() == 0 })
	waitUntil(t, "the parked poll's socket to be watched", func() bool {
		parked, _ := parkWaits(ps.srv, ps.ln)
		return parked == 1
	})

	sent := time.Now()
	if err := conn.Send([]byte("hello"), false); err != nil {
		t.Fatal(err)
	}
	res, body := rc.read()
	if res.StatusCode != http.StatusOK || body != "4hello" {
		t.Fatalf("parked poll answered %d %q, want 200 %q", res.StatusCode, body, "4hello")
	}
	if res.ProtoMajor != 1 || res.ProtoMinor != 1 || res.Close {
		t.Errorf("answer is %s with Close %v, want a keep-alive HTTP/1.1 answer", res.Proto, res.Close)
	}
	for name, want := range map[string]string{
		"Content-Type":                "text/plain; charset=UTF-8",
		"Content-Length":              "6",
		"Cache-Control":               "no-store",
		"Access-Control-Allow-Origin": origin,
		"Vary":                        "Origin",
	} {
		if got := res.Header.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	date, err := http.ParseTime(res.Header.Get("Date"))
	if err != nil {
		t.Errorf("Date %q: %v", res.Header.Get("Date"), err)
	} else if d := date.Sub(sent); d < -2*time.Second || d > 10*time.Second {
		t.Errorf("Date %v is %v away from the Send", date, d)
	}
	if isParked(s) {
		t.Error("the session still has a parked poll after its answer")
	}
	if parked, _ := parkWaits(ps.srv, ps.ln); parked != 0 {
		t.Errorf("%d waits left in the poller for answered polls", parked)
	}

	// The same connection serves the next requests: a POST (echoed) and a
	// poll that gets the echo at once.
	if _, body := rc.roundTrip(rawRequest(http.MethodPost, pollQuery(s), "4again", "Origin", origin)); body != "ok" {
		t.Fatalf("POST after the parked answer: %q", body)
	}
	if _, body := rc.roundTrip(rawRequest(http.MethodGet, pollQuery(s), "", "Origin", origin)); body != "4again" {
		t.Fatalf("poll after the parked answer: %q, want %q", body, "4again")
	}
}

// TestParkedPollLargeAnswer answers a parked poll with more than the
// sockets can hold while the client reads nothing: Send returns without
// waiting for the client (the rest of the answer is written by a goroutine),
// the client then gets the whole answer, and the connection is parked and
// serves the next requests.
func TestParkedPollLargeAnswer(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, nil, true, 0)
	rc, s := ps.parkedPoll()
	big := strings.Repeat("x", 16<<20)
	if err := (&Conn{s: s}).Send([]byte(big), false); err != nil {
		t.Fatal(err)
	}
	// Send returned though the client has read nothing yet.
	res, body := rc.read()
	if res.StatusCode != http.StatusOK || len(body) != 1+len(big) || body[0] != '4' || body[1:] != big {
		t.Fatalf("parked poll answered %d with %d bytes, want 200 with %d", res.StatusCode, len(body), 1+len(big))
	}
	if _, body := rc.roundTrip(rawRequest(http.MethodPost, pollQuery(s), "4again")); body != "ok" {
		t.Fatalf("POST after the large answer: %q", body)
	}
	if _, body := rc.roundTrip(rawRequest(http.MethodGet, pollQuery(s), "")); body != "4again" {
		t.Fatalf("poll after the large answer: %q, want %q", body, "4again")
	}
	waitGoroutines(t, ps.srv)
}

// TestParkedPollEndsWithHeartbeat lets parked polls wait for the
// heartbeat: each is answered with the ping, the client answers with a
// pong, and the session stays open and usable.
func TestParkedPollEndsWithHeartbeat(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, &Options{PingInterval: 300 * time.Millisecond, PingTimeout: 300 * time.Millisecond}, true, 0)
	rc, s := ps.open()
	for round := range 3 {
		rc.park(s)
		res, body := rc.read()
		if res.StatusCode != http.StatusOK || body != "2" {
			t.Fatalf("round %d: parked poll answered %d %q, want the ping", round, res.StatusCode, body)
		}
		if _, body := rc.roundTrip(rawRequest(http.MethodPost, pollQuery(s), "3")); body != "ok" {
			t.Fatalf("round %d: pong answered %q", round, body)
		}
	}
	if _, body := rc.roundTrip(rawRequest(http.MethodPost, pollQuery(s), "4still here")); body != "ok" {
		t.Fatalf("POST answered %q", body)
	}
	if _, body := rc.roundTrip(rawRequest(http.MethodGet, pollQuery(s), "")); body != "4still here" {
		t.Fatalf("poll answered %q, want the echo", body)
	}
	if s.isClosed() {
		t.Errorf("session closed (%s) though the client answered every ping", s.reason)
	}
}

// TestParkedPollTimesOut checks the parked poll's own timeout with a
// protocol 3 session, where the server sends no pings: the poll is
// answered with a noop, and the session, kept alive by the client's
// packets meanwhile, goes on.
func TestParkedPollTimesOut(t *testing.T) {
	t.Parallel()
	const window = 500 * time.Millisecond // PingInterval + PingTimeout
	ps := newParkServer(t, &Options{PingInterval: 100 * time.Millisecond, PingTimeout: window - 100*time.Millisecond}, true, 0)
	rc := dialRaw(t, ps.addr)
	_, body := rc.roundTrip(rawRequest(http.MethodGet, "EIO=3&transport=polling", ""))
	if !strings.Contains(body, ":0{") {
		t.Fatalf("handshake answered %q", body)
	}
	s := ps.nextConn().s
	q := "EIO=3&transport=polling&sid=" + s.id

	// The client's noops, on a connection of their own, keep the session
	// alive past the poll's timeout without giving the poll an answer.
	keeper := dialRaw(t, ps.addr)
	stop, kept := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				kept <- nil
				return
			case <-time.After(50 * time.Millisecond):
			}
			keeper.c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(keeper.c, rawRequest(http.MethodPost, q, "1:6"))
			res, err := http.ReadResponse(keeper.br, nil)
			if err != nil {
				kept <- err
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(b) != "ok" {
				kept <- fmt.Errorf("noop POST answered %d %q", res.StatusCode, b)
				return
			}
		}
	}()
	stopKeeper := sync.OnceFunc(func() {
		close(stop)
		if err := <-kept; err != nil {
			t.Error(err)
		}
	})
	defer stopKeeper()

	for round := range 2 {
		rc.write(rawRequest(http.MethodGet, q, ""))
		waitUntil(t, "the poll to park", func() bool { return isParked(s) })
		parkedAt := time.Now()
		res, body := rc.read()
		if res.StatusCode != http.StatusOK || body != "1:6" {
			t.Fatalf("round %d: parked poll answered %d %q, want a noop", round, res.StatusCode, body)
		}
		// The timeout runs from the parking: the noop comes no sooner.
		if waited := time.Since(parkedAt); waited < window-defaultParkAfter-100*time.Millisecond {
			t.Errorf("round %d: noop after %v, before the poll's timeout", round, waited)
		}
	}
	if s.isClosed() {
		t.Fatalf("session closed (%s) though the client kept sending", s.reason)
	}
	// A POST while the keeper's is in flight would be refused as an
	// overlap, as on any Engine.IO server.
	stopKeeper()
	if _, body := rc.roundTrip(rawRequest(http.MethodPost, q, "2:2x")); body != "ok" {
		t.Fatalf("ping answered %q", body)
	}
	if _, body := rc.roundTrip(rawRequest(http.MethodGet, q, "")); body != "2:3x" {
		t.Fatalf("poll answered %q, want the pong", body)
	}
}

// TestParkedPollClientCloses closes the client's connection while its
// poll is parked: the poller sees it and the session closes as a transport
// close, leaving nothing in the poller and no goroutine behind.
func TestParkedPollClientCloses(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, nil, true, 0)
	rc, s := ps.parkedPoll()
	waitUntil(t, "the parked poll's socket to be watched", func() bool {
		parked, _ := parkWaits(ps.srv, ps.ln)
		return parked == 1
	})
	rc.c.Close()
	if reason := ps.waitClose(s.id); reason != ReasonTransportClose {
		t.Errorf("close reason %q, want %q", reason, ReasonTransportClose)
	}
	if isParked(s) {
		t.Error("the closed session still has a parked poll")
	}
	waitGoroutines(t, ps.srv)
	waitUntil(t, "the session to be forgotten", func() bool { return ps.srv.Len() == 0 })
	if parked, idle := parkWaits(ps.srv, ps.ln); parked != 0 || idle != 0 {
		t.Errorf("%d parked polls and %d idle connections left in the poller", parked, idle)
	}
}

// TestParkedPollServerCloses closes the session on the server while its
// poll is parked: the poll gets the close packet.
func TestParkedPollServerCloses(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, nil, true, 0)
	rc, s := ps.parkedPoll()
	(&Conn{s: s}).Close()
	res, body := rc.read()
	if res.StatusCode != http.StatusOK || body != "1" {
		t.Fatalf("parked poll answered %d %q, want the close packet", res.StatusCode, body)
	}
	if reason := ps.waitClose(s.id); reason != ReasonForced {
		t.Errorf("close reason %q, want %q", reason, ReasonForced)
	}
	// The connection is back with net/http: the next poll is refused there.
	rc.write(rawRequest(http.MethodGet, pollQuery(s), ""))
	if res, _ := rc.read(); res.StatusCode != http.StatusBadRequest {
		t.Errorf("poll of the closed session: status %d, want 400", res.StatusCode)
	}
	ps.noParkedPollLeft()
}

// TestParkedPollUpgrade upgrades a session whose poll is parked: the probe
// answers the poll with a noop, and after the upgrade messages flow over
// the WebSocket.
func TestParkedPollUpgrade(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, nil, true, 0)
	rc, s := ps.parkedPoll()
	ws, err := ps.dial("EIO=4&transport=websocket&sid=" + s.id)
	if err != nil {
		t.Fatal(err)
	}
	writeWS(t, ws, websocket.MessageText, "2probe")
	if _, msg := readWS(t, ws); msg != "3probe" {
		t.Fatalf("probe answered %q", msg)
	}
	res, body := rc.read()
	if res.StatusCode != http.StatusOK || body != "6" {
		t.Fatalf("parked poll answered %d %q during the upgrade, want a noop", res.StatusCode, body)
	}
	writeWS(t, ws, websocket.MessageText, "5")
	writeWS(t, ws, websocket.MessageText, "4over websocket")
	if _, msg := readWS(t, ws); msg != "4over websocket" {
		t.Fatalf("echo over the WebSocket: %q", msg)
	}
	if err := (&Conn{s: s}).Send([]byte("pushed"), false); err != nil {
		t.Fatal(err)
	}
	if _, msg := readWS(t, ws); msg != "4pushed" {
		t.Fatalf("Send after the upgrade: %q", msg)
	}
	if isParked(s) {
		t.Error("the upgraded session still has a parked poll")
	}
}

// TestParkedPostConnection checks the keep-alive connection of polling
// POSTs: after "ok" it waits parked, serves the client's next POST, is
// closed by the server after the listener's idle timeout, and is closed
// by the listener's Close.
func TestParkedPostConnection(t *testing.T) {
	t.Parallel()
	t.Run("reused and expired", func(t *testing.T) {
		t.Parallel()
		const idle = 300 * time.Millisecond
		got := make(chan string, 4)
		ps := newParkServer(t, &Options{OnConnection: func(c *Conn) {
			c.OnMessage(func(data []byte, binary bool) { got <- string(data) })
		}}, true, idle)
		rc, s := ps.open()
		for _, msg := range []string{"first", "second"} {
			if _, body := rc.roundTrip(rawRequest(http.MethodPost, pollQuery(s), "4"+msg)); body != "ok" {
				t.Fatalf("POST %s answered %q", msg, body)
			}
			select {
			case m := <-got:
				if m != msg {
					t.Fatalf("delivered %q, want %q", m, msg)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%q not delivered", msg)
			}
			waitUntil(t, "the connection to park idle", func() bool { return idleParked(ps.ln) == 1 })
			if _, idle := parkWaits(ps.srv, ps.ln); idle != 1 {
				t.Fatalf("%d idle connections watched by the poller, want 1", idle)
			}
		}
		rc.waitEOF()
		if n := idleParked(ps.ln); n != 0 {
			t.Errorf("%d connections still parked idle after the idle timeout", n)
		}
		if _, idle := parkWaits(ps.srv, ps.ln); idle != 0 {
			t.Errorf("%d idle connections left in the poller", idle)
		}
	})
	t.Run("closed with the listener", func(t *testing.T) {
		t.Parallel()
		ps := newParkServer(t, nil, true, 0)
		rc, s := ps.open()
		if _, body := rc.roundTrip(rawRequest(http.MethodPost, pollQuery(s), "4x")); body != "ok" {
			t.Fatalf("POST answered %q", body)
		}
		waitUntil(t, "the connection to park idle", func() bool { return idleParked(ps.ln) == 1 })
		if err := ps.ln.Close(); err != nil {
			t.Fatal(err)
		}
		rc.waitEOF()
		if _, idle := parkWaits(ps.srv, ps.ln); idle != 0 {
			t.Errorf("%d idle connections left in the poller", idle)
		}
	})
}

// TestParkedPipelined sends a poll and the client's next POST in one
// write: the bytes of the POST that net/http had read already go back with
// the parked connection, and both are answered in order. (A POST and the
// next poll in one write: TestParkedAfterPipelining.)
func TestParkedPipelined(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, nil, true, 0)
	rc, s := ps.open()
	rc.write(rawRequest(http.MethodGet, pollQuery(s), ""), rawRequest(http.MethodPost, pollQuery(s), "4echoed"))
	waitUntil(t, "the poll to park", func() bool { return isParked(s) })
	s.mu.Lock()
	pending := len(s.parked.pending)
	s.mu.Unlock()
	if pending == 0 {
		t.Fatal("the parked poll holds no bytes of the pipelined POST")
	}
	if err := (&Conn{s: s}).Send([]byte("pushed"), false); err != nil {
		t.Fatal(err)
	}
	if res, body := rc.read(); res.StatusCode != http.StatusOK || body != "4pushed" {
		t.Fatalf("poll answered %d %q, want %q", res.StatusCode, body, "4pushed")
	}
	if res, body := rc.read(); res.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("pipelined POST answered %d %q", res.StatusCode, body)
	}
	if _, body := rc.roundTrip(rawRequest(http.MethodGet, pollQuery(s), "")); body != "4echoed" {
		t.Fatalf("poll answered %q, want the echo of the pipelined POST", body)
	}
}

// TestParkedNotWithoutListen serves without Server.Listen: a poll that
// waits longer than parkAfter stays in its handler and is answered there.
func TestParkedNotWithoutListen(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, nil, false, 0)
	rc, s := ps.open()
	rc.write(rawRequest(http.MethodGet, pollQuery(s), ""))
	waitUntil(t, "the poll's handler to run", func() bool { return ps.handlers.Load() == 1 })
	time.Sleep(3 * defaultParkAfter)
	if isParked(s) {
		t.Fatal("poll parked without Server.Listen")
	}
	if n := ps.handlers.Load(); n != 1 {
		t.Fatalf("%d handlers running, want the poll's", n)
	}
	if err := (&Conn{s: s}).Send([]byte("pushed"), false); err != nil {
		t.Fatal(err)
	}
	if res, body := rc.read(); res.StatusCode != http.StatusOK || body != "4pushed" {
		t.Fatalf("poll answered %d %q", res.StatusCode, body)
	}
	if _, body := rc.roundTrip(rawRequest(http.MethodPost, pollQuery(s), "4x")); body != "ok" {
		t.Fatalf("POST answered %q", body)
	}
	if _, body := rc.roundTrip(rawRequest(http.MethodGet, pollQuery(s), "")); body != "4x" {
		t.Fatalf("poll answered %q", body)
	}
}

// parkAtOnce reports whether s's next poll parks at once.
func parkAtOnce(s *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parkAtOnce
}

// TestParkAtOnce serves with an hour's wait before parking, so a poll that
// parks at all parked at once: a session marked for it parks its next poll
// so, a parked poll answered within that wait makes the next one wait in
// its handler again, and so does a poll answered from its handler.
func TestParkAtOnce(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, &Options{parkAfter: time.Hour}, true, 0)
	rc, s := ps.open()
	conn := &Conn{s: s}
	mark := func() {
		s.mu.Lock()
		s.parkAtOnce = true
		s.mu.Unlock()
	}
	waitsInHandler := func(what string) {
		t.Helper()
		rc.write(rawRequest(http.MethodGet, pollQuery(s), ""))
		waitUntil(t, "the poll's handler to run", func() bool { return ps.handlers.Load() == 1 })
		time.Sleep(50 * time.Millisecond)
		if isParked(s) {
			t.Fatalf("%s: the poll parked at once", what)
		}
		if err := conn.Send([]byte(what), false); err != nil {
			t.Fatal(err)
		}
		if res, body := rc.read(); res.StatusCode != http.StatusOK || body != "4"+what {
			t.Fatalf("%s: poll answered %d %q", what, res.StatusCode, body)
		}
	}

	waitsInHandler("new session")
	if parkAtOnce(s) {
		t.Fatal("a poll answered from its handler marked the session")
	}

	mark()
	rc.park(s)
	if err := conn.Send([]byte("soon"), false); err != nil {
		t.Fatal(err)
	}
	if _, body := rc.read(); body != "4soon" {
		t.Fatalf("parked poll answered %q", body)
	}
	if parkAtOnce(s) {
		t.Fatal("a parked poll answered within the wait left the session marked")
	}
	waitsInHandler("busy again")

	// A poll that finds packets queued is answered from its handler, and
	// the session is busy.
	mark()
	if err := conn.Send([]byte("queued"), false); err != nil {
		t.Fatal(err)
	}
	if _, body := rc.roundTrip(rawRequest(http.MethodGet, pollQuery(s), "")); body != "4queued" {
		t.Fatalf("poll answered %q", body)
	}
	if parkAtOnce(s) {
		t.Fatal("a poll answered with queued packets left the session marked")
	}
}

// TestParkMarksSession: a parked poll answered after waiting parked for
// the handler's wait marks its session (so does one that times out), and
// the next such answer leaves it marked; parking alone does not mark it.
func TestParkMarksSession(t *testing.T) {
	t.Parallel()
	const wait = 20 * time.Millisecond
	ps := newParkServer(t, &Options{parkAfter: wait}, true, 0)
	rc, s := ps.open()
	for round := range 2 {
		rc.park(s)
		if round == 0 && parkAtOnce(s) {
			t.Fatal("parking marked the session before its poll waited parked")
		}
		time.Sleep(3 * wait)
		if err := (&Conn{s: s}).Send([]byte("late"), false); err != nil {
			t.Fatal(err)
		}
		if _, body := rc.read(); body != "4late" {
			t.Fatalf("round %d: parked poll answered %q", round, body)
		}
		if !parkAtOnce(s) {
			t.Fatalf("round %d: a parked poll answered after the wait left the session unmarked", round)
		}
	}

	// A poll that times out parked (its timer, called here at once) marks
	// its session too.
	rc, s = ps.open()
	rc.park(s)
	if parkAtOnce(s) {
		t.Fatal("parking marked the session before its poll waited parked")
	}
	s.answerParked(nil, true)
	if _, body := rc.read(); body != "6" {
		t.Fatalf("timed out poll answered %q, want a noop", body)
	}
	if !parkAtOnce(s) {
		t.Fatal("a parked poll that timed out left the session unmarked")
	}
}

// TestManyParkedPolls parks the polls of many sessions at once: they hold
// no goroutine each while they wait, and each gets its own answer. Not
// parallel: it counts the process's goroutines.
func TestManyParkedPolls(t *testing.T) {
	const n = 200
	ps := newParkServer(t, nil, true, 0)
	clients := make([]*rawClient, n)
	sessions := make([]*session, n)
	for i := range clients {
		clients[i] = dialRaw(t, ps.addr)
		sessions[i] = ps.openRaw(clients[i])
	}
	// Each connection holds a net/http goroutine until its poll parks.
	before := runtime.NumGoroutine()
	for i, rc := range clients {
		rc.write(rawRequest(http.MethodGet, pollQuery(sessions[i]), ""))
	}
	waitUntil(t, "every poll to park", func() bool {
		for _, s := range sessions {
			if !isParked(s) {
				return false
			}
		}
		return ps.handlers.Load() == 0
	})
	waitUntil(t, "every parked poll to be watched", func() bool {
		parked, _ := parkWaits(ps.srv, ps.ln)
		return parked == n
	})
	if grown := runtime.NumGoroutine() - before; grown > n/10 {
		t.Errorf("%d parked polls took %d goroutines more than %d idle keep-alive connections", n, grown, n)
	}
	buf := make([]byte, 4<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if k := strings.Count(stacks, "engineio.(*session).poll("); k != 0 {
		t.Errorf("%d goroutines wait in session.poll while every poll is parked", k)
	}

	for i, s := range sessions {
		if err := (&Conn{s: s}).Send(fmt.Appendf(nil, "m%d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	for i, rc := range clients {
		if res, body := rc.read(); res.StatusCode != http.StatusOK || body != fmt.Sprintf("4m%d", i) {
			t.Fatalf("session %d: poll answered %d %q", i, res.StatusCode, body)
		}
	}
	if parked, _ := parkWaits(ps.srv, ps.ln); parked != 0 {
		t.Errorf("%d waits left in the poller after every poll was answered", parked)
	}
	waitGoroutines(t, ps.srv)
}

// TestParkedClosingRequests checks requests that ask to close their
// connection ("Connection: close"): they are answered in their handlers,
// not parked, and the connection is closed after the answer.
func TestParkedClosingRequests(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			ps := newParkServer(t, nil, true, 0)
			rc, s := ps.open()
			if method == http.MethodPost {
				rc.write(rawRequest(http.MethodPost, pollQuery(s), "4x", "Connection", "close"))
			} else {
				rc.write(rawRequest(http.MethodGet, pollQuery(s), "", "Connection", "close"))
				time.Sleep(3 * defaultParkAfter)
				if isParked(s) {
					t.Fatal("a poll asking to close its connection was parked")
				}
				if err := (&Conn{s: s}).Send([]byte("x"), false); err != nil {
					t.Fatal(err)
				}
			}
			res, body := rc.read()
			if want := map[string]string{http.MethodGet: "4x", http.MethodPost: "ok"}[method]; res.StatusCode != http.StatusOK || body != want {
				t.Fatalf("answered %d %q, want %q", res.StatusCode, body, want)
			}
			if !res.Close {
				t.Error("answer does not say the connection closes")
			}
			rc.waitEOF()
			if n := idleParked(ps.ln); n != 0 {
				t.Errorf("%d connections parked idle", n)
			}
		})
	}
}

// TestParkedAfterPipelining sends a POST and the next poll in one write:
// both are answered in order, the POST's connection does not park idle
// with the poll pending, and it parks as well as any afterwards:
// its next parked poll is watched, so that the client closing it still
// closes the session.
func TestParkedAfterPipelining(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, nil, true, 0)
	rc, s := ps.open()
	rc.write(rawRequest(http.MethodPost, pollQuery(s), "4echoed"), rawRequest(http.MethodGet, pollQuery(s), ""))
	for _, want := range []string{"ok", "4echoed"} {
		if res, body := rc.read(); res.StatusCode != http.StatusOK || body != want {
			t.Fatalf("answered %d %q, want %q", res.StatusCode, body, want)
		}
	}
	if n := idleParked(ps.ln); n != 0 {
		t.Errorf("%d connections parked idle with a request pending", n)
	}
	// A POST's connection parks idle, watched by the poller.
	if _, body := rc.roundTrip(rawRequest(http.MethodPost, pollQuery(s), "4again")); body != "ok" {
		t.Fatalf("POST answered %q", body)
	}
	time.Sleep(50 * time.Millisecond)
	if _, idle := parkWaits(ps.srv, ps.ln); idle != 1 {
		t.Errorf("%d idle connections watched by the poller after a POST, want 1", idle)
	}
	if _, body := rc.roundTrip(rawRequest(http.MethodGet, pollQuery(s), "")); body != "4again" {
		t.Fatalf("poll answered %q, want the echo", body)
	}
	// A poll parks, watched by the poller.
	rc.park(s)
	time.Sleep(50 * time.Millisecond)
	if parked, _ := parkWaits(ps.srv, ps.ln); parked != 1 {
		t.Errorf("%d parked polls watched by the poller, want 1", parked)
	}
	rc.c.Close()
	if reason := ps.waitClose(s.id); reason != ReasonTransportClose {
		t.Errorf("close reason %q, want %q", reason, ReasonTransportClose)
	}
}

// TestParkedPollPingTimeout lets a session whose client never answers the
// ping time out while its next poll is parked: the poll gets a noop and the
// session closes with a ping timeout.
func TestParkedPollPingTimeout(t *testing.T) {
	t.Parallel()
	// The poll's own timeout comes a whole ping interval after the ping
	// timeout, so only the session's close can answer it in time.
	ps := newParkServer(t, &Options{PingInterval: time.Second, PingTimeout: 300 * time.Millisecond}, true, 0)
	rc, s := ps.open()
	if _, body := rc.roundTrip(rawRequest(http.MethodGet, pollQuery(s), "")); body != "2" {
		t.Fatalf("poll answered %q, want the ping", body)
	}
	rc.park(s)
	if reason := ps.waitClose(s.id); reason != ReasonPingTimeout {
		t.Errorf("close reason %q, want %q", reason, ReasonPingTimeout)
	}
	// The close answers the parked poll before OnClose runs.
	if isParked(s) {
		t.Error("the poll is still parked after the session closed")
	}
	if res, body := rc.read(); res.StatusCode != http.StatusOK || body != "6" {
		t.Fatalf("parked poll answered %d %q at the ping timeout, want a noop", res.StatusCode, body)
	}
	ps.noParkedPollLeft()
}

// TestParkedPollShutdown shuts the server down while a poll is parked:
// the poll gets the close packet and Shutdown returns.
func TestParkedPollShutdown(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, nil, true, 0)
	rc, s := ps.parkedPoll()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- ps.srv.Shutdown(ctx)
	}()
	if res, body := rc.read(); res.StatusCode != http.StatusOK || body != "1" {
		t.Fatalf("parked poll answered %d %q at shutdown, want the close packet", res.StatusCode, body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if reason := ps.waitClose(s.id); reason != ReasonShutdown {
		t.Errorf("close reason %q, want %q", reason, ReasonShutdown)
	}
}

// TestParkedIdleClientCloses closes the client's side of a connection
// parked idle after a POST: the poller hands it back, net/http closes it,
// and nothing is left parked or watched.
func TestParkedIdleClientCloses(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, nil, true, 0)
	rc, s := ps.open()
	if _, body := rc.roundTrip(rawRequest(http.MethodPost, pollQuery(s), "4x")); body != "ok" {
		t.Fatalf("POST answered %q", body)
	}
	waitUntil(t, "the connection to park idle", func() bool { return idleParked(ps.ln) == 1 })
	rc.c.Close()
	waitUntil(t, "the idle connection to leave the listener", func() bool { return idleParked(ps.ln) == 0 })
	if _, idle := parkWaits(ps.srv, ps.ln); idle != 0 {
		t.Errorf("%d idle connections left in the poller", idle)
	}
	if s.isClosed() {
		t.Errorf("session closed (%s) by the end of a connection with no poll", s.reason)
	}
}
