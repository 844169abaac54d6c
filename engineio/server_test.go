package engineio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestHandshakePolling(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	tests := []struct {
		query      string
		maxPayload bool
	}{
		{"EIO=4&transport=polling", true},
		{"EIO=3&transport=polling&t=abc", false},
		{"EIO=3&transport=polling&b64=1", false},
	}
	for _, tt := range tests {
		status, hdr, body := ts.do(http.MethodGet, tt.query, "", nil)
		if status != http.StatusOK || hdr.Get("Content-Type") != "text/plain; charset=UTF-8" {
			t.Fatalf("%s: status %d, Content-Type %q", tt.query, status, hdr.Get("Content-Type"))
		}
		_ = body
		info := ts.openPolling(tt.query)
		if len(info.SID) != 20 || len(info.Upgrades) != 1 || info.Upgrades[0] != "websocket" ||
			info.PingInterval != 300 || info.PingTimeout != 200 || (info.MaxPayload != nil) != tt.maxPayload {
			t.Errorf("%s: open packet %+v", tt.query, info)
		}
	}
}

func TestHandshakeErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{
		DisableEIO3: true,
		AllowRequest: func(r *http.Request) error {
			switch r.URL.Query().Get("token") {
			case "bad":
				return errors.New("no")
			case "fast":
				return fmt.Errorf("limiter: %w", &HandshakeError{Status: 429, Message: "Too many handshakes"})
			}
			return nil
		},
	})
	tests := []struct {
		method, query string
		status        int
		body          string
	}{
		{"GET", "EIO=4", 400, `{"code":0,"message":"Transport unknown"}`},
		{"GET", "EIO=4&transport=abc", 400, `{"code":0,"message":"Transport unknown"}`},
		{"GET", "transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"GET", "EIO=abc&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"GET", "EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"POST", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"PUT", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"GET", "EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"POST", "EIO=4&transport=polling&sid=forged", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"GET", "EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
		{"GET", "EIO=4&transport=polling&token=bad", 403, `{"code":4,"message":"Forbidden"}`},
		{"GET", "EIO=4&transport=polling&token=fast", 429, `{"code":4,"message":"Too many handshakes"}`},
	}
	for _, tt := range tests {
		status, hdr, body := ts.do(tt.method, tt.query, "", nil)
		if status != tt.status || body != tt.body || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %q (%s), want %d %q", tt.method, tt.query, status, body, hdr.Get("Content-Type"), tt.status, tt.body)
		}
	}
	st := ts.srv.Stats()
	if st.Rejected[RejectBadRequest] != 5 || st.Rejected[RejectProtocol] != 3 || st.Rejected[RejectForbidden] != 1 || st.Rejected[RejectRateLimited] != 1 {
		t.Errorf("Stats.Rejected = %v", st.Rejected)
	}
}

func TestPollingEcho(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	sid := ts.openPolling("EIO=4&transport=polling").SID
	q := "EIO=4&transport=polling&sid=" + sid
	if status, body := ts.post(q, "4hello\x1ebAQIDBA==\x1e4héllo 😀"); status != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", status, body)
	}
	if status, body := ts.get(q); status != 200 || body != "4hello\x1ebAQIDBA==\x1e4héllo 😀" {
		t.Fatalf("GET: %d %q", status, body)
	}
	// A v4 client never posts a binary body.
	status, _, _ := ts.do(http.MethodPost, q, "application/octet-stream", strings.NewReader("\x04abc"))
	if status != 400 {
		t.Errorf("binary POST: status %d, want 400", status)
	}
	if reason := ts.waitClose(sid); reason != ReasonParseError {
		t.Errorf("close reason %q, want %q", reason, ReasonParseError)
	}
}

func TestPollingV3Encodings(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	tests := []struct {
		name, handshake string
		post            string
		postType        string
		wantType        string
		want            string
	}{
		{
			name: "b64 text counts UTF-16 units", handshake: "EIO=3&transport=polling&b64=1",
			post: "10:4héllo😀😀", wantType: "text/plain; charset=UTF-8", want: "10:4héllo😀😀",
		},
		{
			name: "b64 binary", handshake: "EIO=3&transport=polling&b64=1",
			post: "10:b4AQIDBA==", wantType: "text/plain; charset=UTF-8", want: "10:b4AQIDBA==",
		},
		{
			name: "XHR2 ASCII stays text", handshake: "EIO=3&transport=polling",
			post: "6:4hello", wantType: "text/plain; charset=UTF-8", want: "6:4hello",
		},
		{
			name: "XHR2 non-ASCII goes binary", handshake: "EIO=3&transport=polling",
			post: "2:4é", wantType: "application/octet-stream", want: "\x00\x03\xff4é",
		},
		{
			name: "XHR2 binary payload in and out", handshake: "EIO=3&transport=polling",
			post: "\x01\x04\xff\x04\x01\x02\x03\x00\x02\xff4a", postType: "application/octet-stream",
			wantType: "application/octet-stream", want: "\x01\x04\xff\x04\x01\x02\x03\x00\x02\xff4a",
		},
	}
	for _, tt := range tests {
		sid := ts.openPolling(tt.handshake).SID
		q := "EIO=3&transport=polling&sid=" + sid
		postType := tt.postType
		if postType == "" {
			postType = "text/plain;charset=UTF-8"
		}
		if status, _, body := ts.do(http.MethodPost, q, postType, strings.NewReader(tt.post)); status != 200 || body != "ok" {
			t.Fatalf("%s: POST %d %q", tt.name, status, body)
		}
		status, hdr, body := ts.do(http.MethodGet, q, "", nil)
		if status != 200 || hdr.Get("Content-Type") != tt.wantType || body != tt.want {
			t.Errorf("%s: GET %d %s %q, want %s %q", tt.name, status, hdr.Get("Content-Type"), body, tt.wantType, tt.want)
		}
	}
}

func TestPollingJSONP(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	status, hdr, body := ts.do(http.MethodGet, "EIO=3&transport=polling&j=2", "", nil)
	if status != 200 || hdr.Get("Content-Type") != "text/plain; charset=UTF-8" ||
		!strings.HasPrefix(body, `___eio[2]("`) || !strings.HasSuffix(body, `");`) {
		t.Fatalf("JSONP handshake: %d %s %q", status, hdr.Get("Content-Type"), body)
	}
	i := strings.Index(body, `\"sid\":\"`)
	sid := body[i+10 : i+30]
	q := "EIO=3&transport=polling&j=2&sid=" + sid
	status, _, resBody := ts.do(http.MethodPost, q, "application/x-www-form-urlencoded", strings.NewReader("d=3%3A4%C3%A9%5Cn"))
	if status != 200 || resBody != "ok" {
		t.Fatalf("JSONP POST: %d %q", status, resBody)
	}
	if status, body := ts.get(q); status != 200 || body != `___eio[2]("3:4é\n");` {
		t.Errorf("JSONP GET: %d %q", status, body)
	}
}

func TestWebSocketEcho(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	for _, protocol := range []int{3, 4} {
		c, err := ts.dial(fmt.Sprintf("EIO=%d&transport=websocket", protocol))
		if err != nil {
			t.Fatal(err)
		}
		typ, open := readWS(t, c)
		if typ != websocket.MessageText || !strings.HasPrefix(open, `0{"sid":"`) || !strings.Contains(open, `"upgrades":[]`) {
			t.Fatalf("v%d open: %v %q", protocol, typ, open)
		}
		writeWS(t, c, websocket.MessageText, "4héllo 😀")
		if typ, msg := readWS(t, c); typ != websocket.MessageText || msg != "4héllo 😀" {
			t.Errorf("v%d text echo: %v %q", protocol, typ, msg)
		}
		bin := "\x01\x02\x03"
		if protocol == 3 {
			bin = "\x04\x01\x02\x03"
		}
		writeWS(t, c, websocket.MessageBinary, bin)
		if typ, msg := readWS(t, c); typ != websocket.MessageBinary || msg != bin {
			t.Errorf("v%d binary echo: %v %q", protocol, typ, msg)
		}
		if protocol == 3 {
			writeWS(t, c, websocket.MessageText, "2")
			if _, msg := readWS(t, c); msg != "3" {
				t.Errorf("v3 ping answered %q, want 3", msg)
			}
		}
		writeWS(t, c, websocket.MessageText, "1")
		waitClosedErr(t, c)
	}
}

func TestUpgrade(t *testing.T) {
	t.Parallel()
	for _, protocol := range []int{3, 4} {
		t.Run(fmt.Sprint("v", protocol), func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, &Options{OnConnection: func(c *Conn) {}})
			hq := fmt.Sprintf("EIO=%d&transport=polling", protocol)
			if protocol == 3 {
				hq += "&b64=1"
			}
			sid := ts.openPolling(hq).SID
			conn := ts.nextConn()
			q := fmt.Sprintf("EIO=%d&transport=polling&sid=%s", protocol, sid)

			// A poll waits; the probe answers it with a noop.
			pollDone := make(chan string, 1)
			go func() {
				_, _, body := ts.do(http.MethodGet, q, "", nil)
				pollDone <- body
			}()
			time.Sleep(50 * time.Millisecond)
			ws, err := ts.dial(fmt.Sprintf("EIO=%d&transport=websocket&sid=%s", protocol, sid))
			if err != nil {
				t.Fatal(err)
			}
			writeWS(t, ws, websocket.MessageText, "2probe")
			if _, msg := readWS(t, ws); msg != "3probe" {
				t.Fatalf("probe answered %q", msg)
			}
			noop := "6"
			if protocol == 3 {
				noop = "1:6"
			}
			if body := <-pollDone; body != noop {
				t.Fatalf("pending poll answered %q, want %q", body, noop)
			}
			// Sent during the upgrade: must arrive over the WebSocket.
			conn.Send([]byte("during"), false)
			if conn.Transport() != "polling" {
				t.Errorf("Transport() = %q before the upgrade completes", conn.Transport())
			}
			// The sent message may be taken by a poll if one came; none
			// does here, so it waits for the WebSocket.
			writeWS(t, ws, websocket.MessageText, "5")
			if _, msg := readWS(t, ws); msg != "4during" {
				t.Fatalf("after upgrade got %q, want 4during", msg)
			}
			if conn.Transport() != "websocket" {
				t.Errorf("Transport() = %q after the upgrade", conn.Transport())
			}
			if status, _ := ts.get(q); status != 400 {
				t.Errorf("poll after upgrade: status %d, want 400", status)
			}
			// A second WebSocket is accepted and closed at once.
			ws2, err := ts.dial(fmt.Sprintf("EIO=%d&transport=websocket&sid=%s", protocol, sid))
			if err == nil {
				waitClosedErr(t, ws2)
			}
			conn.Send([]byte("still here"), false)
			if _, msg := readWS(t, ws); msg != "4still here" {
				t.Fatalf("after a second WebSocket got %q", msg)
			}
			if st := ts.srv.Stats(); st.Upgrades != 1 || st.Sessions["websocket"][protocol] != 1 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

func TestUpgradeProbeTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{UpgradeTimeout: 100 * time.Millisecond})
	sid := ts.openPolling("EIO=4&transport=polling").SID
	ws, err := ts.dial("EIO=4&transport=websocket&sid=" + sid)
	if err != nil {
		t.Fatal(err)
	}
	waitClosedErr(t, ws) // never probed: dropped
	q := "EIO=4&transport=polling&sid=" + sid
	if status, body := ts.post(q, "4still polling"); status != 200 || body != "ok" {
		t.Fatalf("POST after a failed upgrade: %d %q", status, body)
	}
	if status, body := ts.get(q); status != 200 || body != "4still polling" {
		t.Errorf("GET after a failed upgrade: %d %q", status, body)
	}
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	// A timeout well above the interval, so a loaded machine (tests run
	// with -race beside other packages) does not miss the windows.
	ts := newTestServer(t, &Options{PingInterval: 100 * time.Millisecond, PingTimeout: 400 * time.Millisecond})

	// Protocol 4: the server pings; answered pings keep the session.
	sid := ts.openPolling("EIO=4&transport=polling").SID
	q := "EIO=4&transport=polling&sid=" + sid
	for i := 0; i < 3; i++ {
		if status, body := ts.get(q); status != 200 || body != "2" {
			t.Fatalf("poll %d: %d %q, want a ping", i, status, body)
		}
		if status, _ := ts.post(q, "3"); status != 200 {
			t.Fatalf("pong %d: status %d", i, status)
		}
	}
	// Unanswered, it times out.
	if reason := ts.waitClose(sid); reason != ReasonPingTimeout {
		t.Errorf("v4 close reason %q, want %q", reason, ReasonPingTimeout)
	}

	// Protocol 3: the client pings and gets pongs; silence times out.
	sid3 := ts.openPolling("EIO=3&transport=polling&b64=1").SID
	q3 := "EIO=3&transport=polling&sid=" + sid3
	for i := 0; i < 3; i++ {
		time.Sleep(80 * time.Millisecond)
		if status, _ := ts.post(q3, "1:2"); status != 200 {
			t.Fatalf("v3 ping %d: status %d", i, status)
		}
		if status, body := ts.get(q3); status != 200 || body != "1:3" {
			t.Fatalf("v3 poll %d: %d %q, want a pong", i, status, body)
		}
	}
	if reason := ts.waitClose(sid3); reason != ReasonPingTimeout {
		t.Errorf("v3 close reason %q, want %q", reason, ReasonPingTimeout)
	}
	// Wrong direction is a protocol error.
	c, err := ts.dial("EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	readWS(t, c)
	writeWS(t, c, websocket.MessageText, "2")
	waitClosedErr(t, c)
}

func TestWebSocketPingTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	c, err := ts.dial("EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	readWS(t, c)
	if _, msg := readWS(t, c); msg != "2" {
		t.Fatalf("got %q, want a ping", msg)
	}
	conn := ts.nextConn()
	if reason := ts.waitClose(conn.ID()); reason != ReasonPingTimeout {
		t.Errorf("close reason %q", reason)
	}
	waitClosedErr(t, c)
}

func TestDuplicatePoll(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	sid := ts.openPolling("EIO=4&transport=polling").SID
	q := "EIO=4&transport=polling&sid=" + sid
	first := make(chan string, 1)
	go func() { _, body := ts.get(q); first <- body }()
	time.Sleep(50 * time.Millisecond)
	if status, _ := ts.get(q); status != 400 {
		t.Errorf("second poll: status %d, want 400", status)
	}
	if body := <-first; body != "1" {
		t.Errorf("first poll got %q, want the close packet", body)
	}
	if status, _ := ts.get(q); status != 400 {
		t.Errorf("poll after close: status %d, want 400", status)
	}
	if reason := ts.waitClose(sid); reason != ReasonTransportError {
		t.Errorf("close reason %q", reason)
	}
}

func TestMaxPayload(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{MaxPayload: 100})
	other := ts.openPolling("EIO=4&transport=polling").SID
	oq := "EIO=4&transport=polling&sid=" + other

	sid := ts.openPolling("EIO=4&transport=polling").SID
	q := "EIO=4&transport=polling&sid=" + sid
	if status, _ := ts.post(q, "4"+strings.Repeat("x", 100)); status != http.StatusRequestEntityTooLarge {
		t.Errorf("big POST: status %d, want 413", status)
	}
	if reason := ts.waitClose(sid); reason != ReasonPayloadTooBig {
		t.Errorf("polling close reason %q", reason)
	}

	c, err := ts.dial("EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	readWS(t, c)
	ts.nextConn() // the two polling sessions came first
	ts.nextConn()
	writeWS(t, c, websocket.MessageText, "4"+strings.Repeat("y", 100))
	if code := waitClosedErr(t, c); code != websocket.StatusMessageTooBig {
		t.Errorf("WebSocket closed with %v, want %v", code, websocket.StatusMessageTooBig)
	}

	// The other session is untouched.
	if status, body := ts.post(oq, "4fine"); status != 200 || body != "ok" {
		t.Fatalf("other session POST: %d %q", status, body)
	}
	if status, body := ts.get(oq); status != 200 || body != "4fine" {
		t.Errorf("other session GET: %d %q", status, body)
	}
	if ts.srv.Stats().Closes[ReasonPayloadTooBig] != 2 {
		t.Errorf("Stats.Closes = %v", ts.srv.Stats().Closes)
	}
}

func TestMaxSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{MaxSessions: 2})
	ts.openPolling("EIO=4&transport=polling")
	ts.openPolling("EIO=4&transport=polling")
	status, _, body := ts.do(http.MethodGet, "EIO=4&transport=polling", "", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"code":3`) {
		t.Errorf("third handshake: %d %q, want 503", status, body)
	}
	if _, err := ts.dial("EIO=4&transport=websocket"); err == nil {
		t.Error("WebSocket handshake beyond MaxSessions succeeded")
	}
	if got := ts.srv.Stats().Rejected[RejectSessionLimit]; got != 2 {
		t.Errorf("rejected for the session limit: %d, want 2", got)
	}
}

func TestQueueOverflow(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{MaxQueue: 4})
	slow := ts.openPolling("EIO=4&transport=polling").SID
	slowConn := ts.nextConn()
	c, err := ts.dial("EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	readWS(t, c)
	fast := ts.nextConn()

	// The handshake poll took the open packet; four messages fit.
	for i := 0; i < 4; i++ {
		if err := slowConn.Send([]byte("x"), false); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := slowConn.Send([]byte("x"), false); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("fifth Send: %v, want ErrQueueFull", err)
	}
	if err := slowConn.Send([]byte("x"), false); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after overflow: %v, want ErrClosed", err)
	}
	if reason := ts.waitClose(slow); reason != ReasonQueueOverflow {
		t.Errorf("close reason %q", reason)
	}
	if err := fast.Send([]byte("fine"), false); err != nil {
		t.Fatal(err)
	}
	if _, msg := readWS(t, c); msg != "4fine" {
		t.Errorf("other session got %q", msg)
	}
	if ts.srv.Stats().Closes[ReasonQueueOverflow] != 1 {
		t.Errorf("Stats.Closes = %v", ts.srv.Stats().Closes)
	}
}

func TestMalformedPacketClosesOnlyThatSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	good := ts.openPolling("EIO=4&transport=polling").SID
	for _, body := range []string{"abc", "4a\x1e", "b!!"} {
		sid := ts.openPolling("EIO=4&transport=polling").SID
		q := "EIO=4&transport=polling&sid=" + sid
		if status, _ := ts.post(q, body); status != 400 {
			t.Errorf("POST %q: status %d, want 400", body, status)
		}
		if status, _ := ts.get(q); status != 400 {
			t.Errorf("poll after %q: status %d, want 400", body, status)
		}
	}
	for _, protocol := range []int{3, 4} {
		c, err := ts.dial(fmt.Sprintf("EIO=%d&transport=websocket", protocol))
		if err != nil {
			t.Fatal(err)
		}
		readWS(t, c)
		writeWS(t, c, websocket.MessageText, "x")
		waitClosedErr(t, c)
	}
	gq := "EIO=4&transport=polling&sid=" + good
	if status, _ := ts.post(gq, "4ok"); status != 200 {
		t.Fatalf("good session POST: %d", status)
	}
	if status, body := ts.get(gq); status != 200 || body != "4ok" {
		t.Errorf("good session GET: %d %q", status, body)
	}
}

func TestHandlerPanicClosesOnlyThatSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{OnConnection: func(c *Conn) {
		c.OnMessage(func(data []byte, binary bool) {
			if string(data) == "boom" {
				panic("boom")
			}
			c.Send(data, binary)
		})
	}})
	bad := ts.openPolling("EIO=4&transport=polling").SID
	good := ts.openPolling("EIO=4&transport=polling").SID
	ts.post("EIO=4&transport=polling&sid="+bad, "4boom")
	if reason := ts.waitClose(bad); reason != ReasonInternalError {
		t.Errorf("close reason %q", reason)
	}
	gq := "EIO=4&transport=polling&sid=" + good
	ts.post(gq, "4ok")
	if status, body := ts.get(gq); status != 200 || body != "4ok" {
		t.Errorf("good session: %d %q", status, body)
	}
}

func TestConnClose(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	c, err := ts.dial("EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	readWS(t, c)
	conn := ts.nextConn()
	conn.Send([]byte("bye"), false)
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	if _, msg := readWS(t, c); msg != "4bye" {
		t.Errorf("got %q, want 4bye", msg)
	}
	if _, msg := readWS(t, c); msg != "1" {
		t.Errorf("got %q, want the close packet", msg)
	}
	if code := waitClosedErr(t, c); code != websocket.StatusNormalClosure {
		t.Errorf("closed with %v", code)
	}
	if reason := ts.waitClose(conn.ID()); reason != ReasonForced {
		t.Errorf("close reason %q", reason)
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	sid := ts.openPolling("EIO=4&transport=polling").SID
	q := "EIO=4&transport=polling&sid=" + sid
	pollDone := make(chan string, 1)
	go func() { _, body := ts.get(q); pollDone <- body }()
	c, err := ts.dial("EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	readWS(t, c)
	wsDone := make(chan string, 1)
	go func() {
		// Read on, as a real client does, so the close handshake completes.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var got []string
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				wsDone <- strings.Join(got, ",") + fmt.Sprintf(" (%v)", websocket.CloseStatus(err))
				return
			}
			got = append(got, string(b))
		}
	}()
	time.Sleep(50 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if body := <-pollDone; body != "1" {
		t.Errorf("pending poll got %q, want the close packet", body)
	}
	if got := <-wsDone; got != "1 (StatusNormalClosure)" {
		t.Errorf("WebSocket got %q, want the close packet and a normal closure", got)
	}
	if ts.srv.Len() != 0 {
		t.Errorf("Len() = %d after Shutdown", ts.srv.Len())
	}
	if status, _, _ := ts.do(http.MethodGet, "EIO=4&transport=polling", "", nil); status != http.StatusServiceUnavailable {
		t.Errorf("handshake after Shutdown: status %d, want 503", status)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	anyOrigin := newTestServer(t, nil)
	listed := newTestServer(t, &Options{AllowedOrigins: []string{"https://app.example"}, AllowCredentials: true})
	tests := []struct {
		name        string
		ts          *testServer
		origin      string
		status      int
		allowOrigin string
		credentials string
	}{
		{"any origin", anyOrigin, "https://evil.example", 200, "*", ""},
		{"no origin", anyOrigin, "", 200, "", ""},
		{"listed origin", listed, "https://app.example", 200, "https://app.example", "true"},
		{"unlisted origin", listed, "https://evil.example", 403, "", ""},
	}
	for _, tt := range tests {
		var hdr []string
		if tt.origin != "" {
			hdr = []string{"Origin", tt.origin}
		}
		status, h, _ := tt.ts.do(http.MethodGet, "EIO=4&transport=polling", "", nil, hdr...)
		if status != tt.status || h.Get("Access-Control-Allow-Origin") != tt.allowOrigin ||
			h.Get("Access-Control-Allow-Credentials") != tt.credentials {
			t.Errorf("%s: %d, ACAO %q, ACAC %q", tt.name, status, h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"))
		}
	}
	status, h, _ := listed.do(http.MethodOptions, "EIO=4&transport=polling", "", nil,
		"Origin", "https://app.example", "Access-Control-Request-Headers", "content-type")
	if status != http.StatusNoContent || h.Get("Access-Control-Allow-Headers") != "content-type" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", status, h)
	}
}

// TestConcurrentSend sends from several goroutines at once, with Send, and
// with Queue and a Flush now and then (as large fan-outs and their flusher
// do): every message arrives once, each sender's in order.
func TestConcurrentSend(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		send func(c *Conn, data []byte, i, g int) error
		done func(c *Conn)
	}{
		{"Send", func(c *Conn, data []byte, _, _ int) error { return c.Send(data, false) }, func(*Conn) {}},
		{"Queue and Flush", func(c *Conn, data []byte, i, g int) error {
			err := c.Queue(data, false)
			if i%(g+1) == 0 {
				c.Flush()
			}
			return err
		}, (*Conn).Flush},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, &Options{OnConnection: func(c *Conn) {}, MaxQueue: 100000})
			c, err := ts.dial("EIO=4&transport=websocket")
			if err != nil {
				t.Fatal(err)
			}
			readWS(t, c)
			conn := ts.nextConn()
			const senders, each = 8, 200
			var wg sync.WaitGroup
			for g := range senders {
				wg.Go(func() {
					for i := range each {
						if err := tt.send(conn, fmt.Appendf(nil, "%d:%d", g, i), i, g); err != nil {
							t.Errorf("send: %v", err)
							return
						}
					}
					tt.done(conn)
				})
			}
			next := make([]int, senders)
			for range senders * each {
				_, msg := readWS(t, c)
				var g, i int
				if _, err := fmt.Sscanf(msg, "4%d:%d", &g, &i); err != nil || i != next[g] {
					t.Fatalf("message %q out of order (want %d from sender %d)", msg, next[g], g)
				}
				next[g]++
			}
			wg.Wait()
		})
	}
}

// TestConnClosePolling closes a polling session between two polls: the
// next poll gets the queued messages and the close packet, the one after
// that is refused.
func TestConnClosePolling(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	sid := ts.openPolling("EIO=4&transport=polling").SID
	conn := ts.nextConn()
	conn.Send([]byte("bye"), false)
	conn.Close()
	q := "EIO=4&transport=polling&sid=" + sid
	if status, body := ts.get(q); status != 200 || body != "4bye\x1e1" {
		t.Errorf("poll after Close: %d %q, want the message and the close packet", status, body)
	}
	if status, _ := ts.get(q); status != 400 {
		t.Errorf("second poll after Close: status %d, want 400", status)
	}
	if reason := ts.waitClose(sid); reason != ReasonForced {
		t.Errorf("close reason %q", reason)
	}
}

// TestPingTimeoutRefreshedByTraffic checks the reference server's leniency:
// a packet other than the pong, while the pong is awaited, restarts the
// ping timeout once.
func TestPingTimeoutRefreshedByTraffic(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{PingInterval: 100 * time.Millisecond, PingTimeout: 600 * time.Millisecond, OnConnection: func(*Conn) {}})
	sid := ts.openPolling("EIO=4&transport=polling").SID
	q := "EIO=4&transport=polling&sid=" + sid
	if status, body := ts.get(q); status != 200 || body != "2" {
		t.Fatalf("poll: %d %q, want a ping", status, body)
	}
	pinged := time.Now()
	time.Sleep(300 * time.Millisecond)
	if status, _ := ts.post(q, "4busy"); status != 200 {
		t.Fatalf("message while the pong is awaited: status %d", status)
	}
	// Past the first deadline (600 ms after the ping), within the
	// restarted one (900 ms).
	time.Sleep(time.Until(pinged.Add(750 * time.Millisecond)))
	if status, _ := ts.post(q, "3"); status != 200 {
		t.Fatalf("pong after a restarted timeout: status %d, want 200", status)
	}
	// Without pongs the session still times out.
	if reason := ts.waitClose(sid); reason != ReasonPingTimeout {
		t.Errorf("close reason %q, want %q", reason, ReasonPingTimeout)
	}
}

// TestLeanHandshake checks that LeanHandshake drops the request's query,
// headers and URL, keeps the rest, and that the session works as usual.
func TestLeanHandshake(t *testing.T) {
	t.Parallel()
	for _, lean := range []bool{false, true} {
		ts := newTestServer(t, &Options{LeanHandshake: lean})
		info := ts.openPolling("EIO=4&transport=polling&x=1")
		c := <-ts.conns
		h := c.Request()
		kept := h.Query != nil || h.Header != nil || h.URL != ""
		if kept == lean || h.RemoteAddr == "" || h.Time.IsZero() {
			t.Errorf("LeanHandshake %v: request %+v", lean, h)
		}
		if status, body := ts.post("EIO=4&transport=polling&sid="+info.SID, "4hello"); status != 200 || body != "ok" {
			t.Fatalf("LeanHandshake %v: POST: %d %q", lean, status, body)
		}
		if status, body := ts.get("EIO=4&transport=polling&sid=" + info.SID); status != 200 || body != "4hello" {
			t.Errorf("LeanHandshake %v: echo poll: %d %q", lean, status, body)
		}
	}
}

// TestStaleHeartbeatStep calls a heartbeat step the scheduler had taken
// before the session was rescheduled (as when a client's packet arrives
// right at its deadline, between the scheduler popping the step and calling
// it): the stale step must neither close the session nor ping it early.
func TestStaleHeartbeatStep(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	for _, protocol := range []int{3, 4} {
		ts.openPolling(fmt.Sprintf("EIO=%d&transport=polling", protocol))
		conn := ts.nextConn()
		s := conn.s
		s.heartbeat(time.Now().Add(-time.Second)) // stale: s is scheduled an hour out
		s.mu.Lock()
		closed, pinged := s.closed, s.awaitingPong || len(s.queue) > 0
		s.mu.Unlock()
		if closed || pinged {
			t.Errorf("protocol %d: a stale heartbeat step closed the session (%v) or pinged it (%v)", protocol, closed, pinged)
		}
		conn.Close()
	}
}

// deliveredWriter is an http.ResponseWriter whose Write, like net/http's
// for an answer larger than its buffers, has put the whole answer on the
// wire when it returns; it then keeps the handler's goroutine a moment
// (descheduled, say) before returning, until hold is closed.
type deliveredWriter struct {
	h         http.Header
	body      []byte
	delivered chan struct{}
	hold      chan struct{}
}

func (w *deliveredWriter) Header() http.Header { return w.h }
func (w *deliveredWriter) WriteHeader(int)     {}
func (w *deliveredWriter) Write(b []byte) (int, error) {
	w.body = append(w.body, b...)
	close(w.delivered)
	<-w.hold
	return len(b), nil
}

// TestPollSlotFreedBeforeAnswer: a client that has a poll's whole answer
// sends its next poll at once, maybe on another connection. A poll answered
// from its handler frees the session's poll slot only after its write
// returned and the handler unwound, so that next poll, if it arrives in
// between, is taken for a second concurrent poll: 400 and the session
// closed. (A parked poll frees the slot before its answer goes out.)
func TestPollSlotFreedBeforeAnswer(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{OnConnection: func(*Conn) {}})
	sid := ts.openPolling("EIO=4&transport=polling").SID
	conn := ts.nextConn()
	s := conn.s
	if err := conn.Send([]byte(strings.Repeat("x", 64<<10)), false); err != nil {
		t.Fatal(err)
	}
	q := "EIO=4&transport=polling&sid=" + sid
	w := &deliveredWriter{h: http.Header{}, delivered: make(chan struct{}), hold: make(chan struct{})}
	first := make(chan struct{})
	go func() {
		defer close(first)
		s.poll(w, httptest.NewRequest(http.MethodGet, "/engine.io/?"+q, nil))
	}()
	<-w.delivered // the client has the whole answer: it polls again
	type result struct {
		status int
		body   string
	}
	next := make(chan result, 1)
	go func() {
		status, body := ts.get(q)
		next <- result{status, body}
	}()
	select {
	case r := <-next:
		close(w.hold)
		<-first
		t.Fatalf("the next poll, sent once the first's answer was delivered, was answered %d %q (session closed: %v)", r.status, r.body, s.isClosed())
	case <-time.After(300 * time.Millisecond):
	}
	close(w.hold)
	<-first
	if err := conn.Send([]byte("next"), false); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r := <-next; r.status != http.StatusOK || r.body != "4next" {
		t.Fatalf("next poll answered %d %q", r.status, r.body)
	}
}
