//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"
)

// A polling session is a client without WebSocket: Engine.IO v4 over HTTP
// long-polling, as socket.io-client runs with transports: ["polling"]. It
// keeps two keep-alive connections, as a browser does: one carries the long
// poll (a GET the server answers when it has packets, or with a noop when
// the heartbeat is due), the other the client's POSTs (CONNECT, `register`,
// pongs). Each polling session is read by a goroutine of its own, which
// costs the load generator more than a WebSocket session in a reactor loop;
// polling is measured for what a server does with it, not at the largest
// session counts.

// pollContentType is what socket.io-client sends its POSTs as.
const pollContentType = "text/plain;charset=UTF-8"

// pollBodyLimit is the most of one poll answer that is read; a server
// answers with everything queued, which in a burst can be many messages.
const pollBodyLimit = 8 << 20

// pollTimeout bounds one long poll: the server answers within its ping
// interval (25 s by default on both servers), so a poll that takes longer
// means the session is gone.
const pollTimeout = 90 * time.Second

// connsPerPollingSession is the descriptors each polling session holds in
// the load generator (and, give or take, in the server).
const connsPerPollingSession = 2

// pollState is the client side of one long-polling session.
type pollState struct {
	path string // the Engine.IO URL with the session's sid

	get *restConn // the long poll; used by one goroutine at a time

	postMu sync.Mutex
	post   *restConn // POSTs, from the reading goroutine and hangUp

	mu     sync.Mutex
	conns  [2]net.Conn // the connections dialed last for get and post
	closed bool        // shutdown ran: no more dials
}

const pollPath = "/socket.io/?EIO=4&transport=polling"

// connectPolling is connect over HTTP long-polling: PUT register, the
// Engine.IO handshake GET, CONNECT (POST "40"), a GET for the server's
// CONNECT reply, and `register` (POST). handshake runs from the first GET
// to the CONNECT reply.
func (t *target) connectPolling(ctx context.Context, user int, connectionID string, source int) (s *session, handshake time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	name := userName(user)
	if err := t.register(ctx, name, connectionID); err != nil {
		return nil, 0, err
	}
	p := &pollState{path: pollPath}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(source%t.sources+1))}
	// Both connections are resent to once when the server dropped them as
	// idle (Node.js does after 5 s), as browsers do.
	p.get = &restConn{addr: t.host, dial: p.dialer(0, t.host, local), timeout: pollTimeout, retryStale: true}
	p.post = &restConn{addr: t.host, dial: p.dialer(1, t.host, local), timeout: handshakeTimeout, retryStale: true}
	defer func() {
		if err != nil {
			p.shutdown()
		}
	}()

	start := time.Now()
	body, err := p.poll(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("handshake: %w", err)
	}
	open, _, _ := bytes.Cut(body, []byte{0x1e})
	if len(open) == 0 || open[0] != '0' {
		return nil, 0, fmt.Errorf("first packet %.40q is not an Engine.IO open packet", open)
	}
	var hs struct {
		Sid string `json:"sid"`
	}
	if err := json.Unmarshal(open[1:], &hs); err != nil || hs.Sid == "" {
		return nil, 0, fmt.Errorf("open packet %.80q: no sid", open)
	}
	p.path = pollPath + "&sid=" + url.QueryEscape(hs.Sid)
	if err := p.send(ctx, []byte("40")); err != nil {
		return nil, 0, fmt.Errorf("send CONNECT: %w", err)
	}
	// Packets after the CONNECT reply in the same answer are kept for the
	// reading goroutine's first round.
	var rest []byte
wait:
	for {
		body, err := p.poll(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("wait for CONNECT: %w", err)
		}
		for len(body) > 0 {
			var pkt []byte
			pkt, body, _ = bytes.Cut(body, []byte{0x1e})
			switch kind, _ := classify(pkt); kind {
			case frameConnect:
				rest = append([]byte(nil), body...)
				break wait
			case framePing:
				if err := p.send(ctx, []byte("3")); err != nil {
					return nil, 0, fmt.Errorf("send pong: %w", err)
				}
			case frameConnectErr, frameClose:
				return nil, 0, fmt.Errorf("CONNECT refused: %.80q", pkt)
			}
		}
	}
	handshake = time.Since(start)
	reg := fmt.Appendf(nil, `42["register",%q,%q]`, name, connectionID)
	if err := p.send(ctx, reg); err != nil {
		return nil, 0, fmt.Errorf("emit register: %w", err)
	}
	s = &session{user: int32(user), fd: -1, poll: p, done: make(chan struct{})}
	s.pending = rest
	return s, handshake, nil
}

// dialer returns the dial function of connection slot i (0: get, 1: post),
// which records each connection so that shutdown can close it.
func (p *pollState) dialer(i int, host string, local net.Addr) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		d := net.Dialer{LocalAddr: local}
		c, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			c.Close()
			return nil, errSessionEnded
		}
		p.conns[i] = c
		return c, nil
	}
}

// poll runs one GET and returns the answer's payload (valid until the next
// poll).
func (p *pollState) poll(ctx context.Context) ([]byte, error) {
	status, body, err := p.get.do(ctx, "GET", p.path, "", nil, pollBodyLimit)
	if err != nil {
		return nil, err
	}
	if status != 200 {
		return nil, fmt.Errorf("poll: status %d: %.80q", status, body)
	}
	return body, nil
}

// send POSTs one packet.
func (p *pollState) send(ctx context.Context, pkt []byte) error {
	p.postMu.Lock()
	defer p.postMu.Unlock()
	status, body, err := p.post.do(ctx, "POST", p.path, pollContentType, pkt, 256)
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("status %d: %.80q", status, body)
	}
	return nil
}

// shutdown closes both connections; a poll or POST under way fails, and no
// new connection is dialed.
func (p *pollState) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.conns {
		if c != nil {
			c.Close()
		}
	}
}

// readPolling is a polling session's goroutine: it polls until the session
// ends, hands every `message` event to h.message, answers pings, and
// reports the end as a reactor loop does.
func readPolling(s *session, h reactorHandler) {
	err := s.poll.run(s, h.message)
	s.poll.shutdown()
	s.pending = nil
	s.err = err
	h.end(s, err)
	close(s.done)
}

// run polls until the server closes the session or a request fails.
func (p *pollState) run(s *session, message func(*session, []byte, int64)) error {
	ctx := context.Background()
	body := s.pending
	for {
		now := time.Now().UnixNano()
		for len(body) > 0 {
			var pkt []byte
			pkt, body, _ = bytes.Cut(body, []byte{0x1e})
			switch kind, msg := classify(pkt); kind {
			case frameMessage:
				message(s, msg, now)
			case framePing:
				if err := p.send(ctx, []byte("3")); err != nil {
					return fmt.Errorf("send pong: %w", err)
				}
			case frameClose:
				return errServerClosed
			}
		}
		var err error
		if body, err = p.poll(ctx); err != nil {
			return fmt.Errorf("poll: %w", err)
		}
	}
}

// hangUpPolling ends a polling session: cleanly (Socket.IO DISCONNECT and
// an Engine.IO close packet, then up to 2 s for the poll to end) or
// abruptly (both connections just close).
func (s *session) hangUpPolling(clean bool) {
	if clean {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if s.poll.send(ctx, []byte("41\x1e1")) == nil {
			select {
			case <-s.done:
				return
			case <-ctx.Done():
			}
		}
	}
	s.poll.shutdown()
}
