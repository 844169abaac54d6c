package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// socket is a minimal Engine.IO 4 / Socket.IO 5 client over WebSocket. A
// reader goroutine answers pings and queues every other frame; the socket
// can also write raw frames, which is what the attacks do.
type socket struct {
	t      testing.TB
	c      *websocket.Conn
	frames chan frame
	done   chan struct{} // closed when the reader stops
	quit   chan struct{} // closed by close
	once   sync.Once
	err    error // why the reader stopped, once done is closed
	ackID  int
}

type frame struct {
	typ  websocket.MessageType
	data string
}

// wsURL is the Engine.IO 4 WebSocket URL of s, with an optional sid.
func wsURL(s *server, sid string) string {
	u := "ws://" + s.addr + "/socket.io/?EIO=4&transport=websocket"
	if sid != "" {
		u += "&sid=" + sid
	}
	return u
}

// dialSocket opens an Engine.IO session over WebSocket and connects to the
// Socket.IO namespace "/".
func dialSocket(t testing.TB, s *server) *socket {
	t.Helper()
	c := dialEngine(t, s)
	c.write("40")
	if f := c.next(5 * time.Second); !strings.HasPrefix(f.data, `40{"sid":`) {
		t.Fatalf("CONNECT answered %q", f.data)
	}
	return c
}

// dialEngine opens an Engine.IO session over WebSocket and reads its open
// packet, without connecting to a namespace.
func dialEngine(t testing.TB, s *server) *socket {
	t.Helper()
	c, err := dialWS(wsURL(s, ""))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	sk := newSocket(t, c)
	if f := sk.next(5 * time.Second); !strings.HasPrefix(f.data, `0{"sid":`) {
		t.Fatalf("open packet %q", f.data)
	}
	return sk
}

// dialWS dials a WebSocket with a 5 s handshake deadline and no read
// limit beyond what the tests send back.
func dialWS(url string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: freshClient})
	if err != nil {
		if res != nil && res.Body != nil {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
			res.Body.Close()
			return nil, fmt.Errorf("%w (%d %s)", err, res.StatusCode, b)
		}
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	return c, nil
}

func newSocket(t testing.TB, c *websocket.Conn) *socket {
	sk := &socket{t: t, c: c, frames: make(chan frame, 256), done: make(chan struct{}), quit: make(chan struct{})}
	go sk.read()
	t.Cleanup(sk.close)
	return sk
}

func (sk *socket) read() {
	defer close(sk.done)
	for {
		typ, b, err := sk.c.Read(context.Background())
		if err != nil {
			sk.err = err
			return
		}
		if typ == websocket.MessageText && string(b) == "2" {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			sk.c.Write(ctx, websocket.MessageText, []byte("3"))
			cancel()
			continue
		}
		select {
		case sk.frames <- frame{typ, string(b)}:
		case <-sk.quit:
			return
		}
	}
}

// close closes the connection at once and waits for the reader.
func (sk *socket) close() {
	sk.once.Do(func() { close(sk.quit) })
	sk.c.CloseNow()
	<-sk.done
}

// write sends a text frame.
func (sk *socket) write(msg string) {
	sk.t.Helper()
	sk.writeFrame(websocket.MessageText, msg)
}

// writeFrame sends a frame; errors are ignored, since an attack may well
// have closed the connection already.
func (sk *socket) writeFrame(typ websocket.MessageType, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sk.c.Write(ctx, typ, []byte(msg))
}

// next returns the next frame other than a ping, failing after timeout.
func (sk *socket) next(timeout time.Duration) frame {
	sk.t.Helper()
	select {
	case f := <-sk.frames:
		return f
	case <-sk.done:
		if len(sk.frames) > 0 { // received before the close
			return <-sk.frames
		}
		sk.t.Fatalf("connection closed: %v", sk.err)
	case <-time.After(timeout):
		sk.t.Fatalf("nothing received in %v", timeout)
	}
	return frame{}
}

// nextEvent returns the arguments of the next Socket.IO EVENT on "/".
func (sk *socket) nextEvent(timeout time.Duration) string {
	sk.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f := sk.next(time.Until(deadline))
		if data, ok := strings.CutPrefix(f.data, "42"); ok {
			return data
		}
	}
}

// register emits register(user, conn) with an ack and returns the ack's
// arguments.
func (sk *socket) register(user, conn string) string {
	sk.t.Helper()
	sk.ackID++
	args, _ := json.Marshal([]string{"register", user, conn})
	sk.write(fmt.Sprintf("42%d%s", sk.ackID, args))
	prefix := fmt.Sprintf("43%d", sk.ackID)
	deadline := time.Now().Add(5 * time.Second)
	for {
		f := sk.next(time.Until(deadline))
		if data, ok := strings.CutPrefix(f.data, prefix); ok {
			return data
		}
	}
}

// waitClosed asserts that the server closes the connection within timeout
// (pings are answered meanwhile, so a ping timeout cannot be the cause).
func (sk *socket) waitClosed(timeout time.Duration) {
	sk.t.Helper()
	select {
	case <-sk.done:
	case <-time.After(timeout):
		sk.t.Fatalf("server did not close the session within %v", timeout)
	}
}

// pollingSession is an Engine.IO 4 session over HTTP long-polling.
type pollingSession struct {
	t   testing.TB
	url string // with the sid
}

// openPolling makes an Engine.IO 4 polling handshake and returns the
// session.
func openPolling(t testing.TB, s *server) *pollingSession {
	t.Helper()
	code, body := pollRequest(t, http.MethodGet, s.base+"/socket.io/?EIO=4&transport=polling", "")
	if code != http.StatusOK || !strings.HasPrefix(body, "0{") {
		t.Fatalf("polling handshake: %d %q", code, body)
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatalf("open packet %q: %v", body, err)
	}
	return &pollingSession{t: t, url: s.base + "/socket.io/?EIO=4&transport=polling&sid=" + open.SID}
}

func (p *pollingSession) sid() string {
	return p.url[strings.LastIndex(p.url, "=")+1:]
}

func (p *pollingSession) get() (int, string) {
	p.t.Helper()
	return pollRequest(p.t, http.MethodGet, p.url, "")
}

func (p *pollingSession) post(body string) (int, string) {
	p.t.Helper()
	return pollRequest(p.t, http.MethodPost, p.url, body)
}

// pollRequest sends one polling request on a fresh connection.
func pollRequest(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	res, err := freshClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, string(b)
}
