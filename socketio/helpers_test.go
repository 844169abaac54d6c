package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"notification-server/engineio"

	"notification-server/internal/leakcheck"
)

// TestMain fails the package if its tests leave goroutines of the module
// running.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// testLogger writes to the test log at debug level when -v is given.
func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	if !testing.Verbose() {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startServer serves srv on 127.0.0.1 and returns its base URL; the
// server is shut down when the test ends.
func startServer(t testing.TB, srv *Server) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return hs.URL
}

// newTestServer returns a server with short timeouts for tests; fn may
// adjust the options.
func newTestServer(t testing.TB, fn func(*Options)) *Server {
	t.Helper()
	opts := &Options{
		Engine:         engineio.Options{PingInterval: 2 * time.Second, PingTimeout: 2 * time.Second},
		ConnectTimeout: 2 * time.Second,
		AckTimeout:     2 * time.Second,
		Logger:         testLogger(t),
	}
	if fn != nil {
		fn(opts)
	}
	return NewServer(opts)
}

// wsClient is a raw Engine.IO WebSocket client: it sends and reads Socket.IO
// packets, answering (EIO 4) or ignoring (EIO 3) heartbeats.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	eio  int
}

type frame struct {
	text   string
	binary []byte
	isBin  bool
}

func dialWS(t testing.TB, base string, eio int, query string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := strings.Replace(base, "http", "ws", 1) + fmt.Sprintf("/socket.io/?EIO=%d&transport=websocket", eio)
	if query != "" {
		u += "&" + query
	}
	conn, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	conn.SetReadLimit(1 << 22)
	t.Cleanup(func() { conn.CloseNow() })
	c := &wsClient{t: t, conn: conn, eio: eio}
	if f := c.readRaw(); f.isBin || !strings.HasPrefix(f.text, "0{") {
		t.Fatalf("first frame %+v, want an Engine.IO open packet", f)
	}
	return c
}

func (c *wsClient) readRaw() frame {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, data, err := c.conn.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if typ == websocket.MessageBinary {
		return frame{binary: data, isBin: true}
	}
	return frame{text: string(data)}
}

// read returns the next Socket.IO packet or attachment, skipping heartbeats.
func (c *wsClient) read() frame {
	c.t.Helper()
	for {
		f := c.readRaw()
		if f.isBin {
			if c.eio == 3 {
				if len(f.binary) == 0 || f.binary[0] != 4 {
					c.t.Fatalf("EIO 3 binary frame %v without message type", f.binary)
				}
				f.binary = f.binary[1:]
			}
			return f
		}
		switch {
		case f.text == "2" && c.eio == 4:
			c.writeRaw("3")
			continue
		case f.text == "3" && c.eio == 3:
			continue
		case strings.HasPrefix(f.text, "4"):
			f.text = f.text[1:]
			return f
		}
		c.t.Fatalf("unexpected Engine.IO packet %q", f.text)
	}
}

func (c *wsClient) readText() string {
	c.t.Helper()
	f := c.read()
	if f.isBin {
		c.t.Fatalf("got binary %v, want text", f.binary)
	}
	return f.text
}

func (c *wsClient) writeRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes one Socket.IO packet.
func (c *wsClient) send(pkt string) { c.t.Helper(); c.writeRaw("4" + pkt) }

func (c *wsClient) sendBinary(b []byte) {
	c.t.Helper()
	if c.eio == 3 {
		b = append([]byte{4}, b...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageBinary, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// expectClosed waits for the server to end the WebSocket, skipping anything
// it sends first.
func (c *wsClient) expectClosed() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				c.t.Fatal("session still open after 5s")
			}
			return
		}
		if bytes.Equal(data, []byte("2")) && c.eio == 4 {
			continue
		}
	}
}

// connectRoot joins "/" with protocol 5 and returns the socket id.
func (c *wsClient) connectRoot(auth string) string {
	c.t.Helper()
	c.send("0" + auth)
	reply := c.readText()
	var hs struct{ SID string }
	if !strings.HasPrefix(reply, "0{") || json.Unmarshal([]byte(reply[1:]), &hs) != nil || hs.SID == "" {
		c.t.Fatalf("CONNECT reply %q", reply)
	}
	return hs.SID
}
