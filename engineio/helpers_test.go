package engineio

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// testServer is an Engine.IO server on a loopback httptest server, mounted
// at /engine.io/, whose sessions echo every message unless the test sets
// its own OnConnection.
type testServer struct {
	t      *testing.T
	srv    *Server
	base   string // http://127.0.0.1:port/engine.io/
	client *http.Client
	conns  chan *Conn       // every new session
	closes chan closeRecord // every OnClose call
}

type closeRecord struct {
	sid, reason string
}

func newTestServer(t *testing.T, opts *Options) *testServer {
	t.Helper()
	ts := &testServer{t: t, conns: make(chan *Conn, 1024), closes: make(chan closeRecord, 1024)}
	o := ts.options(opts)
	ts.srv = NewServer(&o)
	// Served as the product serves it: polls and idle polling connections
	// park (park.go).
	hs := httptest.NewUnstartedServer(ts.srv)
	hs.Listener = ts.srv.Listen(hs.Listener, 0)
	ts.start(hs)
	return ts
}

// start starts hs, which serves ts.srv, with a client for it, and shuts
// both down when the test ends.
func (ts *testServer) start(hs *httptest.Server) {
	hs.Start()
	ts.base = hs.URL + "/engine.io/"
	ts.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	ts.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			ts.t.Errorf("Shutdown: %v", err)
		}
		ts.client.CloseIdleConnections()
		hs.Close()
	})
}

// options returns opts (nil: the defaults) with an OnConnection that runs
// opts' own (or echoes every message) and records each session in ts.conns
// and each OnClose call in ts.closes.
func (ts *testServer) options(opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	}
	user := o.OnConnection
	o.OnConnection = func(c *Conn) {
		if user != nil {
			user(c)
		} else {
			c.OnMessage(func(data []byte, binary bool) { c.Send(data, binary) })
		}
		inner := c.s.onClose
		c.OnClose(func(reason string) {
			if inner != nil {
				inner(reason)
			}
			ts.closes <- closeRecord{c.ID(), reason}
		})
		select {
		case ts.conns <- c:
		default:
		}
	}
	return o
}

// do sends a request and returns the status, headers and body.
func (ts *testServer) do(method, query, contentType string, body io.Reader, header ...string) (int, http.Header, string) {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.base+"?"+query, body)
	if err != nil {
		ts.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: reading body: %v", method, query, err)
	}
	return res.StatusCode, res.Header, string(b)
}

func (ts *testServer) get(query string) (int, string) {
	ts.t.Helper()
	status, _, body := ts.do(http.MethodGet, query, "", nil)
	return status, body
}

func (ts *testServer) post(query, body string) (int, string) {
	ts.t.Helper()
	status, _, resBody := ts.do(http.MethodPost, query, "text/plain;charset=UTF-8", strings.NewReader(body))
	return status, resBody
}

// openInfo is the open packet's JSON.
type openInfo struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   *int     `json:"maxPayload"`
}

// openPolling opens a polling session with protocol 4 and returns its sid.
func (ts *testServer) openPolling(query string) openInfo {
	ts.t.Helper()
	status, body := ts.get(query)
	if status != http.StatusOK {
		ts.t.Fatalf("handshake %s: status %d, body %q", query, status, body)
	}
	if strings.Contains(query, "EIO=3") {
		// "<length>:0{...}" and maybe more records.
		colon := strings.IndexByte(body, ':')
		if colon < 0 || body[colon+1] != '0' {
			ts.t.Fatalf("handshake %s: body %q is not an open payload", query, body)
		}
		body = body[colon+1:]
		if end := strings.LastIndexByte(body, '}'); end >= 0 {
			body = body[:end+1]
		}
	}
	if !strings.HasPrefix(body, "0") {
		ts.t.Fatalf("handshake %s: body %q is not an open packet", query, body)
	}
	var info openInfo
	if err := json.Unmarshal([]byte(body[1:]), &info); err != nil {
		ts.t.Fatalf("handshake %s: open packet %q: %v", query, body, err)
	}
	return info
}

// dial opens a WebSocket to the server with query.
func (ts *testServer) dial(query string) (*websocket.Conn, error) {
	ts.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(ts.base, "http") + "?" + query
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: ts.client})
	if err == nil {
		c.SetReadLimit(4 << 20)
		ts.t.Cleanup(func() { c.CloseNow() })
	}
	return c, err
}

// readWS reads one message, failing the test after a few seconds.
func readWS(t *testing.T, c *websocket.Conn) (websocket.MessageType, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("reading WebSocket: %v", err)
	}
	return typ, string(b)
}

func writeWS(t *testing.T, c *websocket.Conn, typ websocket.MessageType, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, []byte(msg)); err != nil {
		t.Fatalf("writing WebSocket: %v", err)
	}
}

// waitClose waits for the OnClose call of sid and returns its reason.
func (ts *testServer) waitClose(sid string) string {
	ts.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case rec := <-ts.closes:
			if rec.sid == sid {
				return rec.reason
			}
			// Not ours: put it back for another waiter, later.
			defer func() { ts.closes <- rec }()
		case <-timeout:
			ts.t.Fatalf("session %s did not close", sid)
			return ""
		}
	}
}

// nextConn returns the next session opened on the server.
func (ts *testServer) nextConn() *Conn {
	ts.t.Helper()
	select {
	case c := <-ts.conns:
		return c
	case <-time.After(5 * time.Second):
		ts.t.Fatal("no session opened")
		return nil
	}
}

// waitClosedErr waits until reading c fails and returns the close status.
func waitClosedErr(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal("WebSocket not closed by the server")
			}
			return websocket.CloseStatus(err)
		}
	}
}
