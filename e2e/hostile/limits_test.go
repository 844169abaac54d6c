package hostile

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSessionLimit fills MAX_SESSIONS and checks that further handshakes,
// polling and WebSocket, get 503 with an Engine.IO JSON error, counted in
// /metrics, while the REST side keeps working; once the sessions close,
// new clients get in again.
func TestSessionLimit(t *testing.T) {
	t.Parallel()
	const limit = 20
	s := startServer(t, fmt.Sprintf("MAX_SESSIONS=%d", limit))
	var socks []*socket
	for range limit {
		socks = append(socks, dialSocket(t, s))
	}
	before := s.metric(t, `notification_handshakes_rejected_total{reason="session limit"}`)
	for range 50 {
		code, body := pollRequest(t, http.MethodGet, s.base+"/socket.io/?EIO=4&transport=polling", "")
		if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, `{"code":`) {
			t.Fatalf("handshake beyond MAX_SESSIONS: %d %q, want 503 with an Engine.IO error", code, body)
		}
	}
	_, err := dialWS(wsURL(s, ""))
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("WebSocket handshake beyond MAX_SESSIONS: %v, want 503", err)
	}
	if got := s.metric(t, `notification_handshakes_rejected_total{reason="session limit"}`); got-before != 51 {
		t.Errorf("session limit rejections grew by %v, want 51", got-before)
	}
	s.checkPing(t)
	if code, body := s.rest(http.MethodPost, "/api/nobody/push", `{"message":1}`); code != http.StatusOK {
		t.Errorf("push at the session limit: %d %s", code, body)
	}
	for _, sk := range socks {
		sk.close()
	}
	if v := s.waitMetric(t, "notification_sessions{", 5*time.Second, func(v float64) bool { return v == 0 }); v != 0 {
		t.Fatalf("%v sessions still counted after every client left", v)
	}
	s.checkHealthy(t, rssBound)
}

// TestPendingLimit fills MAX_PENDING with connection ids and checks that
// further registers get 429 with a JSON error, that refreshing an id
// already registered still works, and that a client bound with it still
// gets pushes.
func TestPendingLimit(t *testing.T) {
	t.Parallel()
	const limit = 30
	s := startServer(t, fmt.Sprintf("MAX_PENDING=%d", limit))
	s.checkPush(t, "legit", "legit-conn") // registered before the flood
	for i := 1; i < limit; i++ {
		if code, body := s.rest(http.MethodPut, fmt.Sprintf("/api/flood-%d/register?connectionId=c", i), ""); code != http.StatusOK {
			t.Fatalf("register %d of %d: %d %s", i+1, limit, code, body)
		}
	}
	for i := range 200 {
		code, body := s.rest(http.MethodPut, fmt.Sprintf("/api/more-%d/register?connectionId=c-%d", i, i), "")
		if code != http.StatusTooManyRequests || !strings.HasPrefix(body, `{"error":`) {
			t.Fatalf("register beyond MAX_PENDING: %d %s, want 429 JSON", code, body)
		}
	}
	if v := s.metric(t, "notification_pending_connection_ids "); v != limit {
		t.Errorf("%v pending connection ids, want %d", v, limit)
	}
	if v := s.metric(t, `notification_http_requests_total{route="PUT /api/{userId}/register",code="429"}`); v != 200 {
		t.Errorf("429 answers counted: %v, want 200", v)
	}
	s.checkPing(t)
	s.checkPush(t, "legit", "legit-conn")
	if rss := s.rss(); rss > rssBound {
		t.Errorf("server RSS %d MiB, bound %d MiB", rss>>20, rssBound>>20)
	}
}

// attackerIP is a second loopback address, so that a per-IP limit hit by
// the attacker leaves the legitimate client on 127.0.0.1 alone.
const attackerIP = "127.0.0.2"

// TestHandshakeRateLimit checks HANDSHAKE_RATE: beyond its burst, an IP's
// handshakes (polling and WebSocket) get 429 with an Engine.IO JSON error,
// while another IP is not affected.
func TestHandshakeRateLimit(t *testing.T) {
	t.Parallel()
	const burst = 5
	s := startServer(t, "HANDSHAKE_RATE=0.5", fmt.Sprintf("HANDSHAKE_BURST=%d", burst))
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(attackerIP)}}
	if c, err := d.Dial("tcp", s.addr); err != nil {
		t.Skipf("cannot dial from %s: %v", attackerIP, err)
	} else {
		c.Close()
	}
	attacker := &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
	handshake := func() (int, string) {
		res, err := attacker.Get(s.base + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	before := s.metric(t, "notification_handshakes_rejected_total")
	ok := 0
	for range burst + 50 {
		code, body := handshake()
		switch {
		case code == http.StatusOK:
			ok++
		case code != http.StatusTooManyRequests || !strings.HasPrefix(body, `{"code":`):
			t.Fatalf("handshake beyond the rate: %d %q, want 429 with an Engine.IO error", code, body)
		}
	}
	// The burst, and perhaps one more token if the loop was slow.
	if ok < burst || ok > burst+1 {
		t.Errorf("%d handshakes accepted, want the burst of %d", ok, burst)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, res, err := websocket.Dial(ctx, wsURL(s, ""), &websocket.DialOptions{HTTPClient: attacker})
	if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("WebSocket handshake beyond the rate: %v, want 429", err)
	}
	if got := s.metric(t, "notification_handshakes_rejected_total"); got-before < float64(burst+50-ok) {
		t.Errorf("rejected handshakes grew by %v, want %d", got-before, burst+50-ok+1)
	}
	s.checkHealthy(t, rssBound) // from 127.0.0.1
}

// TestAttachmentBytes sends attachments that are each within the default
// MAX_PAYLOAD but together beyond the 1 MB bound of one packet: the session
// is closed, the server keeps well.
func TestAttachmentBytes(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	sk := dialSocket(t, s)
	sk.write(`452-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	sk.writeFrame(websocket.MessageBinary, strings.Repeat("a", 600_000))
	sk.writeFrame(websocket.MessageBinary, strings.Repeat("b", 600_000))
	sk.waitClosed(closeWithin)
	s.checkHealthy(t, rssBound)
}

// TestSessionsPerUser checks MAX_SESSIONS_PER_USER: a register beyond it
// is refused with an ack error and counted, and the user's other sessions
// keep receiving.
func TestSessionsPerUser(t *testing.T) {
	t.Parallel()
	const limit = 3
	s := startServer(t, fmt.Sprintf("MAX_SESSIONS_PER_USER=%d", limit))
	var socks []*socket
	for i := range limit + 5 {
		conn := fmt.Sprintf("c%d", i)
		if code, body := s.rest(http.MethodPut, "/api/many/register?connectionId="+conn, ""); code != http.StatusOK {
			t.Fatalf("register: %d %s", code, body)
		}
		sk := dialSocket(t, s)
		ack := sk.register("many", conn)
		switch {
		case i < limit && ack != `[{"ok":true}]`:
			t.Fatalf("register %d: %s", i, ack)
		case i >= limit && !strings.Contains(ack, `"ok":false`):
			t.Fatalf("register %d beyond MAX_SESSIONS_PER_USER: %s", i, ack)
		}
		socks = append(socks, sk)
	}
	if v := s.metric(t, `notification_socket_registrations_total{result="too_many_sessions"}`); v != 5 {
		t.Errorf("too_many_sessions registrations: %v, want 5", v)
	}
	code, body := s.rest(http.MethodPost, "/api/many/push", `{"message":"x"}`)
	if code != http.StatusOK || body != fmt.Sprintf(`{"sessions":%d}`, limit) {
		t.Fatalf("push: %d %s", code, body)
	}
	for i, sk := range socks[:limit] {
		if got := sk.nextEvent(5 * time.Second); got != `["message","x"]` {
			t.Errorf("session %d got %s", i, got)
		}
	}
	s.checkHealthy(t, rssBound)
}

// TestCompression checks that permessage-deflate is off unless
// WS_COMPRESSION is set, and that with it on, a small compressed message
// inflating beyond MAX_PAYLOAD (a deflate bomb) closes the session.
func TestCompression(t *testing.T) {
	t.Parallel()
	dial := func(s *server) (*websocket.Conn, *http.Response) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, res, err := websocket.Dial(ctx, wsURL(s, ""), &websocket.DialOptions{HTTPClient: freshClient, CompressionMode: websocket.CompressionContextTakeover})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		return c, res
	}
	off := startServer(t)
	c, res := dial(off)
	c.CloseNow()
	if ext := res.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Errorf("compression negotiated by default: %q", ext)
	}

	on := startServer(t, "WS_COMPRESSION=true", fmt.Sprintf("MAX_PAYLOAD=%d", maxPayload))
	c, res = dial(on)
	if ext := res.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("compression not negotiated with WS_COMPRESSION=true: %q", ext)
	}
	sk := newSocket(t, c)
	if f := sk.next(5 * time.Second); !strings.HasPrefix(f.data, "0{") {
		t.Fatalf("open packet %q", f.data)
	}
	sk.write("40")
	sk.next(5 * time.Second)
	sk.write(`42["x","` + strings.Repeat("a", 100*maxPayload) + `"]`) // about 1 MB, a few KB compressed
	sk.waitClosed(closeWithin)
	if code := websocket.CloseStatus(sk.err); code != websocket.StatusMessageTooBig {
		t.Errorf("deflate bomb: closed with %v, want %v", code, websocket.StatusMessageTooBig)
	}
	on.checkHealthy(t, rssBound)
}
