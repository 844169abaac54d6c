//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptedServer answers PUT register with 200 and runs script on each
// WebSocket it accepts, over the raw connection, writing frames by hand.
func scriptedServer(t testing.TB, script func(c *rawPeer), routes ...func(*http.ServeMux)) *target {
	t.Helper()
	mux := http.NewServeMux()
	for _, add := range routes {
		add(mux)
	}
	mux.HandleFunc("PUT /api/{user}/register", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-AUTH-TOKEN") != "tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{}`))
	})
	mux.HandleFunc("GET /socket.io/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "EIO=4&transport=websocket" || r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "bad upgrade", http.StatusBadRequest)
			return
		}
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]))
		script(&rawPeer{t: t, conn: conn, br: brw.Reader})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tgt, err := newTarget(srv.URL, "tok", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tgt.close)
	return tgt
}

// rawPeer is the server's side of one scripted WebSocket.
type rawPeer struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func (p *rawPeer) write(frames ...[]byte) {
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	if _, err := p.conn.Write(b); err != nil {
		p.t.Errorf("server write: %v", err)
	}
}

// expect reads one client frame and checks its opcode and payload.
func (p *rawPeer) expect(op byte, payload string) {
	p.t.Helper()
	gotOp, got, err := p.read()
	if err != nil {
		p.t.Errorf("server read, want %q: %v", payload, err)
		return
	}
	if gotOp != op || string(got) != payload {
		p.t.Errorf("client sent %#x %q, want %#x %q", gotOp, got, op, payload)
	}
}

// read reads one (short) client frame.
func (p *rawPeer) read() (byte, []byte, error) {
	head := make([]byte, 2)
	if _, err := io.ReadFull(p.br, head); err != nil {
		return 0, nil, err
	}
	n := int(head[1] & 0x7f)
	if n >= 126 {
		return 0, nil, errors.New("client frame longer than expected")
	}
	rest := make([]byte, 4+n)
	if _, err := io.ReadFull(p.br, rest); err != nil {
		return 0, nil, err
	}
	op, payload, _ := unmaskClient(p.t, append(head, rest...))
	return op, payload, nil
}

// handshake plays the server's part of the connect sequence.
func (p *rawPeer) handshake(user, id string) {
	p.write(rawFrame(true, opText, nil, []byte(`0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`)))
	p.expect(opText, "40")
	p.write(rawFrame(true, opText, nil, []byte(`40{"sid":"n"}`)))
	p.expect(opText, `42["register","`+user+`","`+id+`"]`)
}

func message(seq int, pad int) []byte {
	return []byte(fmt.Sprintf(`42["message",{"s":%d,"t":0,"p":"%s"}]`, seq, strings.Repeat("x", pad)))
}

func connectOne(t *testing.T, tgt *target, f *fleet) *session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, hs, err := tgt.connect(ctx, 0, "c0", 1)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if hs <= 0 {
		t.Errorf("handshake time %v", hs)
	}
	f.sessions[0] = s
	f.start(s)
	return s
}

func waitDone(t *testing.T, s *session) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
	}
}

// TestSessionReadsWhatServersSend drives a session through the frames a
// server may send: several in one write, a WebSocket ping, a fragmented
// message, an Engine.IO ping, a message larger than a loop's read buffer
// arriving in pieces, and the server's close.
func TestSessionReadsWhatServersSend(t *testing.T) {
	t.Parallel()
	tgt := scriptedServer(t, func(p *rawPeer) {
		p.handshake("u0", "c0")
		m2 := message(2, 10)
		p.write(
			rawFrame(true, opText, nil, message(1, 10)),
			rawFrame(true, opPing, nil, []byte("hi")),
			rawFrame(false, opText, nil, m2[:5]),
			rawFrame(true, opPing, nil, []byte("mid")),
			rawFrame(true, opContinuation, nil, m2[5:]),
			rawFrame(true, opText, nil, []byte("2")),
		)
		p.expect(opPong, "hi")
		p.expect(opPong, "mid")
		p.expect(opText, "3")
		big := rawFrame(true, opText, nil, message(3, 3*readBufSize/2))
		p.write(big[:7])
		time.Sleep(20 * time.Millisecond)
		p.write(big[7 : readBufSize+100])
		time.Sleep(20 * time.Millisecond)
		p.write(big[readBufSize+100:], rawFrame(true, opText, nil, message(4, 0)))
		p.write(rawFrame(true, opClose, nil, []byte{0x03, 0xe8}))
		p.expect(opClose, "\x03\xe8")
	})
	f := emptyFleet(tgt, 1, 1, 2)
	s := connectOne(t, tgt, f)
	waitDone(t, s)
	checkEndedByServer(t, f, s, 4)
}

// checkEndedByServer checks that s, the fleet's one session, was ended by
// the server's close after want messages, received in order, and tears the
// fleet down.
func checkEndedByServer(t *testing.T, f *fleet, s *session, want uint32) {
	t.Helper()
	if !errors.Is(s.err, errServerClosed) {
		t.Errorf("session ended with %v, want the server's close", s.err)
	}
	if !f.teardown() {
		t.Fatal("teardown timed out")
	}
	if got := f.delivered.Load(); got != uint64(want) || f.badMessages.Load() != 0 {
		t.Errorf("delivered %d (bad %d), want %d", got, f.badMessages.Load(), want)
	}
	if c := f.counts([]uint32{want}); !c.clean() || c.Received != uint64(want) {
		t.Errorf("counts %+v, want %d received in order", c, want)
	}
	if f.readErrs.Load() != 1 {
		t.Errorf("%d sessions counted as ended by the server, want 1", f.readErrs.Load())
	}
}

// TestSessionHangUp checks both ways a client leaves: DISCONNECT and a
// close handshake, or the TCP connection just ending.
func TestSessionHangUp(t *testing.T) {
	t.Parallel()
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprint("clean=", clean), func(t *testing.T) {
			t.Parallel()
			ended := make(chan error, 1)
			tgt := scriptedServer(t, func(p *rawPeer) {
				p.handshake("u0", "c0")
				if clean {
					p.expect(opText, "41")
					p.expect(opClose, "\x03\xe8")
					p.write(rawFrame(true, opClose, nil, []byte{0x03, 0xe8}))
				}
				_, err := p.br.ReadByte()
				ended <- err
			})
			f := emptyFleet(tgt, 1, 1, 2)
			f.closing.Store(true)
			s := connectOne(t, tgt, f)
			start := time.Now()
			s.hangUp(clean)
			waitDone(t, s)
			if time.Since(start) > time.Second {
				t.Errorf("hang-up took %v", time.Since(start))
			}
			if err := <-ended; err != io.EOF {
				t.Errorf("server read after the hang-up: %v, want EOF", err)
			}
			if clean && !errors.Is(s.err, errClosedByClient) {
				t.Errorf("session ended with %v, want the close it started", s.err)
			}
			if !f.teardown() {
				t.Fatal("teardown timed out")
			}
			if f.readErrs.Load() != 0 {
				t.Errorf("a hang-up was counted as the server ending the session")
			}
		})
	}
}

func TestConnectRefused(t *testing.T) {
	t.Parallel()
	tgt := scriptedServer(t, func(p *rawPeer) {
		p.write(rawFrame(true, opText, nil, []byte(`0{"sid":"s"}`)))
		p.expect(opText, "40")
		p.write(rawFrame(true, opText, nil, []byte(`44{"message":"no"}`)))
	})
	_, _, err := tgt.connect(context.Background(), 0, "c0", 0)
	if err == nil || !strings.Contains(err.Error(), "CONNECT refused") {
		t.Errorf("connect error %v, want CONNECT refused", err)
	}
}

// fakePushServer is a push server reduced to what the pusher needs: it
// answers each push at once but holds the deliveries, writing them out
// every flushEvery, and records the most pushes it held at once.
type fakePushServer struct {
	mu      sync.Mutex
	peers   map[string][]*rawPeer
	held    []heldPush
	maxHeld int
	pushes  int
}

type heldPush struct {
	user  string
	frame []byte
}

func TestClosedLoopKeepsItsWindow(t *testing.T) {
	t.Parallel()
	const (
		users, perUser = 4, 2
		window         = 3
		flushEvery     = 15 * time.Millisecond
	)
	fs := &fakePushServer{peers: map[string][]*rawPeer{}}
	tgt := scriptedServer(t, func(p *rawPeer) {
		p.write(rawFrame(true, opText, nil, []byte(`0{"sid":"s"}`)))
		p.expect(opText, "40")
		p.write(rawFrame(true, opText, nil, []byte(`40{"sid":"n"}`)))
		_, reg, err := p.read()
		user, _, _ := strings.Cut(strings.TrimPrefix(string(reg), `42["register","`), `"`)
		if err != nil || user == "" {
			t.Errorf("register event %q: %v", reg, err)
			return
		}
		fs.mu.Lock()
		fs.peers[user] = append(fs.peers[user], p)
		fs.mu.Unlock()
		p.read() // until the client goes
	}, func(mux *http.ServeMux) {
		mux.HandleFunc("POST /api/{user}/push", func(w http.ResponseWriter, r *http.Request) {
			var body struct{ Message json.RawMessage }
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			user := r.PathValue("user")
			fs.mu.Lock()
			fs.pushes++
			fs.held = append(fs.held, heldPush{user, rawFrame(true, opText, nil, []byte(`42["message",`+string(body.Message)+`]`))})
			fs.maxHeld = max(fs.maxHeld, len(fs.held))
			n := len(fs.peers[user])
			fs.mu.Unlock()
			fmt.Fprintf(w, `{"sessions":%d}`, n)
		})
	})
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for {
			select {
			case <-stop:
				return
			case <-time.After(flushEvery):
			}
			fs.mu.Lock()
			for _, h := range fs.held {
				for _, p := range fs.peers[h.user] {
					p.write(h.frame)
				}
			}
			fs.held = fs.held[:0]
			fs.mu.Unlock()
		}
	}()
	defer func() { close(stop); <-flushed }()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, st := newFleet(ctx, tgt, users*perUser, perUser, 4, 2, "r")
	if st.ConnectErrors > 0 {
		t.Fatalf("connect: %s", st.FirstError)
	}
	for registered := 0; registered < users*perUser; time.Sleep(time.Millisecond) {
		if ctx.Err() != nil {
			t.Fatalf("%d of %d sessions registered", registered, users*perUser)
		}
		fs.mu.Lock()
		registered = 0
		for _, ps := range fs.peers {
			registered += len(ps)
		}
		fs.mu.Unlock()
	}
	p := newPusher(f, 2, 8)
	p.checkCount = true
	p.run(ctx, phase{Duration: 300 * time.Millisecond, Window: window, Timed: true})
	if !f.waitDelivered(ctx, p.expected.Load(), 5*time.Second) {
		t.Errorf("%d of %d deliveries", f.delivered.Load(), p.expected.Load())
	}
	if !f.teardown() {
		t.Fatal("teardown timed out")
	}
	c := f.counts(p.sent)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if p.errors.Load() > 0 || p.miscounts.Load() > 0 || !c.clean() || c.Received == 0 {
		t.Errorf("errors %d (%s), miscounts %d, counts %+v", p.errors.Load(), p.pushError(), p.miscounts.Load(), c)
	}
	if int(p.pushes.Load()) != fs.pushes || fs.pushes <= 2*(window+1) {
		t.Errorf("pusher counted %d pushes, server %d; want the same, several windows' worth", p.pushes.Load(), fs.pushes)
	}
	if fs.maxHeld > window+1 {
		t.Errorf("the server held %d undelivered pushes at once, window %d allows %d", fs.maxHeld, window, window+1)
	}
}
