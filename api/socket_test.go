package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"notification-server/engineio"
	"notification-server/registry"
	"notification-server/socketio"
)

// pollClient speaks just enough Engine.IO 4 long-polling and Socket.IO 5 to
// drive the register handler in-process, without the npm clients.
type pollClient struct {
	t    *testing.T
	url  string
	http *http.Client
	seen []string // packets received and not yet consumed by next
}

func newPollClient(t *testing.T, base string) *pollClient {
	t.Helper()
	p := &pollClient{t: t, url: base + "/socket.io/?EIO=4&transport=polling", http: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(p.http.CloseIdleConnections)
	open := p.get()
	if len(open) != 1 || !strings.HasPrefix(open[0], "0{") {
		t.Fatalf("handshake answered %q", open)
	}
	var hs struct{ Sid string }
	if err := json.Unmarshal([]byte(open[0][1:]), &hs); err != nil || hs.Sid == "" {
		t.Fatalf("open packet %q: %v", open[0], err)
	}
	p.url += "&sid=" + hs.Sid
	p.post("40")
	p.next("40")
	return p
}

// get runs one long-poll and returns its packets.
func (p *pollClient) get() []string {
	p.t.Helper()
	resp, err := p.http.Get(p.url)
	if err != nil {
		p.t.Fatalf("poll: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		p.t.Fatalf("poll: %d %s", resp.StatusCode, body)
	}
	return strings.Split(string(body), "\x1e")
}

func (p *pollClient) post(packets ...string) {
	p.t.Helper()
	resp, err := p.http.Post(p.url, "text/plain;charset=UTF-8", strings.NewReader(strings.Join(packets, "\x1e")))
	if err != nil {
		p.t.Fatalf("post: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		p.t.Fatalf("post %q: %d", packets, resp.StatusCode)
	}
}

// next returns the next packet starting with prefix, answering pings and
// skipping other packets on the way.
func (p *pollClient) next(prefix string) string {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if len(p.seen) == 0 {
			p.seen = p.get()
		}
		pkt := p.seen[0]
		p.seen = p.seen[1:]
		switch {
		case pkt == "2":
			p.post("3")
		case strings.HasPrefix(pkt, prefix):
			return pkt
		}
	}
	p.t.Fatalf("no packet starting with %q within 5s", prefix)
	return ""
}

func newSocketAPI(t *testing.T) (testAPI, *httptest.Server) {
	t.Helper()
	sockets := socketio.NewServer(&socketio.Options{Engine: engineio.Options{PingInterval: 500 * time.Millisecond, PingTimeout: 5 * time.Second}})
	a := newTestAPI(t, Options{Sockets: sockets}, registry.Options{})
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sockets.Shutdown(ctx)
		srv.Close()
	})
	return a, srv
}

func TestSocketRegisterAndPush(t *testing.T) {
	t.Parallel()
	a, srv := newSocketAPI(t)
	a.do(t, request{"PUT", "/api/u1/register?connectionId=c1", authed, ""})
	c := newPollClient(t, srv.URL)

	tests := []struct {
		emit    string
		wantAck string
	}{
		{`421["register",{"id":1},"c1"]`, `431[{"error":"userId must be a string or an integer","ok":false}]`},
		{`422["register","u1"]`, `432[{"error":"register needs two arguments: userId and connectionId","ok":false}]`},
		{`423["register","u1","nope"]`, `433[{"error":"connection id not registered for this user","ok":false}]`},
		{`424["register","u1","c1"]`, `434[{"ok":true}]`},
	}
	for _, tt := range tests {
		c.post(tt.emit)
		if got := c.next("43"); got != tt.wantAck {
			t.Errorf("%s acked %s, want %s", tt.emit, got, tt.wantAck)
		}
	}
	if w := a.do(t, request{"POST", "/api/u1/push", jsonAuthed, `{"message":{"a":[1,"é"]}}`}); strings.TrimSpace(w.Body.String()) != `{"sessions":1}` {
		t.Fatalf("push: %d %s", w.Code, w.Body)
	}
	if got := c.next("42"); got != `42["message",{"a":[1,"é"]}]` {
		t.Fatalf("received %s", got)
	}
	// Without an ack id the register still binds (the original's clients
	// pass no callback), and a socket leaving its namespace is unbound.
	c.post(`41`)
	waitSessions(t, a, "u1", 0)
	d := newPollClient(t, srv.URL)
	d.post(`42["register","u1","c1"]`)
	waitSessions(t, a, "u1", 1)
}

func TestSocketReplacedBySameConnectionID(t *testing.T) {
	t.Parallel()
	a, srv := newSocketAPI(t)
	a.do(t, request{"PUT", "/api/u1/register?connectionId=c1", authed, ""})
	older, newer := newPollClient(t, srv.URL), newPollClient(t, srv.URL)
	older.post(`420["register","u1","c1"]`)
	older.next("430")
	newer.post(`420["register","u1","c1"]`)
	newer.next("430")
	if got := older.next("41"); got != "41" {
		t.Fatalf("older socket got %q, want a disconnect", got)
	}
	if n := a.reg.Push("u1", []byte(`2["message",1]`)); n != 1 {
		t.Fatalf("push reached %d sessions, want 1", n)
	}
	if got := newer.next("42"); got != `42["message",1]` {
		t.Fatalf("newer socket received %s", got)
	}
}

func waitSessions(t *testing.T, a testAPI, user string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for a.reg.Sessions(user) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d sessions, want %d", user, a.reg.Sessions(user), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
