package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// target is the server under test as clients see it.
type target struct {
	base  string // http://host:port
	host  string // host:port
	token string
	rest  *http.Client
	ws    []*http.Client // one per loopback source address, round robin
	wsURL string
}

// newTarget prepares REST and WebSocket clients for a server at base. Each
// WebSocket client binds its sockets to its own loopback source address
// 127.0.0.<i+1>, so the sessions share sources*28,000 ephemeral ports
// instead of one address's. workers is the number of keep-alive REST
// connections to keep open.
func newTarget(base, token string, sources, workers int) (*target, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("parse server URL: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://host:port", base)
	}
	t := &target{
		base:  u.Scheme + "://" + u.Host,
		host:  u.Host,
		token: token,
		wsURL: "ws://" + u.Host + "/socket.io/?EIO=4&transport=websocket",
		rest: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				MaxIdleConns:        workers + 16,
				MaxIdleConnsPerHost: workers + 16,
				IdleConnTimeout:     time.Minute,
				DisableCompression:  true,
			},
		},
	}
	for i := range sources {
		d := &net.Dialer{
			Timeout:   10 * time.Second,
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i+1))},
		}
		t.ws = append(t.ws, &http.Client{Transport: &http.Transport{
			DialContext:        d.DialContext,
			DisableCompression: true,
			DisableKeepAlives:  true,
		}})
	}
	return t, nil
}

// close drops idle REST connections.
func (t *target) close() { t.rest.CloseIdleConnections() }

// ping checks GET /api/status/ping answers "pong".
func (t *target) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/api/status/ping", nil)
	if err != nil {
		return fmt.Errorf("ping request: %w", err)
	}
	resp, err := t.rest.Do(req)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK || string(body) != "pong" {
		return fmt.Errorf("ping: status %d, body %q", resp.StatusCode, body)
	}
	return nil
}

// do sends one authenticated REST request and drains the answer, so the
// keep-alive connection is reused. It returns the body when small.
func (t *target) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("X-AUTH-TOKEN", t.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.rest.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return got, fmt.Errorf("%s %s: status %d: %.200s", method, path, resp.StatusCode, got)
	}
	return got, nil
}

// register records connectionID as pending for user (PUT register).
func (t *target) register(ctx context.Context, user, connectionID string) error {
	_, err := t.do(ctx, http.MethodPut, "/api/"+url.PathEscape(user)+"/register?connectionId="+url.QueryEscape(connectionID), nil)
	return err
}

// push posts one message body to user.
func (t *target) push(ctx context.Context, user string, body []byte) error {
	_, err := t.do(ctx, http.MethodPost, "/api/"+url.PathEscape(user)+"/push", body)
	return err
}

// metrics fetches GET path (e.g. /metrics) with the token; ok is false when
// the server does not expose it.
func (t *target) metrics(ctx context.Context, path string) (text string, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path, nil)
	if err != nil {
		return "", false
	}
	req.Header.Set("X-AUTH-TOKEN", t.token)
	resp, err := t.rest.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", false
	}
	return string(b), true
}

// userName is the user id the load generator uses for user i.
func userName(i int) string { return "u" + strconv.Itoa(i) }

// session is one client: a WebSocket carrying Engine.IO v4 and Socket.IO v5,
// registered for one user. Its tracker is owned by its read goroutine.
type session struct {
	conn  *websocket.Conn
	user  int32
	track seqTracker
	err   error // why the read loop ended, set before done
}

// handshakeTimeout bounds one session's whole connect sequence.
const handshakeTimeout = 20 * time.Second

// connect performs the contract's client side: the backend registers a
// connection id (PUT), the client opens a WebSocket, reads the open packet,
// sends CONNECT, waits for the server's CONNECT and emits `register`.
// handshake is the time from the WebSocket dial to the CONNECT reply.
func (t *target) connect(ctx context.Context, user int, connectionID string, source int) (s *session, handshake time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	name := userName(user)
	if err := t.register(ctx, name, connectionID); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	conn, _, err := websocket.Dial(ctx, t.wsURL, &websocket.DialOptions{HTTPClient: t.ws[source%len(t.ws)]})
	if err != nil {
		return nil, 0, fmt.Errorf("dial: %w", err)
	}
	defer func() {
		if err != nil {
			conn.CloseNow()
		}
	}()
	_, open, err := conn.Read(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("read open packet: %w", err)
	}
	if len(open) == 0 || open[0] != '0' {
		return nil, 0, fmt.Errorf("first packet %.40q is not an Engine.IO open packet", open)
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte("40")); err != nil {
		return nil, 0, fmt.Errorf("send CONNECT: %w", err)
	}
	for {
		_, frame, err := conn.Read(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("wait for CONNECT: %w", err)
		}
		kind, _ := classify(frame)
		if kind == frameConnect {
			break
		}
		if kind == framePing {
			if err := conn.Write(ctx, websocket.MessageText, []byte("3")); err != nil {
				return nil, 0, fmt.Errorf("send pong: %w", err)
			}
			continue
		}
		if kind == frameConnectErr || kind == frameClose {
			return nil, 0, fmt.Errorf("CONNECT refused: %.80q", frame)
		}
	}
	handshake = time.Since(start)
	reg := fmt.Appendf(nil, `42["register",%q,%q]`, name, connectionID)
	if err := conn.Write(ctx, websocket.MessageText, reg); err != nil {
		return nil, 0, fmt.Errorf("emit register: %w", err)
	}
	conn.SetReadLimit(1 << 20)
	return &session{conn: conn, user: int32(user)}, handshake, nil
}

// frameBufs holds read buffers shared by all sessions, so an idle session
// holds none.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// onMessage is called by a session's read goroutine for each `message`
// event, with the pushed JSON (valid only during the call).
type onMessage func(s *session, msg []byte)

// readLoop reads frames until the connection ends: it answers pings and
// hands `message` events to deliver. It returns the error that ended it.
func (s *session) readLoop(deliver onMessage) error {
	ctx := context.Background()
	for {
		_, r, err := s.conn.Reader(ctx)
		if err != nil {
			return err
		}
		bp := frameBufs.Get().(*[]byte)
		frame, err := readFrame(r, (*bp)[:0])
		if err != nil {
			frameBufs.Put(bp)
			return err
		}
		kind, msg := classify(frame)
		switch kind {
		case frameMessage:
			deliver(s, msg)
		case framePing:
			err = s.conn.Write(ctx, websocket.MessageText, []byte("3"))
		case frameClose:
			err = errors.New("server closed the session")
		}
		if cap(frame) <= 64<<10 {
			*bp = frame[:0]
			frameBufs.Put(bp)
		}
		if err != nil {
			return err
		}
	}
}

// readFrame reads a whole message into buf, growing it as needed.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// hangUp ends a session: cleanly (Socket.IO DISCONNECT and a WebSocket
// close handshake) or abruptly (the TCP connection just goes away).
func (s *session) hangUp(clean bool) {
	if !clean {
		s.conn.CloseNow()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.conn.Write(ctx, websocket.MessageText, []byte("41"))
	_ = s.conn.Close(websocket.StatusNormalClosure, "")
}
