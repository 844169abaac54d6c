//go:build linux

package engineio

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dialBase dials the server whose Engine.IO URL is base.
func dialBase(t *testing.T, base string) *rawClient {
	t.Helper()
	return dialRaw(t, strings.TrimPrefix(strings.TrimSuffix(base, "/engine.io/"), "http://"))
}

// waitParked waits for session sid's poll to park and returns the session.
func waitParked(t *testing.T, ts *testServer, sid string) *session {
	t.Helper()
	ts.srv.mu.RLock()
	s := ts.srv.sessions[sid]
	ts.srv.mu.RUnlock()
	waitUntil(t, "the poll to park", func() bool { return isParked(s) })
	return s
}

// A client that sends one TCP urgent (OOB) byte while its poll is parked,
// which a read cannot take and may hide the end of the stream from the
// watch: the session still ends once the client goes away, at the latest
// when its heartbeat times out.
func TestParkEdgeOOBByteDropsWatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{PingInterval: 300 * time.Millisecond, PingTimeout: 300 * time.Millisecond})
	sid := ts.openPolling("EIO=4&transport=polling").SID
	rc := dialBase(t, ts.base)
	rc.write(rawRequest("GET", "EIO=4&transport=polling&sid="+sid, ""))
	waitParked(t, ts, sid)
	raw, _ := rc.c.(*net.TCPConn).SyscallConn()
	raw.Write(func(fd uintptr) bool {
		if err := syscall.Sendto(int(fd), []byte{'!'}, syscall.MSG_OOB, nil); err != nil {
			t.Errorf("send OOB: %v", err)
		}
		return true
	})
	time.Sleep(200 * time.Millisecond)
	rc.c.Close()
	select {
	case rec := <-ts.closes:
		t.Logf("closed: %+v", rec)
	case <-time.After(3 * time.Second):
		t.Errorf("session %s still open 3 s after its client went away", sid)
	}
}

// Pipelined POSTs on one connection: however many there are, the
// connection is wrapped in one prefixConn at most.
func TestParkEdgePrefixConnNesting(t *testing.T) {
	ts := newTestServer(t, nil)
	sid := ts.openPolling("EIO=4&transport=polling").SID
	rc := dialBase(t, ts.base)
	const n = 50
	var all strings.Builder
	for range n {
		all.WriteString(rawRequest("POST", "EIO=4&transport=polling&sid="+sid, "6"))
	}
	rc.write(all.String())
	for i := range n {
		if _, body, err := rc.readWithin(5 * time.Second); err != nil || body != "ok" {
			t.Fatalf("POST %d: %q %v", i, body, err)
		}
	}
	// Park a poll on the same connection, then find its conn's depth.
	rc.write(rawRequest("GET", "EIO=4&transport=polling&sid="+sid, ""))
	s := waitParked(t, ts, sid)
	s.mu.Lock()
	var c net.Conn = s.parked.conn
	s.mu.Unlock()
	depth := 0
	for {
		pc, ok := c.(*prefixConn)
		if !ok {
			break
		}
		depth++
		c = pc.Conn
	}
	if depth > 1 {
		t.Errorf("the parked connection is %d prefixConns deep after %d pipelined POSTs", depth, n)
	}
}

// A second GET while a poll is parked is refused and ends the session; the
// parked poll gets the close packet.
func TestParkEdgeSecondGetWhileParked(t *testing.T) {
	ts := newTestServer(t, nil)
	sid := ts.openPolling("EIO=4&transport=polling").SID
	rc := dialBase(t, ts.base)
	rc.write(rawRequest("GET", "EIO=4&transport=polling&sid="+sid, ""))
	waitParked(t, ts, sid)
	status, body := ts.get("EIO=4&transport=polling&sid=" + sid)
	if status != http.StatusBadRequest {
		t.Errorf("second GET: %d %q", status, body)
	}
	_, b, err := rc.readWithin(3 * time.Second)
	if err != nil || b != "1" {
		t.Errorf("parked poll answered %q, %v; want the close packet", b, err)
	}
	if r := ts.waitClose(sid); r != ReasonTransportError {
		t.Errorf("reason %q", r)
	}
}

// The same keep-alive connection parks poll after poll and the client
// going away during the second is still seen at once.
func TestParkEdgeReparkSameConn(t *testing.T) {
	ts := newTestServer(t, nil)
	var conn *Conn
	sid := ts.openPolling("EIO=4&transport=polling").SID
	conn = <-ts.conns
	rc := dialBase(t, ts.base)
	for i := range 3 {
		rc.write(rawRequest("GET", "EIO=4&transport=polling&sid="+sid, ""))
		waitParked(t, ts, sid)
		conn.Send([]byte(fmt.Sprint("m", i)), false)
		if _, b, err := rc.readWithin(3 * time.Second); err != nil || b != fmt.Sprint("4m", i) {
			t.Fatalf("poll %d: %q %v", i, b, err)
		}
	}
	rc.write(rawRequest("GET", "EIO=4&transport=polling&sid="+sid, ""))
	waitParked(t, ts, sid)
	rc.c.Close()
	if r := ts.waitClose(sid); r != ReasonTransportClose {
		t.Errorf("reason %q", r)
	}
}

// Headers of a parked answer against those of a handler's answer.
func TestParkEdgeParkedHeaders(t *testing.T) {
	ts := newTestServer(t, &Options{AllowedOrigins: []string{"http://a.example"}, AllowCredentials: true})
	for _, q := range []string{"EIO=4&transport=polling", "EIO=3&transport=polling", "EIO=3&transport=polling&j=0", "EIO=3&transport=polling&b64=1"} {
		info := ts.openPolling(strings.Replace(q, "&j=0", "", 1))
		if strings.Contains(q, "j=0") {
			// JSONP needs its handshake with j; redo it.
			status, _, body := ts.do("GET", q, "", nil)
			_ = status
			i := strings.Index(body, `sid\":\"`)
			if i < 0 {
				t.Fatalf("jsonp handshake %q", body)
			}
			rest := body[i+len(`sid\":\"`):]
			info.SID = rest[:strings.Index(rest, `\"`)]
		}
		conn := <-ts.conns
		if strings.Contains(q, "j=0") {
			conn = <-ts.conns
		}
		sq := q + "&sid=" + info.SID
		send := func() { conn.Send([]byte{1, 2, 3}, true) }
		rc := dialBase(t, ts.base)
		// Handler answer: queued before the poll.
		send()
		rc.write(rawRequest("GET", sq, "", "Origin", "http://a.example"))
		r1, b1, err := rc.readWithin(3 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// Parked answer.
		rc.write(rawRequest("GET", sq, "", "Origin", "http://a.example"))
		waitParked(t, ts, info.SID)
		send()
		r2, b2, err := rc.readWithin(3 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		r1.Header.Del("Date")
		r2.Header.Del("Date")
		if fmt.Sprint(r1.Header) != fmt.Sprint(r2.Header) || b1 != b2 || r1.Proto != r2.Proto {
			t.Errorf("%s:\nhandler %s %v %q\nparked  %s %v %q", q, r1.Proto, r1.Header, b1, r2.Proto, r2.Header, b2)
		}
		// POST parked against POST by handler (Connection: close).
		pbody, ptype := "6", "text/plain"
		switch {
		case strings.Contains(q, "j=0"):
			pbody, ptype = "d=1%3A6", "application/x-www-form-urlencoded"
		case strings.Contains(q, "EIO=3"):
			pbody = "1:6"
		}
		rc.write(strings.Replace(rawRequest("POST", sq, pbody, "Origin", "http://a.example"), "text/plain", ptype, 1))
		p1, pb1, err := rc.readWithin(3 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		rc2 := dialBase(t, ts.base)
		rc2.write(strings.Replace(rawRequest("POST", sq, pbody, "Origin", "http://a.example", "Connection", "close"), "text/plain", ptype, 1))
		p2, pb2, err := rc2.readWithin(3 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		p1.Header.Del("Date")
		p2.Header.Del("Date")
		p2.Header.Del("Connection")
		if fmt.Sprint(p1.Header) != fmt.Sprint(p2.Header) || pb1 != pb2 {
			t.Errorf("%s POST:\nparked  %v %q\nhandler %v %q", q, p1.Header, pb1, p2.Header, pb2)
		}
		conn.Close()
	}
}

// After a parked poll's answer the connection waits parked for the next
// request, so http.Server.Shutdown returns at once, as with an idle
// keep-alive connection (a connection handed straight back would be new to
// net/http, which counts a new connection active for 5 s).
func TestParkEdgeShutdownWaitsForHandedBack(t *testing.T) {
	eng, hs, served, ts := serveLikeMain(t)
	base := ts.base
	sid := ts.openPolling("EIO=4&transport=polling").SID
	rc := dialBase(t, base)
	rc.write(rawRequest("GET", "EIO=4&transport=polling&sid="+sid, ""))
	waitParked(t, ts, sid)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, b, err := rc.readWithin(3 * time.Second); err != nil || b != "1" {
		t.Fatalf("poll %q %v", b, err)
	}
	ts.client.CloseIdleConnections()
	start := time.Now()
	if err := hs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-served
	if d := time.Since(start); d > time.Second {
		t.Errorf("http.Server.Shutdown took %v with one keep-alive client connection holding a close packet answer", d)
	}
}

// ServeTLS over the parking listener: requests over TLS are not parked, so
// a *tls.Conn is never handed back to be wrapped in TLS a second time.
func TestParkEdgeTLSHandBack(t *testing.T) {
	eng := NewServer(&Options{OnConnection: func(*Conn) {}, PingInterval: 400 * time.Millisecond, PingTimeout: 2 * time.Second})
	hs := httptest.NewUnstartedServer(eng)
	hs.Listener = eng.Listen(hs.Listener, 0)
	hs.StartTLS()
	defer hs.Close()
	client := hs.Client()
	client.Timeout = 5 * time.Second
	ts := &testServer{t: t, srv: eng, base: hs.URL + "/engine.io/", client: client}
	sid := ts.openPolling("EIO=4&transport=polling").SID
	for i := range 2 {
		res, err := client.Get(ts.base + "?EIO=4&transport=polling&sid=" + sid)
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Logf("poll %d: %d %q", i, res.StatusCode, b)
	}
	_ = tls.VersionTLS13
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	eng.Shutdown(ctx)
}

// After a parked poll's answer, as after a handler's, the client's next
// request may come within IdleTimeout (not only ReadHeaderTimeout, as on a
// new connection).
func TestParkEdgeHandBackTimeout(t *testing.T) {
	var conn *Conn
	got := make(chan *Conn, 1)
	eng := NewServer(&Options{OnConnection: func(c *Conn) { got <- c }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: eng, ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 30 * time.Second}
	go hs.Serve(eng.Listen(ln, 30*time.Second))
	defer hs.Close()
	base := "http://" + ln.Addr().String() + "/engine.io/"
	ts := &testServer{t: t, srv: eng, base: base, client: &http.Client{Transport: &http.Transport{}}}
	sid := ts.openPolling("EIO=4&transport=polling").SID
	conn = <-got
	for _, parked := range []bool{false, true} {
		rc := dialBase(t, base)
		q := "EIO=4&transport=polling&sid=" + sid
		if parked {
			rc.write(rawRequest("GET", q, ""))
			waitParked(t, ts, sid)
			conn.Send([]byte("x"), false)
		} else {
			conn.Send([]byte("x"), false)
			rc.write(rawRequest("GET", q, ""))
		}
		if _, b, err := rc.readWithin(3 * time.Second); err != nil || b != "4x" {
			t.Fatalf("poll: %q %v", b, err)
		}
		time.Sleep(time.Second)
		conn.Send([]byte("y"), false)
		rc.write(rawRequest("GET", q, ""))
		_, b, err := rc.readWithin(3 * time.Second)
		t.Logf("parked=%v: next poll after 1 s idle: %q %v", parked, b, err)
		if err != nil {
			t.Errorf("parked=%v: keep-alive connection closed after 1 s idle (IdleTimeout 30 s)", parked)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	eng.Shutdown(ctx)
}

// Many parked polls answered by racing sends, closes, client hang-ups and
// the server's ping: every poll gets at most one answer, and the server's
// goroutines end.
func TestParkEdgeParkStress(t *testing.T) {
	ts := newTestServer(t, &Options{OnConnection: func(*Conn) {}, PingInterval: 150 * time.Millisecond, PingTimeout: 2 * time.Second})
	const n = 60
	type sess struct {
		sid  string
		conn *Conn
		rc   *rawClient
	}
	all := make([]sess, n)
	for i := range all {
		all[i].sid = ts.openPolling("EIO=4&transport=polling").SID
		all[i].conn = <-ts.conns
		all[i].rc = dialBase(t, ts.base)
	}
	for round := range 5 {
		done := make(chan string, n)
		for i := range all {
			go func(s *sess) {
				q := "EIO=4&transport=polling&sid=" + s.sid
				s.rc.write(rawRequest("GET", q, ""))
				time.Sleep(time.Duration(90+i%30) * time.Millisecond)
				switch (i + round) % 4 {
				case 0:
					s.conn.Send([]byte("a"), false)
				case 1:
					go s.conn.Send([]byte("b"), false)
					go s.conn.Send([]byte("c"), false)
				}
				_, b, err := s.rc.readWithin(3 * time.Second)
				if err != nil {
					done <- fmt.Sprintf("%d: %v", i, err)
					return
				}
				// POST a pong so the session lives on.
				s.rc.write(rawRequest("POST", q, "3"))
				_, pb, err := s.rc.readWithin(3 * time.Second)
				if err != nil || pb != "ok" {
					done <- fmt.Sprintf("%d: post %q %v (poll %q)", i, pb, err, b)
					return
				}
				done <- ""
			}(&all[i])
		}
		for range all {
			if msg := <-done; msg != "" {
				t.Errorf("round %d: %s", round, msg)
			}
		}
	}
	// Hang up half while parked; close the others from the server side.
	for i := range all {
		all[i].rc.write(rawRequest("GET", "EIO=4&transport=polling&sid="+all[i].sid, ""))
	}
	time.Sleep(200 * time.Millisecond)
	for i := range all {
		if i%2 == 0 {
			all[i].rc.c.Close()
		} else {
			go all[i].conn.Close()
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for ts.srv.Len() > 0 || ts.srv.goroutines.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sessions %d, goroutines %d left", ts.srv.Len(), ts.srv.goroutines.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Upgrade while a poll is parked: the poll gets a noop at the probe, the
// upgrade completes, and messages go over the WebSocket.
func TestParkEdgeUpgradeWhileParked(t *testing.T) {
	ts := newTestServer(t, nil)
	sid := ts.openPolling("EIO=4&transport=polling").SID
	conn := <-ts.conns
	rc := dialBase(t, ts.base)
	q := "EIO=4&transport=polling&sid=" + sid
	rc.write(rawRequest("GET", q, ""))
	waitParked(t, ts, sid)
	ws, err := ts.dial("EIO=4&transport=websocket&sid=" + sid)
	if err != nil {
		t.Fatal(err)
	}
	writeWS(t, ws, 1, "2probe")
	if _, m := readWS(t, ws); m != "3probe" {
		t.Fatalf("probe answer %q", m)
	}
	if _, b, err := rc.readWithin(3 * time.Second); err != nil || b != "6" {
		t.Fatalf("parked poll after probe: %q %v", b, err)
	}
	writeWS(t, ws, 1, "5")
	deadline := time.Now().Add(3 * time.Second)
	for conn.Transport() != "websocket" {
		if time.Now().After(deadline) {
			t.Fatal("not upgraded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	conn.Send([]byte("hello"), false)
	if _, m := readWS(t, ws); m != "4hello" {
		t.Fatalf("ws got %q", m)
	}
	rc.write(rawRequest("GET", q, ""))
	if res, _, err := rc.readWithin(3 * time.Second); err != nil || res.StatusCode != 400 {
		t.Fatalf("poll after upgrade: %v %v", res, err)
	}
}

// A POST's connection parked idle is closed after the idle timeout, and at
// once when the listener closes.
func TestParkEdgeIdleParkEnds(t *testing.T) {
	eng := NewServer(&Options{OnConnection: func(*Conn) {}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: eng, ReadHeaderTimeout: 5 * time.Second}
	pl := eng.Listen(ln, 300*time.Millisecond)
	go hs.Serve(pl)
	base := "http://" + ln.Addr().String() + "/engine.io/"
	ts := &testServer{t: t, srv: eng, base: base, client: &http.Client{Transport: &http.Transport{}}}
	sid := ts.openPolling("EIO=4&transport=polling").SID
	q := "EIO=4&transport=polling&sid=" + sid
	a, b := dialBase(t, base), dialBase(t, base)
	for _, rc := range []*rawClient{a, b} {
		rc.write(rawRequest("POST", q, "6"))
		if _, body, err := rc.readWithin(3 * time.Second); err != nil || body != "ok" {
			t.Fatal(body, err)
		}
	}
	start := time.Now()
	b.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = b.br.ReadByte()
	t.Logf("idle conn ended after %v: %v", time.Since(start), err)
	if err == nil || time.Since(start) > time.Second {
		t.Errorf("idle parked connection not closed by the idle timeout")
	}
	a2 := dialBase(t, base)
	a2.write(rawRequest("POST", q, "6"))
	a2.readWithin(3 * time.Second)
	hs.Close()
	start = time.Now()
	a2.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = a2.br.ReadByte()
	if err == nil || time.Since(start) > time.Second {
		t.Errorf("idle parked connection not closed with the listener: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	eng.Shutdown(ctx)
}

// main.go's shutdown order (engine and http.Server concurrently) with a
// few parked keep-alive clients.
func TestParkEdgeMainShutdownOrder(t *testing.T) {
	slow := 0
	for range 10 {
		eng, hs, served, ts := serveLikeMain(t)
		base := ts.base
		var rcs []*rawClient
		for range 5 {
			sid := ts.openPolling("EIO=4&transport=polling").SID
			rc := dialBase(t, base)
			rc.write(rawRequest("GET", "EIO=4&transport=polling&sid="+sid, ""))
			waitParked(t, ts, sid)
			rcs = append(rcs, rc)
		}
		ts.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		start := time.Now()
		done := make(chan struct{})
		go func() { eng.Shutdown(ctx); close(done) }()
		hs.Shutdown(ctx)
		<-done
		<-served
		cancel()
		if d := time.Since(start); d > time.Second {
			slow++
			t.Logf("shutdown took %v", d)
		}
		for _, rc := range rcs {
			rc.c.Close()
		}
	}
	if slow > 0 {
		t.Errorf("%d of 10 shutdowns took over a second", slow)
	}
}

// newUnservedListener returns a server and a loopback listener, closed at
// the end of the test, that nothing serves yet.
func newUnservedListener(t *testing.T) (*Server, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return NewServer(&Options{OnConnection: func(*Conn) {}}), ln
}

// serveLikeMain serves a new Engine.IO server through Server.Listen with
// main.go's timeouts; served gets what Serve returns.
func serveLikeMain(t *testing.T) (eng *Server, hs *http.Server, served chan error, ts *testServer) {
	t.Helper()
	eng, ln := newUnservedListener(t)
	hs = &http.Server{Handler: eng, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	served = make(chan error, 1)
	go func() { served <- hs.Serve(eng.Listen(ln, 120*time.Second)) }()
	ts = &testServer{t: t, srv: eng, base: "http://" + ln.Addr().String() + "/engine.io/", client: &http.Client{Transport: &http.Transport{}}}
	return eng, hs, served, ts
}

// A closed listener hands nothing out: Accept says it is closed, and a
// connection handed back after the close is closed instead of waiting.
func TestParkListenerClosed(t *testing.T) {
	t.Parallel()
	srv, ln := newUnservedListener(t)
	l := srv.Listen(ln, 0).(*parkListener)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, %v; want net.ErrClosed", c, err)
	}
	ours, theirs := net.Pipe()
	defer theirs.Close()
	done := make(chan struct{})
	go func() {
		l.handBack(ours)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handBack after Close did not return")
	}
	if _, err := ours.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("connection handed back after Close: write = %v, want it closed", err)
	}
}

// Nothing parks before the listener Listen returned is served: an answer
// would wait for an Accept that never comes.
func TestNothingParksUnserved(t *testing.T) {
	t.Parallel()
	srv, ln := newUnservedListener(t)
	l := srv.Listen(ln, 0)
	if srv.parking() != nil {
		t.Fatal("parking before the listener is served")
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(l)
	defer hs.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.parking() == nil && canPoll {
		if time.Now().After(deadline) {
			t.Fatal("no parking once the listener is served")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestV3PingFloodBoundedQueue: a protocol 3 client that POSTs pings and
// never polls makes the server queue one pong per ping. Control packets
// skip MaxQueue, so the queue (and the POST bodies the pongs' data point
// into) grows without bound; it must stay bounded (the session closed as
// slow, as one queueing messages past MaxQueue is).
func TestV3PingFloodBoundedQueue(t *testing.T) {
	t.Parallel()
	const maxQueue = 64
	ps := newParkServer(t, &Options{MaxQueue: maxQueue}, true, 0)
	rc := dialRaw(t, ps.addr)
	_, body := rc.roundTrip(rawRequest("GET", "EIO=3&transport=polling", ""))
	if !strings.Contains(body, ":0{") {
		t.Fatalf("handshake answered %q", body)
	}
	s := ps.nextConn().s
	q := "EIO=3&transport=polling&sid=" + s.id
	payload := strings.Repeat("1:2", 1000) // 1000 pings, 3 KB
	for i := range 10 {
		rc.write(rawRequest("POST", q, payload))
		res, b := rc.read()
		if res.StatusCode != 200 {
			t.Logf("POST %d answered %d %q", i, res.StatusCode, b)
			break
		}
	}
	s.mu.Lock()
	n, closed := len(s.queue), s.closed
	s.mu.Unlock()
	if n > 2*maxQueue {
		t.Errorf("%d packets queued (closed %v) with MaxQueue %d: a ping flood grows the queue without bound", n, closed, maxQueue)
	}
}

// TestV3PongKeepsNoBody: the pong queued for a protocol 3 client's ping
// must not keep the POST body it came in alive (the ping's data is a slice
// of it): a client that pings in large POSTs and does not poll would hold
// one body per pong.
func TestV3PongKeepsNoBody(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, &Options{OnConnection: func(*Conn) {}}, true, 0)
	rc := dialRaw(t, ps.addr)
	rc.roundTrip(rawRequest("GET", "EIO=3&transport=polling", ""))
	s := ps.nextConn().s
	q := "EIO=3&transport=polling&sid=" + s.id
	big := "4" + strings.Repeat("x", 500_000)
	rc.roundTrip(rawRequest("POST", q, "1:2"+strconv.Itoa(len(big))+":"+big))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.queue {
		if p.typ == packetPong && cap(p.data) > 1024 {
			t.Fatalf("the queued pong keeps %d bytes of its POST body alive", cap(p.data))
		}
	}
}
