package hostile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Limits of the shared hostile server, small so that every limit is cheap
// to reach.
const (
	maxPayload   = 10000 // MAX_PAYLOAD
	maxBodyBytes = 10000 // MAX_BODY_BYTES
	// closeWithin is how long the server may take to close a session that
	// broke a rule; well below PING_INTERVAL+PING_TIMEOUT, so a session
	// closed by the heartbeat instead does not pass for one closed by the
	// rule.
	closeWithin = 2 * time.Second
)

// hostileEnv configures the shared server: small limits and short
// timeouts, heartbeat 2s+2s.
var hostileEnv = []string{
	"MAX_PAYLOAD=" + strconv.Itoa(maxPayload),
	"MAX_BODY_BYTES=" + strconv.Itoa(maxBodyBytes),
	"BODY_TIMEOUT=1s", "READ_HEADER_TIMEOUT=1s", "IDLE_TIMEOUT=2s",
	"CONNECT_TIMEOUT=1s", "PING_INTERVAL=2s", "PING_TIMEOUT=2s",
	"MAX_HEADER_BYTES=4096",
}

// attack is one hostile case run against the shared server.
type attack struct {
	name string
	run  func(t *testing.T, s *server)
}

// TestAttacks runs every attack in turn against one server and checks its
// health after each. The attacks run one at a time so that a failed check
// names the attack that caused it.
func TestAttacks(t *testing.T) {
	t.Parallel()
	s := startServer(t, hostileEnv...)
	s.checkHealthy(t, rssBound)
	attacks := []attack{
		{"engineio malformed websocket", attackEngineIOWebSocket},
		{"engineio malformed polling", attackEngineIOPolling},
		{"socketio malformed", attackSocketIO},
		{"socketio v4 malformed", attackSocketIOv4},
		{"attachment lies", attackAttachments},
		{"deep json", attackDeepJSON},
		{"invalid utf8", attackInvalidUTF8},
		{"oversized websocket", attackOversizedWebSocket},
		{"oversized polling", attackOversizedPolling},
		{"oversized rest", attackOversizedREST},
		{"slowloris", attackSlowloris},
		{"stalled bodies", attackStalledBodies},
		{"idle tcp flood", attackIdleTCP},
		{"idle session flood", attackIdleSessions},
		{"never reading flood", attackNeverReading},
		{"rest register flood", attackRESTRegisterFlood},
		{"socket register flood", attackSocketRegisterFlood},
		{"namespace connect flood", attackConnectFlood},
		{"forged sids", attackForgedSIDs},
		{"second concurrent poll", attackConcurrentPoll},
		{"two websockets for one sid", attackTwoWebSockets},
		{"polling during upgrade", attackPollingDuringUpgrade},
	}
	for _, a := range attacks {
		ok := t.Run(a.name, func(t *testing.T) {
			a.run(t, s)
			s.checkHealthy(t, rssBound)
		})
		if !ok && !s.alive() {
			t.Fatalf("server died during %q", a.name)
		}
	}
	t.Logf("server RSS after every attack: %d MiB", s.rss()>>20)
}

// closesEngine sends each message on a fresh Engine.IO session (connected
// to "/" first if connect) and asserts the server closes it.
func closesEngine(t *testing.T, s *server, connect bool, msgs []string) {
	t.Helper()
	for _, msg := range msgs {
		var sk *socket
		if connect {
			sk = dialSocket(t, s)
		} else {
			sk = dialEngine(t, s)
		}
		sk.write(msg)
		select {
		case <-sk.done:
		case <-time.After(closeWithin):
			t.Errorf("%.40q: session not closed within %v", msg, closeWithin)
		}
		sk.close()
	}
}

func attackEngineIOWebSocket(t *testing.T, s *server) {
	before := s.metric(t, `notification_session_closes_total{reason="parse error"}`)
	bad := []string{"", "7", "9", "x", "\xff", "0", "-1"}
	closesEngine(t, s, false, bad)
	if got := s.metric(t, `notification_session_closes_total{reason="parse error"}`); got-before < float64(len(bad)) {
		t.Errorf("parse error closes grew by %v, want %d", got-before, len(bad))
	}
	// Packets a client may send but that mean nothing here: harmless.
	for _, msg := range []string{"6", "3", "3probe", "5", "2probe"} {
		sk := dialSocket(t, s)
		sk.write(msg)
		sk.write(`42["ping"]`)
		sk.close()
	}
}

func attackEngineIOPolling(t *testing.T, s *server) {
	bodies := []string{
		"", "\x1e", "9", "x", "4a\x1e\x1e", "\x1e\x1e\x1e", "bnot base64!", "7\x1e4a",
		"99999999:4", "5:4abc",
	}
	for _, body := range bodies {
		p := openPolling(t, s)
		code, _ := p.post(body)
		if code == http.StatusOK {
			t.Errorf("POST %q: 200, want an error", body)
			continue
		}
		if code, _ := p.get(); code != http.StatusBadRequest {
			t.Errorf("POST %q: next poll %d, want 400 (session closed)", body, code)
		}
	}
	// The same on Engine.IO 3, whose payloads are length-prefixed.
	for _, body := range []string{"5:4abc", "99999999:4", "abc:4", "4:4a", "2:4a2:", "1:"} {
		sid := openV3(t, s, "")
		url := s.base + "/socket.io/?EIO=3&transport=polling&sid=" + sid
		if code, _ := pollRequest(t, http.MethodPost, url, body); code == http.StatusOK {
			t.Errorf("EIO=3 POST %q: 200, want an error", body)
		}
	}
	// Engine.IO 3 binary payloads (socket.io-client 1.x/2.x XHR) and JSONP
	// bodies that lie.
	for _, c := range []struct{ contentType, query, body string }{
		{"application/octet-stream", "", "\x00\x09\xff4abc"},
		{"application/octet-stream", "", "\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff4"},
		{"application/octet-stream", "", "\x01\xff"},
		{"application/octet-stream", "", "\x02\x01\xff"},
		{"application/x-www-form-urlencoded", "&j=0", "d=99%3A4"},
		{"application/x-www-form-urlencoded", "&j=0", "d=%ZZ"},
		{"application/x-www-form-urlencoded", "&j=0", "x=1"},
	} {
		sid := openV3(t, s, c.query)
		req, _ := http.NewRequest(http.MethodPost, s.base+"/socket.io/?EIO=3&transport=polling&sid="+sid+c.query, strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.contentType)
		res, err := freshClient.Do(req)
		if err != nil {
			t.Fatalf("POST %q: %v", c.body, err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Errorf("EIO=3 %s POST %q: 200, want an error", c.contentType, c.body)
		}
	}
}

// sidPattern finds the sid in an open packet, also when JSONP escapes its
// quotes.
var sidPattern = regexp.MustCompile(`sid\\*":\\*"([A-Za-z0-9_-]+)`)

// openV3 makes an Engine.IO 3 polling handshake (query adds e.g. "&j=0"
// for JSONP) and returns the sid.
func openV3(t *testing.T, s *server, query string) string {
	t.Helper()
	code, open := pollRequest(t, http.MethodGet, s.base+"/socket.io/?EIO=3&transport=polling"+query, "")
	m := sidPattern.FindStringSubmatch(open)
	if code != http.StatusOK || m == nil {
		t.Fatalf("EIO=3 handshake: %d %q", code, open)
	}
	return m[1]
}

func attackSocketIO(t *testing.T, s *server) {
	bad := []string{
		"4", "47", "4x", "42", "42[", `42{"a":1}`, `42[true,2]`, `42[]`, `42["connect"]`,
		`42["disconnect"]`, `42abc["x"]`, `4299999999999999999999["x"]`, `43`, `431{"a":1}`,
		`42"x"`, `42["x",]`, `40{"a":`,
	}
	before := s.metric(t, `notification_session_closes_total{reason="parse error"}`)
	closesEngine(t, s, true, bad)
	// Counted as what they are, not as a forced close.
	if got := s.metric(t, `notification_session_closes_total{reason="parse error"}`) - before; got < float64(len(bad)) {
		t.Errorf("parse-error closes grew by %v, want %d", got, len(bad))
	}
	// Events before CONNECT, to an unknown namespace, CONNECT_ERROR from a
	// client, an ack nobody asked for: survived, whatever the answer.
	for _, msg := range []string{`42["register","a","b"]`, `42/nope,["x"]`, `40/nope,`, `44{"message":"x"}`, `4317[1]`, `41`} {
		sk := dialEngine(t, s)
		sk.write(msg)
		sk.write("40")
		sk.close()
	}
}

// attackSocketIOv4 sends malformed packets on Engine.IO 3 / Socket.IO 4
// sessions (socket.io-client 1.x and 2.x), which the server connects to
// "/" without being asked.
func attackSocketIOv4(t *testing.T, s *server) {
	for _, msg := range []string{
		"4", "47", "42[", `42{"a":1}`, `42[true]`, `42["connect"]`, `4299999999999999999999["x"]`,
		`45999999999-["x"]`, "42[\"x\",\"\xff\"]", `42["x",` + nested(100) + `]`,
	} {
		c, err := dialWS("ws://" + s.addr + "/socket.io/?EIO=3&transport=websocket")
		if err != nil {
			t.Fatal(err)
		}
		sk := newSocket(t, c)
		if f := sk.next(5 * time.Second); !strings.HasPrefix(f.data, "0{") {
			t.Fatalf("open packet %q", f.data)
		}
		if f := sk.next(5 * time.Second); f.data != "40" {
			t.Fatalf("implicit CONNECT %q", f.data)
		}
		sk.write(msg)
		select {
		case <-sk.done:
		case <-time.After(closeWithin):
			t.Errorf("%.40q: protocol 4 session not closed within %v", msg, closeWithin)
		}
		sk.close()
	}
}

func attackAttachments(t *testing.T, s *server) {
	ph := func(n int) string { return fmt.Sprintf(`{"_placeholder":true,"num":%d}`, n) }
	cases := []struct {
		name   string
		frames []frame
	}{
		{"placeholder out of range", []frame{{websocket.MessageText, `451-["x",` + ph(5) + `]`}, {websocket.MessageBinary, "a"}}},
		{"negative placeholder", []frame{{websocket.MessageText, `451-["x",` + ph(-1) + `]`}, {websocket.MessageBinary, "a"}}},
		{"count above placeholders", []frame{{websocket.MessageText, `452-["x",` + ph(0) + `]`}, {websocket.MessageBinary, "a"}, {websocket.MessageBinary, "b"}}},
		{"count below placeholders", []frame{{websocket.MessageText, `451-["x",` + ph(0) + `,` + ph(1) + `]`}, {websocket.MessageBinary, "a"}}},
		{"no placeholder", []frame{{websocket.MessageText, `451-["x"]`}, {websocket.MessageBinary, "a"}}},
		{"zero count", []frame{{websocket.MessageText, `450-["x"]`}}},
		{"huge count", []frame{{websocket.MessageText, `45999999999-["x",` + ph(0) + `]`}}},
		{"count above the limit", []frame{{websocket.MessageText, `4511-["x",` + ph(0) + `]`}}},
		{"text instead of attachment", []frame{{websocket.MessageText, `451-["x",` + ph(0) + `]`}, {websocket.MessageText, `42["x"]`}}},
		{"binary ack lie", []frame{{websocket.MessageText, `4613-[` + ph(3) + `]`}, {websocket.MessageBinary, "a"}}},
		{"missing dash", []frame{{websocket.MessageText, `451["x",` + ph(0) + `]`}, {websocket.MessageBinary, "a"}}},
		{"stray binary", []frame{{websocket.MessageBinary, "a"}, {websocket.MessageBinary, "b"}}},
	}
	for _, c := range cases {
		sk := dialSocket(t, s)
		for _, f := range c.frames {
			sk.writeFrame(f.typ, f.data)
		}
		select {
		case <-sk.done:
		case <-time.After(closeWithin):
			t.Errorf("%s: session not closed within %v", c.name, closeWithin)
		}
		sk.close()
	}
	// A legitimate binary event is fine, and the session stays open.
	sk := dialSocket(t, s)
	sk.write(`451-["x",` + ph(0) + `]`)
	sk.writeFrame(websocket.MessageBinary, "abc")
	if ack := sk.register("nobody", "nothing"); !strings.Contains(ack, `"ok":false`) {
		t.Errorf("register after a binary event: %s", ack)
	}
	sk.close()
}

// nested returns n opening brackets, an atom and n closing ones.
func nested(n int) string {
	return strings.Repeat("[", n) + "1" + strings.Repeat("]", n)
}

func attackDeepJSON(t *testing.T, s *server) {
	closesEngine(t, s, true, []string{
		`42["x",` + nested(4000) + `]`,
		`42["x",` + strings.Repeat(`{"a":`, 1500) + "1" + strings.Repeat("}", 1500) + `]`,
		`42["register",` + nested(100) + `,"c"]`,
		`42["x",` + strings.Repeat("[", 4900) + `]`, // never closed
	})
	p := openPolling(t, s)
	if code, _ := p.post(`40`); code != http.StatusOK {
		t.Fatalf("polling CONNECT: %d", code)
	}
	p.post(`42["x",` + nested(4000) + `]`)
	waitPollingClosed(t, p)
	// A REST push of deep JSON is answered (400 or queued), never a hang or a crash.
	code, body := s.rest(http.MethodPost, "/api/deep/push", `{"message":`+nested(4900)+`}`)
	if code != http.StatusOK && code != http.StatusBadRequest {
		t.Errorf("deep push: %d %s", code, body)
	}
}

// waitPollingClosed polls until the session is unknown (400).
func waitPollingClosed(t *testing.T, p *pollingSession) {
	t.Helper()
	deadline := time.Now().Add(closeWithin)
	for {
		code, _ := p.get()
		if code == http.StatusBadRequest {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("polling session not closed within %v (last poll %d)", closeWithin, code)
			return
		}
	}
}

func attackInvalidUTF8(t *testing.T, s *server) {
	closesEngine(t, s, true, []string{
		"42[\"x\",\"\xff\xfe\"]",
		"42[\"register\",\"\xc0\xaf\",\"c\"]",
		"42[\"x\",\"\xed\xa0\x80\"]", // a UTF-8 encoded surrogate
	})
	p := openPolling(t, s)
	p.post("40")
	p.post("42[\"x\",\"\xff\"]")
	waitPollingClosed(t, p)
	code, body := s.rest(http.MethodPost, "/api/u/push", "{\"message\":\"\xff\xfe\"}")
	if code != http.StatusBadRequest || !strings.HasPrefix(body, `{"error":`) {
		t.Errorf("push of invalid UTF-8: %d %s, want 400 JSON", code, body)
	}
	code, body = s.rest(http.MethodPut, "/api/\xff/register?connectionId=%ff%fe", "")
	if code >= 500 {
		t.Errorf("register with invalid UTF-8 ids: %d %s", code, body)
	}
}

func attackOversizedWebSocket(t *testing.T, s *server) {
	before := s.metric(t, `notification_session_closes_total{reason="payload too large"}`)
	closesEngine(t, s, true, []string{
		"4" + strings.Repeat("a", maxPayload+1),
		`42["x","` + strings.Repeat("a", 3*maxPayload) + `"]`,
	})
	// Frames that declare far more than they send: a 1 TiB message, and a
	// message split into fragments adding up beyond the limit.
	// The declared length is not checked against MAX_PAYLOAD before the
	// bytes arrive: a 1 TiB frame holds its session until the heartbeat
	// (PING_INTERVAL+PING_TIMEOUT, 4s) closes it. Bounded, but see
	// TestHugeDeclaredFrameClosedAtOnce.
	for _, lie := range []struct {
		name   string
		within time.Duration
		write  func(w *rawWS) error
	}{
		{"huge declared length", 6 * time.Second, func(w *rawWS) error {
			_, err := w.Write(append(frameHeader(0x1, true, 1<<40), "4aaaa"...))
			return err
		}},
		{"fragments beyond the limit", closeWithin, func(w *rawWS) error {
			if _, err := w.Write(append(frameHeader(0x1, false, 5000), "4"+strings.Repeat("a", 4999)...)); err != nil {
				return err
			}
			for range 10 {
				if _, err := w.Write(append(frameHeader(0x0, false, 5000), strings.Repeat("a", 5000)...)); err != nil {
					return nil // closed already
				}
			}
			return nil
		}},
	} {
		w, err := dialRawWS(t, s.addr, "", "/socket.io/?EIO=4&transport=websocket")
		if err != nil {
			t.Fatalf("%s: %v", lie.name, err)
		}
		w.writeFrame(0x1, "40")
		w.SetWriteDeadline(time.Now().Add(5 * time.Second))
		lie.write(w)
		if !w.waitClosed(lie.within) {
			t.Errorf("%s: connection not closed within %v", lie.name, lie.within)
		}
		w.Close()
	}
	if got := s.waitMetric(t, `notification_session_closes_total{reason="payload too large"}`, time.Second, func(v float64) bool { return v-before >= 3 }); got-before < 3 {
		t.Errorf("payload too large closes grew by %v, want 3", got-before)
	}
}

func attackOversizedPolling(t *testing.T, s *server) {
	p := openPolling(t, s)
	if code, body := p.post("4" + strings.Repeat("a", maxPayload+1)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized POST: %d %q, want 413", code, body)
	}
	// A declared length far beyond the limit, with no body behind it: the
	// answer must come without waiting for the body.
	p = openPolling(t, s)
	c := dialTCP(t, s.addr, "")
	defer c.Close()
	path := strings.TrimPrefix(p.url, s.base)
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000000000000\r\n\r\n4a", path)
	c.SetReadDeadline(time.Now().Add(closeWithin))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Errorf("POST declaring 1 TB: no answer: %v", err)
	} else if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST declaring 1 TB: %d, want 413", res.StatusCode)
	}
	// Chunked, so the length is only known by reading.
	p = openPolling(t, s)
	req, _ := http.NewRequest(http.MethodPost, p.url, io.MultiReader(strings.NewReader("4"), strings.NewReader(strings.Repeat("a", 3*maxPayload))))
	req.ContentLength = -1
	res, err = freshClient.Do(req)
	if err != nil {
		t.Errorf("chunked oversized POST: %v", err)
	} else {
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked oversized POST: %d, want 413", res.StatusCode)
		}
	}
}

func attackOversizedREST(t *testing.T, s *server) {
	big := `{"message":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, "/api/u/push"},
	} {
		code, body := s.rest(r.method, r.path, big)
		if code != http.StatusRequestEntityTooLarge || !strings.HasPrefix(body, `{"error":`) {
			t.Errorf("%s %s with %d bytes: %d %s, want 413 JSON", r.method, r.path, len(big), code, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, s.base+"/api/u/push", io.MultiReader(strings.NewReader(big), strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("X-AUTH-TOKEN", token)
	res, err := freshClient.Do(req)
	if err != nil {
		t.Fatalf("chunked push: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.HasPrefix(string(b), `{"error":`) {
		t.Errorf("chunked oversized push: %d %s, want 413 JSON", res.StatusCode, b)
	}
	// Declared, never sent: answered at once.
	c := dialTCP(t, s.addr, "")
	defer c.Close()
	fmt.Fprintf(c, "POST /api/u/push HTTP/1.1\r\nHost: x\r\nX-AUTH-TOKEN: %s\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{", token)
	c.SetReadDeadline(time.Now().Add(closeWithin))
	res, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Errorf("push declaring 1 TB: no answer: %v", err)
	} else if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("push declaring 1 TB: %d, want 413", res.StatusCode)
	}
	// Headers beyond MAX_HEADER_BYTES.
	req, _ = http.NewRequest(http.MethodGet, s.base+"/api/status/ping", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	res, err = freshClient.Do(req)
	if err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("64 KiB of headers: %d, want 431", res.StatusCode)
		}
	}
}

// flood runs n connections at once, each handled by f, and waits for all.
func flood(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

func attackSlowloris(t *testing.T, s *server) {
	const n = 300
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialTCP(t, s.addr, "")
		defer conns[i].Close()
		io.WriteString(conns[i], "GET /api/status/ping HTTP/1.1\r\nHost: x\r\n")
	}
	// Drip a header byte per connection every 100ms; READ_HEADER_TIMEOUT
	// (1s) must cut them all regardless.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range conns {
				c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				c.Write([]byte("X"))
			}
		}
	})
	s.checkPing(t) // answered while the slow ones wait
	var open int
	var mu sync.Mutex
	flood(n, func(i int) {
		if !waitEOF(conns[i], nil, 4*time.Second) {
			mu.Lock()
			open++
			mu.Unlock()
		}
	})
	close(stop)
	wg.Wait()
	if open > 0 {
		t.Errorf("%d of %d slowloris connections still open after 4s (READ_HEADER_TIMEOUT=1s)", open, n)
	}
}

func attackStalledBodies(t *testing.T, s *server) {
	const n = 50
	var unanswered, wrong int
	var mu sync.Mutex
	start := time.Now()
	flood(n, func(i int) {
		c := dialTCP(t, s.addr, "")
		defer c.Close()
		fmt.Fprintf(c, "POST /api/u%d/push HTTP/1.1\r\nHost: x\r\nX-AUTH-TOKEN: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"message\":", i, token)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			unanswered++
		case res.StatusCode < 400 || res.StatusCode >= 500:
			wrong++
		}
	})
	if unanswered+wrong > 0 {
		t.Errorf("stalled push bodies: %d unanswered, %d with a status other than 4xx (BODY_TIMEOUT=1s)", unanswered, wrong)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("stalled bodies answered after %v", took)
	}
	// Polling POSTs that stall hold their session, not the server.
	stalled := make([]net.Conn, n)
	for i := range stalled {
		p := openPolling(t, s)
		stalled[i] = dialTCP(t, s.addr, "")
		defer stalled[i].Close()
		fmt.Fprintf(stalled[i], "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n4", strings.TrimPrefix(p.url, s.base))
	}
	s.checkHealthy(t, rssBound)
}

func attackIdleTCP(t *testing.T, s *server) {
	const n = 500
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialTCP(t, s.addr, "")
		defer conns[i].Close()
	}
	s.checkPing(t)
	var open int
	var mu sync.Mutex
	flood(n, func(i int) {
		if !waitEOF(conns[i], nil, 4*time.Second) {
			mu.Lock()
			open++
			mu.Unlock()
		}
	})
	if open > 0 {
		t.Errorf("%d of %d silent TCP connections still open after 4s (READ_HEADER_TIMEOUT=1s)", open, n)
	}
	// Keep-alive connections left idle after a request: IDLE_TIMEOUT (2s).
	for i := range 50 {
		c := dialTCP(t, s.addr, "")
		defer c.Close()
		io.WriteString(c, "GET /api/status/ping HTTP/1.1\r\nHost: x\r\n\r\n")
		conns[i] = c
	}
	flood(50, func(i int) {
		if !waitEOF(conns[i], nil, 5*time.Second) {
			mu.Lock()
			open++
			mu.Unlock()
		}
	})
	if open > 0 {
		t.Errorf("%d of 50 idle keep-alive connections still open after 5s (IDLE_TIMEOUT=2s)", open)
	}
}

func attackIdleSessions(t *testing.T, s *server) {
	// Sessions that handshake, answer pings and never CONNECT:
	// CONNECT_TIMEOUT (1s) closes them.
	const n = 300
	socks := make([]*socket, n)
	for i := range socks {
		socks[i] = dialEngine(t, s)
	}
	s.checkPing(t)
	open := 0
	deadline := time.After(4 * time.Second)
	for _, sk := range socks {
		select {
		case <-sk.done:
		case <-deadline:
			open++
		}
	}
	if open > 0 {
		t.Errorf("%d of %d sessions without CONNECT still open after 4s (CONNECT_TIMEOUT=1s)", open, n)
	}
	for _, sk := range socks {
		sk.close()
	}
	// Polling sessions that never poll again end by the heartbeat.
	before := s.metric(t, `notification_sessions{transport="polling"`)
	for range n {
		openPolling(t, s)
	}
	if v := s.waitMetric(t, `notification_sessions{transport="polling"`, 8*time.Second, func(v float64) bool { return v <= before }); v > before {
		t.Errorf("%v polling sessions left open 8s after the last poll", v)
	}
}

func attackNeverReading(t *testing.T, s *server) {
	// WebSocket sessions that connect to "/" and then never read nor pong:
	// the heartbeat (2s+2s) closes them.
	const n = 300
	conns := make([]*rawWS, n)
	for i := range conns {
		w, err := dialRawWS(t, s.addr, "", "/socket.io/?EIO=4&transport=websocket")
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer w.Close()
		w.writeFrame(0x1, "40")
		conns[i] = w
	}
	s.checkPing(t)
	before := s.metric(t, `notification_session_closes_total{reason="ping timeout"}`)
	open := 0
	var mu sync.Mutex
	flood(n, func(i int) {
		// Wait 3s without reading, then drain until the server closes.
		time.Sleep(3 * time.Second)
		if !waitEOF(conns[i], conns[i].r, 5*time.Second) {
			mu.Lock()
			open++
			mu.Unlock()
		}
	})
	if open > 0 {
		t.Errorf("%d of %d never-reading sessions still open after 8s", open, n)
	}
	if got := s.metric(t, `notification_session_closes_total{reason="ping timeout"}`); got-before < n {
		t.Errorf("ping timeout closes grew by %v, want %d", got-before, n)
	}
}

func attackRESTRegisterFlood(t *testing.T, s *server) {
	const n, workers = 3000, 16
	var failed, done int
	var mu sync.Mutex
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	flood(workers, func(w int) {
		for i := w; i < n; i += workers {
			req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/api/flood-%d/register?connectionId=c-%d", s.base, i%100, i), nil)
			req.Header.Set("X-AUTH-TOKEN", token)
			res, err := client.Do(req)
			mu.Lock()
			done++
			if err != nil || res.StatusCode != http.StatusOK {
				failed++
			}
			mu.Unlock()
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}
	})
	if failed > 0 {
		t.Errorf("%d of %d registers failed", failed, done)
	}
	// 100 users, at most MAX_PENDING_PER_USER (64) ids each.
	if v := s.metric(t, "notification_pending_connection_ids "); v > 100*64+1000 {
		t.Errorf("%v pending connection ids after registering 3000 for 100 users", v)
	}
	// Wrong tokens are refused and counted.
	before := s.metric(t, "notification_auth_failures_total")
	for i := range 200 {
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/api/x/register?connectionId=%d", s.base, i), nil)
		req.Header.Set("X-AUTH-TOKEN", "wrong")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token: %d", res.StatusCode)
		}
	}
	if got := s.metric(t, "notification_auth_failures_total"); got-before != 200 {
		t.Errorf("auth failures grew by %v, want 200", got-before)
	}
}

func attackSocketRegisterFlood(t *testing.T, s *server) {
	// One socket emits thousands of registers with wrong pairs; another
	// with ids of every wrong type. No binding, no crash.
	sk := dialSocket(t, s)
	const n = 2000
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for i := range n {
			sk.writeFrame(websocket.MessageText, fmt.Sprintf(`42%d["register","flood-%d","wrong-%d"]`, i+1, i%100, i))
		}
	})
	oks := 0
	for i := 0; i < n; i++ {
		f := sk.next(10 * time.Second)
		if !strings.HasPrefix(f.data, "43") {
			i--
			continue
		}
		if !strings.Contains(f.data, `"ok":false`) {
			oks++
		}
	}
	if oks > 0 {
		t.Errorf("%d registers with wrong connection ids succeeded", oks)
	}
	sk.close()
	for _, args := range []string{`null,"c"`, `"u",null`, `{},"c"`, `"u",[]`, `true,false`, `1.5,"c"`, `"u"`, `1e400,"c"`, `"u",` + strconv.Quote(strings.Repeat("c", 5000))} {
		sk := dialSocket(t, s)
		sk.write(`421["register",` + args + `]`)
		select {
		case f := <-sk.frames:
			if !strings.HasPrefix(f.data, "431") || !strings.Contains(f.data, `"ok":false`) {
				t.Errorf("register(%s) answered %s", args, f.data)
			}
		case <-sk.done: // refused as malformed
		case <-time.After(5 * time.Second):
			t.Errorf("register(%s): no answer", args)
		}
		sk.close()
	}
}

// attackConnectFlood sends thousands of CONNECTs, to "/" again and to
// namespaces that do not exist, on one session that reads the answers, and
// on one that never reads them (closed as slow or for the repeated
// CONNECT).
func attackConnectFlood(t *testing.T, s *server) {
	const n = 2000
	for _, nsp := range []string{"", "/nope,", "/nope?x=1,"} {
		sk := dialSocket(t, s)
		var wg sync.WaitGroup
		wg.Go(func() {
			for range n {
				sk.writeFrame(websocket.MessageText, "40"+nsp)
			}
		})
		for {
			select {
			case <-sk.frames:
				continue
			case <-sk.done:
			case <-time.After(time.Second): // all answered, session still open
			}
			break
		}
		wg.Wait()
		sk.close()
	}
	w, err := dialRawWS(t, s.addr, "", "/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for range 20 * n {
		if w.writeFrame(0x1, "40/nope,") != nil {
			break
		}
	}
	w.Close()
}

func attackForgedSIDs(t *testing.T, s *server) {
	p := openPolling(t, s)
	real := p.sid()
	for _, q := range []string{
		"EIO=4&transport=polling&sid=forged",
		"EIO=4&transport=polling&sid=" + real + "x",
		"EIO=4&transport=polling&sid=" + strings.Repeat("A", 2000),
		"EIO=3&transport=polling&sid=forged",
		"EIO=4&transport=polling&sid=" + real[:len(real)-1],
		"EIO=3&transport=polling&sid=" + real, // the real sid with the wrong protocol
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			code, body := pollRequest(t, method, s.base+"/socket.io/?"+q, "40")
			if code != http.StatusBadRequest || !strings.HasPrefix(body, `{"code":`) {
				t.Errorf("%s %.60s: %d %q, want 400 with an Engine.IO error", method, q, code, body)
			}
		}
	}
	if _, err := dialWS("ws://" + s.addr + "/socket.io/?EIO=4&transport=websocket&sid=forged"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("WebSocket with a forged sid: %v, want 400", err)
	}
	// The real session is untouched.
	if code, _ := p.post("40"); code != http.StatusOK {
		t.Errorf("real session after forged requests: %d", code)
	}
}

func attackConcurrentPoll(t *testing.T, s *server) {
	p := openPolling(t, s)
	first := make(chan int, 1)
	go func() {
		code, _ := p.get()
		first <- code
	}()
	time.Sleep(200 * time.Millisecond) // the first poll is waiting
	code, body := p.get()
	if code != http.StatusBadRequest {
		t.Errorf("second concurrent poll: %d %q, want 400", code, body)
	}
	select {
	case <-first:
	case <-time.After(closeWithin):
		t.Errorf("first poll not answered after the second closed the session")
	}
	if code, _ := p.get(); code != http.StatusBadRequest {
		t.Errorf("poll after a concurrent poll: %d, want 400 (session closed)", code)
	}
}

// pollingClient is a polling socket registered for user, reading what the
// server sends through GETs.
func pollingClient(t *testing.T, s *server, user, conn string) *pollingSession {
	t.Helper()
	if code, body := s.rest(http.MethodPut, "/api/"+user+"/register?connectionId="+conn, ""); code != http.StatusOK {
		t.Fatalf("register: %d %s", code, body)
	}
	p := openPolling(t, s)
	if code, _ := p.post("40"); code != http.StatusOK {
		t.Fatal("CONNECT over polling failed")
	}
	args, _ := json.Marshal([]string{"register", user, conn})
	if code, _ := p.post("421" + string(args)); code != http.StatusOK {
		t.Fatal("register over polling failed")
	}
	deadline := time.Now().Add(5 * time.Second)
	var got string
	for !strings.Contains(got, `431[{"ok":true}]`) {
		if time.Now().After(deadline) {
			t.Fatalf("no register ack over polling, got %q", got)
		}
		_, body := p.get()
		got += body
	}
	return p
}

// probe upgrades a polling session: it sends the probe on ws and reports
// whether the server answered it.
func probe(ws *socket) bool {
	ws.write("2probe")
	select {
	case f := <-ws.frames:
		return f.data == "3probe"
	case <-ws.done:
		return false
	case <-time.After(5 * time.Second):
		return false
	}
}

func attackTwoWebSockets(t *testing.T, s *server) {
	for round := range 5 {
		user, conn := fmt.Sprintf("race-%d", round), fmt.Sprintf("race-conn-%d", round)
		p := pollingClient(t, s, user, conn)
		socks := make([]*socket, 2)
		flood(2, func(i int) {
			c, err := dialWS(wsURL(s, p.sid()))
			if err == nil {
				socks[i] = newSocket(t, c)
			}
		})
		var winners []*socket
		for _, ws := range socks {
			if ws != nil && probe(ws) {
				winners = append(winners, ws)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d WebSockets answered the probe, want 1", len(winners))
		}
		ws := winners[0]
		ws.write("5")
		code, body := s.rest(http.MethodPost, "/api/"+user+"/push", `{"message":"after the race"}`)
		if code != http.StatusOK || body != `{"sessions":1}` {
			t.Fatalf("push: %d %s", code, body)
		}
		if got := ws.nextEvent(5 * time.Second); got != `["message","after the race"]` {
			t.Errorf("upgraded socket got %s", got)
		}
		// Once upgraded, neither a third WebSocket nor a poll for the sid
		// gets in, and the session still delivers.
		if c, err := dialWS(wsURL(s, p.sid())); err == nil {
			third := newSocket(t, c)
			if probe(third) {
				t.Errorf("a third WebSocket probed an upgraded session")
			}
			third.close()
		}
		if code, body := p.get(); code != http.StatusBadRequest {
			t.Errorf("poll on an upgraded session: %d %q, want 400", code, body)
		}
		s.rest(http.MethodPost, "/api/"+user+"/push", `{"message":"still there"}`)
		if got := ws.nextEvent(5 * time.Second); got != `["message","still there"]` {
			t.Errorf("upgraded socket after intruders got %s", got)
		}
		for _, w := range socks {
			if w != nil {
				w.close()
			}
		}
	}
}

func attackPollingDuringUpgrade(t *testing.T, s *server) {
	p := pollingClient(t, s, "mid-upgrade", "mid-upgrade-conn")
	c, err := dialWS(wsURL(s, p.sid()))
	if err != nil {
		t.Fatal(err)
	}
	ws := newSocket(t, c)
	if !probe(ws) {
		t.Fatal("probe not answered")
	}
	// A push queued now is not lost to the poll or to the upgrade.
	s.rest(http.MethodPost, "/api/mid-upgrade/push", `{"message":1}`)
	var polled []string
	for range 3 {
		code, body := p.get()
		if code != http.StatusOK {
			t.Fatalf("poll during upgrade: %d %q", code, body)
		}
		polled = append(polled, body)
		if body == "6" {
			break
		}
	}
	if code, _ := p.post(`42["x"]`); code != http.StatusOK {
		t.Errorf("POST during upgrade: %d", code)
	}
	ws.write("5")
	s.rest(http.MethodPost, "/api/mid-upgrade/push", `{"message":2}`)
	var got []string
	for _, body := range polled {
		for part := range strings.SplitSeq(body, "\x1e") {
			if d, ok := strings.CutPrefix(part, "42"); ok {
				got = append(got, d)
			}
		}
	}
	for len(got) < 2 {
		got = append(got, ws.nextEvent(5*time.Second))
	}
	if got[0] != `["message",1]` || got[1] != `["message",2]` {
		t.Errorf("pushes around the upgrade arrived as %q", got)
	}
}
