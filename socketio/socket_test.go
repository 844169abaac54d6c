package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"notification-server/engineio"
)

// events collects what handlers saw, for assertions from the test goroutine.
type events struct {
	mu  sync.Mutex
	got []string
	ch  chan struct{}
}

func newEvents() *events { return &events{ch: make(chan struct{}, 100)} }

func (e *events) add(s string) {
	e.mu.Lock()
	e.got = append(e.got, s)
	e.mu.Unlock()
	e.ch <- struct{}{}
}

// wait returns the next recorded event, failing after 5 seconds.
func (e *events) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-e.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.got[0]
	e.got = e.got[1:]
	return s
}

func TestConnectProtocol5(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil)
	ev := newEvents()
	srv.Of("/").OnConnection(func(s *Socket) {
		ev.add("connect " + s.ID() + " " + string(s.Handshake().Auth) + " " + s.Conn().ID())
	})
	srv.Of("/admin")
	base := startServer(t, srv)

	c := dialWS(t, base, 4, "")
	sid := c.connectRoot(`{ "token" : "123" }`)
	got := ev.wait(t)
	parts := strings.Fields(got)
	if len(parts) != 4 || parts[1] != sid || parts[2] != `{"token":"123"}` {
		t.Fatalf("connection handler saw %q, want socket %s with compacted auth", got, sid)
	}
	if parts[3] == sid {
		t.Errorf("socket id %s equals the Engine.IO id", sid)
	}

	c.send("0/admin,")
	if reply := c.readText(); !strings.HasPrefix(reply, `0/admin,{"sid":"`) {
		t.Errorf("CONNECT /admin reply %q", reply)
	}
	c.send("0/nope,")
	if reply := c.readText(); reply != `4/nope,{"message":"Invalid namespace"}` {
		t.Errorf("CONNECT to unknown namespace: reply %q", reply)
	}
}

func TestConnectProtocol4(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil)
	ev := newEvents()
	srv.Of("/").OnConnection(func(s *Socket) {
		ev.add(s.Namespace() + " " + s.ID() + " " + s.Handshake().Query.Get("x") + " " + s.Conn().ID())
	})
	srv.Of("/chat").OnConnection(func(s *Socket) {
		ev.add(s.Namespace() + " " + s.ID() + " " + s.Handshake().Query.Get("x") + " " + s.Conn().ID())
	})
	base := startServer(t, srv)

	c := dialWS(t, base, 3, "x=1")
	if got := c.readText(); got != "0" {
		t.Fatalf("first packet %q, want the implicit CONNECT 0", got)
	}
	root := strings.Fields(ev.wait(t))
	if root[0] != "/" || root[1] != root[3] || root[2] != "1" {
		t.Errorf("root socket %v: want id = Engine.IO id and query x=1", root)
	}
	c.send("0/chat?x=2")
	if got := c.readText(); got != "0/chat," {
		t.Errorf("CONNECT /chat reply %q", got)
	}
	chat := strings.Fields(ev.wait(t))
	if chat[1] != "/chat#"+chat[3] || chat[2] != "2" {
		t.Errorf("chat socket %v: want id /chat#<sid> and query x=2", chat)
	}
	c.send("0/nope")
	if got := c.readText(); got != `4/nope,"Invalid namespace"` {
		t.Errorf("CONNECT to unknown namespace: reply %q", got)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil)
	srv.Of("/").Use(func(s *Socket) error {
		if !strings.Contains(string(s.Handshake().Auth), "good") {
			return errors.New("Not authorized")
		}
		return nil
	})
	base := startServer(t, srv)
	c := dialWS(t, base, 4, "")
	c.send(`0{"token":"bad"}`)
	if got := c.readText(); got != `4{"message":"Not authorized"}` {
		t.Errorf("refused CONNECT: reply %q", got)
	}
	c.connectRoot(`{"token":"good"}`)

	// Protocol 4 has no auth: the refusal of the implicit "/" connection is
	// an ERROR packet with a string, sent right after the handshake.
	c = dialWS(t, base, 3, "")
	if got := c.readText(); got != `4"Not authorized"` {
		t.Errorf("refused implicit CONNECT: %q", got)
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil)
	ev := newEvents()
	srv.Of("/").OnConnection(func(s *Socket) {
		s.OnDisconnect(func(reason string) { ev.add(reason) })
	})
	base := startServer(t, srv)
	c := dialWS(t, base, 4, "")
	c.connectRoot("")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The client keeps reading, so it answers the close handshake.
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.conn.Read(ctx); err != nil {
				closed <- err
				return
			}
		}
	}()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := ev.wait(t); got != engineio.ReasonShutdown {
		t.Errorf("disconnect reason %q, want %q", got, engineio.ReasonShutdown)
	}
	if err := <-closed; ctx.Err() != nil {
		t.Errorf("client not closed: %v", err)
	}
}

func TestEventsAndAcks(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(o *Options) { o.AckTimeout = 300 * time.Millisecond })
	ev := newEvents()
	srv.Of("/").OnConnection(func(s *Socket) {
		s.On("register", func(args []json.RawMessage, ack AckFunc) {
			ev.add("register " + string(args[0]) + " " + string(args[1]))
			if ack != nil {
				_ = ack(true)
				if err := ack(false); !errors.Is(err, ErrAckSent) {
					ev.add("second ack: " + errString(err))
				}
			}
		})
		s.On("ask", func(args []json.RawMessage, _ AckFunc) {
			_ = s.EmitWithAck("q", func(ans []json.RawMessage, err error) {
				if err != nil {
					ev.add("ack error " + err.Error())
					return
				}
				ev.add("ack " + string(ans[0]))
			}, json.RawMessage(args[0]))
		})
		s.On("fanout", func([]json.RawMessage, AckFunc) {
			pkt, err := EncodeEvent("/", "message", json.RawMessage(`{"n":1}`))
			if err != nil {
				ev.add(err.Error())
				return
			}
			_ = s.SendPacket(pkt)
		})
		s.On("queued", func([]json.RawMessage, AckFunc) {
			for i := range 2 {
				pkt, err := EncodeEvent("/", "message", json.RawMessage(fmt.Sprint(i)))
				if err == nil {
					err = s.QueuePacket(pkt)
				}
				if err != nil {
					ev.add(err.Error())
					return
				}
			}
			s.Flush()
		})
	})
	base := startServer(t, srv)
	c := dialWS(t, base, 4, "")
	c.connectRoot("")

	c.send(`2["register","u1","c1"]`)
	if got := ev.wait(t); got != `register "u1" "c1"` {
		t.Errorf("handler saw %q", got)
	}
	c.send(`27["register","u2","c2"]`)
	if got := ev.wait(t); got != `register "u2" "c2"` {
		t.Errorf("handler saw %q", got)
	}
	if got := c.readText(); got != `37[true]` {
		t.Errorf("ack %q, want 37[true]", got)
	}

	c.send(`2["ask","first"]`)
	if got := c.readText(); got != `20["q","first"]` {
		t.Fatalf("server emit with ack: %q", got)
	}
	c.send(`30["yes"]`)
	if got := ev.wait(t); got != `ack "yes"` {
		t.Errorf("ack callback saw %q", got)
	}
	c.send(`30["late duplicate"]`) // ignored

	c.send(`2["ask","second"]`)
	if got := c.readText(); got != `21["q","second"]` {
		t.Fatalf("server emit with ack: %q", got)
	}
	if got := ev.wait(t); got != "ack error "+ErrAckTimeout.Error() {
		t.Errorf("unanswered ack: %q", got)
	}

	c.send(`2["fanout"]`)
	if got := c.readText(); got != `2["message",{"n":1}]` {
		t.Errorf("SendPacket: %q", got)
	}

	c.send(`2["queued"]`)
	for i := range 2 {
		if got, want := c.readText(), fmt.Sprintf(`2["message",%d]`, i); got != want {
			t.Errorf("QueuePacket then Flush: %q, want %q", got, want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func TestPendingAcksBounded(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(o *Options) { o.MaxPendingAcks = 2 })
	ev := newEvents()
	srv.Of("/").OnConnection(func(s *Socket) {
		cb := func(_ []json.RawMessage, err error) { ev.add("cb " + errString(err)) }
		for i := 0; i < 3; i++ {
			ev.add("emit " + errString(s.EmitWithAck("q", cb)))
		}
		s.OnDisconnect(func(reason string) { ev.add("disconnect " + reason) })
	})
	base := startServer(t, srv)
	c := dialWS(t, base, 4, "")
	c.connectRoot("")
	want := []string{"emit nil", "emit nil", "emit " + ErrTooManyAcks.Error()}
	for _, w := range want {
		if got := ev.wait(t); got != w {
			t.Errorf("got %q, want %q", got, w)
		}
	}
	c.send("1")
	// The pending acks fail with ErrDisconnected before the handler runs.
	for _, w := range []string{"cb " + ErrDisconnected.Error(), "cb " + ErrDisconnected.Error(), "disconnect " + ReasonClientDisconnect} {
		if got := ev.wait(t); got != w {
			t.Errorf("got %q, want %q", got, w)
		}
	}
}

func TestBinaryEvent(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil)
	serveScenario(srv)
	base := startServer(t, srv)
	for _, eio := range []int{3, 4} {
		c := dialWS(t, base, eio, "")
		if eio == 4 {
			c.connectRoot("")
		} else if got := c.readText(); got != "0" {
			t.Fatalf("implicit CONNECT: %q", got)
		}
		c.readText() // auth
		c.send(`51-12["message-with-ack",{"k":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":0}]`)
		c.sendBinary([]byte{1, 2})
		if got := c.readText(); got != `61-12[{"k":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":0}]` {
			t.Errorf("EIO %d: binary ack %q", eio, got)
		}
		if got := c.read(); !got.isBin || string(got.binary) != "\x01\x02" {
			t.Errorf("EIO %d: attachment %+v", eio, got)
		}
	}
}

func TestDisconnect(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil)
	ev := newEvents()
	srv.Of("/").OnConnection(func(s *Socket) {
		s.OnDisconnect(func(reason string) { ev.add("disconnect " + reason) })
		s.On("bye", func([]json.RawMessage, AckFunc) { _ = s.Disconnect() })
	})
	base := startServer(t, srv)

	c := dialWS(t, base, 4, "")
	c.connectRoot("")
	c.send(`2["bye"]`)
	if got := c.readText(); got != "1" {
		t.Errorf("server disconnect sent %q, want 1", got)
	}
	if got := ev.wait(t); got != "disconnect "+ReasonServerDisconnect {
		t.Errorf("handler saw %q", got)
	}
	c.expectClosed()

	c = dialWS(t, base, 4, "")
	c.connectRoot("")
	c.conn.CloseNow()
	if got := ev.wait(t); got != "disconnect "+engineio.ReasonTransportClose {
		t.Errorf("handler saw %q after the client vanished", got)
	}
}

// TestMalformedClosesOnlyThatSession sends each kind of bad input on its
// own session and checks that session closes while a bystander keeps
// working.
func TestMalformedClosesOnlyThatSession(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(o *Options) { o.MaxAttachmentBytes = 1000 })
	serveScenario(srv)
	srv.Of("/").OnConnection(func(s *Socket) {
		s.On("panic", func([]json.RawMessage, AckFunc) { panic("handler bug") })
	})
	base := startServer(t, srv)
	bystander := dialWS(t, base, 4, "")
	bystander.connectRoot("")
	bystander.readText() // auth

	deep := `2["message",` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]`
	tests := []struct {
		name   string
		before []string // packets sent after connecting
		bin    [][]byte
		after  string
	}{
		{name: "unknown type", before: []string{"9"}},
		{name: "object payload", before: []string{"2{}"}},
		{name: "bad ack id", before: []string{`2abc["message",1]`}},
		{name: "ack id overflow", before: []string{`2123456789012345678901["message"]`}},
		{name: "too deep", before: []string{deep}},
		{name: "invalid utf8", before: []string{"2[\"message\",\"\xff\xfe\"]"}},
		{name: "reserved event", before: []string{`2["disconnect"]`}},
		{name: "too many attachments", before: []string{`511-["message"]`}},
		{name: "text instead of attachment", before: []string{`51-["message",{"_placeholder":true,"num":0}]`, `2["message"]`}},
		{name: "placeholder out of range", before: []string{`51-["message",{"_placeholder":true,"num":5}]`}, bin: [][]byte{{1}}},
		{name: "unused attachment", before: []string{`52-["message",{"_placeholder":true,"num":0}]`}, bin: [][]byte{{1}, {2}}},
		{name: "stray attachment", bin: [][]byte{{1}}},
		{name: "attachments too large", before: []string{`52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`}, bin: [][]byte{make([]byte, 600), make([]byte, 600)}},
		{name: "event for unjoined namespace", before: []string{`2/custom,["message"]`}},
		{name: "second CONNECT", before: []string{"0"}},
		{name: "panic in handler", before: []string{`2["panic"]`}},
	}
	for _, tt := range tests {
		c := dialWS(t, base, 4, "")
		c.connectRoot("")
		c.readText() // auth
		for _, p := range tt.before {
			c.send(p)
		}
		for _, b := range tt.bin {
			c.sendBinary(b)
		}
		c.expectClosed()
	}
	bystander.send(`2["message","still here"]`)
	if got := bystander.readText(); got != `2["message-back","still here"]` {
		t.Errorf("bystander got %q", got)
	}
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(o *Options) { o.ConnectTimeout = 200 * time.Millisecond })
	base := startServer(t, srv)
	c := dialWS(t, base, 4, "")
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v, want about 200ms", d)
	}
	// A socket that connected in time is not affected.
	c = dialWS(t, base, 4, "")
	c.connectRoot("")
	time.Sleep(400 * time.Millisecond)
	c.send(`2["x"]`)
	c.send("0/nope,")
	if got := c.readText(); !strings.HasPrefix(got, "4/nope,") {
		t.Errorf("session closed by the connect timeout after CONNECT: %q", got)
	}
	// A session that leaves its last namespace gets the timeout again,
	// instead of holding its place forever.
	c.send("1")
	start = time.Now()
	c.expectClosed()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed %v after leaving its last namespace, want about 200ms", d)
	}
}

// TestQueueOverflow fills the queue of a polling session that never polls:
// Emit must not block, and the socket is disconnected as slow.
func TestQueueOverflow(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(o *Options) { o.Engine.MaxQueue = 8 })
	ev := newEvents()
	srv.Of("/").OnConnection(func(s *Socket) {
		s.OnDisconnect(func(reason string) { ev.add("disconnect " + reason) })
		go func() {
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				err = s.Emit("message", i)
			}
			ev.add("emit " + errString(err))
		}()
	})
	base := startServer(t, srv)
	sid := pollingOpen(t, base)
	pollingPost(t, base, sid, "40")
	got := []string{ev.wait(t), ev.wait(t)}
	want := map[string]bool{"disconnect " + engineio.ReasonQueueOverflow: true}
	for _, g := range got {
		if !want[g] && !(strings.HasPrefix(g, "emit ") && g != "emit nil") {
			t.Errorf("got %q", g)
		}
	}
}

func pollingOpen(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var hs struct{ SID string }
	if resp.StatusCode != 200 || len(body) < 2 || json.Unmarshal(body[1:], &hs) != nil {
		t.Fatalf("polling handshake: %d %q", resp.StatusCode, body)
	}
	return hs.SID
}

func pollingPost(t *testing.T, base, sid, body string) {
	t.Helper()
	resp, err := http.Post(base+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST: status %d", resp.StatusCode)
	}
}

// TestPanicsInCallbacks checks that panics in disconnect handlers and ack
// callbacks, which may run off the receive path, never end the process.
func TestPanicsInCallbacks(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(o *Options) { o.AckTimeout = 100 * time.Millisecond })
	ev := newEvents()
	srv.Of("/").OnConnection(func(s *Socket) {
		s.OnDisconnect(func(string) { panic("disconnect handler bug") })
		s.OnDisconnect(func(reason string) { ev.add("second handler " + reason) })
		s.On("timeout", func([]json.RawMessage, AckFunc) {
			_ = s.EmitWithAck("q", func([]json.RawMessage, error) { panic("ack callback bug") })
		})
		s.On("panic", func([]json.RawMessage, AckFunc) { panic("handler bug") })
	})
	base := startServer(t, srv)

	c := dialWS(t, base, 4, "")
	c.connectRoot("")
	c.send(`2["timeout"]`)
	c.expectClosed()
	if got := ev.wait(t); !strings.HasPrefix(got, "second handler ") {
		t.Errorf("got %q", got)
	}

	c = dialWS(t, base, 4, "")
	c.connectRoot("")
	c.send(`2["panic"]`)
	c.expectClosed()
	if got := ev.wait(t); got != "second handler "+ReasonHandlerPanic {
		t.Errorf("got %q, want the handler panic reason", got)
	}
}

// TestConcurrentBinaryEmits checks that a packet's attachments follow it on
// the wire even when several goroutines emit binary events at once.
func TestConcurrentBinaryEmits(t *testing.T) {
	t.Parallel()
	const goroutines, each = 8, 100
	srv := newTestServer(t, func(o *Options) { o.Engine.MaxQueue = 4 * goroutines * each })
	srv.Of("/").OnConnection(func(s *Socket) {
		for g := 0; g < goroutines; g++ {
			go func() {
				for i := 0; i < each; i++ {
					_ = s.Emit("b", g, Binary{byte(g), byte(i)}, Binary{byte(g)})
				}
			}()
		}
	})
	base := startServer(t, srv)
	c := dialWS(t, base, 4, "")
	c.connectRoot("")
	for n := 0; n < goroutines*each; n++ {
		pkt := c.readText()
		var g int
		if _, err := fmt.Sscanf(pkt, `52-["b",%d,`, &g); err != nil {
			t.Fatalf("packet %d: %q: %v", n, pkt, err)
		}
		a, b := c.read(), c.read()
		if !a.isBin || !b.isBin || len(a.binary) != 2 || a.binary[0] != byte(g) || len(b.binary) != 1 || b.binary[0] != byte(g) {
			t.Fatalf("packet %q followed by %+v and %+v", pkt, a, b)
		}
	}
}

// TestNumericEventName: socket.io-parser 4.2.x (socket.io v4 client
// and server) accepts a number as an event name (socket.emit(42, "x") sends
// 2[42,"x"]), and the reference server dispatches it to the listener "42".
// Such a packet must not close the session as malformed.
func TestNumericEventName(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil)
	ev := newEvents()
	srv.Of("/").OnConnection(func(s *Socket) {
		s.On("42", func(args []json.RawMessage, ack AckFunc) {
			ev.add("42 " + string(args[0]))
			if ack != nil {
				ack("ok")
			}
		})
	})
	base := startServer(t, srv)

	c := dialWS(t, base, 4, "")
	c.connectRoot("")
	c.send(`2[42,"x"]`)
	if got := ev.wait(t); got != `42 "x"` {
		t.Fatalf("handler saw %q", got)
	}
	c.send(`27[42,"y"]`)
	if got := ev.wait(t); got != `42 "y"` {
		t.Fatalf("handler saw %q", got)
	}
	if reply := c.readText(); reply != `37["ok"]` {
		t.Fatalf("ack %q", reply)
	}
	// Reserved names are still refused, and non-string non-number names too.
	if _, err := decodePacket([]byte(`2[{"a":1}]`), testLimits); err == nil || !strings.Contains(err.Error(), "event name") {
		t.Errorf("object event name accepted: %v", err)
	}
}
