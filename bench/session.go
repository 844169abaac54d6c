//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"
)

// session is one client: a WebSocket carrying Engine.IO v4 and Socket.IO v5,
// registered for one user. Once connected, its socket is read by a reactor
// loop (reactor.go), which owns the tracker and the read state; the tracker
// is read by others only after the session has ended (done is closed).
type session struct {
	user  int32
	track seqTracker
	err   error         // why the session ended, set before done is closed
	done  chan struct{} // closed when the session has ended, after the fleet has counted its end

	fd int // the socket, non-blocking, outside Go's network poller; -1 when polling

	// poll is set for a session over HTTP long-polling (polling.go), which
	// is read by a goroutine of its own instead of a reactor loop; the
	// WebSocket fields below are unused then.
	poll *pollState

	// Owned by the reactor loop reading the socket.
	lp      *loop
	slot    int32
	pending []byte // the start of a frame not yet whole; nil when none
	asm     messageAssembler

	// wmu serialises writes and guards closed: the socket is closed by its
	// loop under wmu, so a write or shutdown under wmu never reaches a
	// descriptor number reused by another socket.
	wmu       sync.Mutex
	closed    bool
	closeSent bool // the client started the close handshake
}

// handshakeTimeout bounds one session's whole connect sequence.
const handshakeTimeout = 20 * time.Second

const wsPath = "/socket.io/?EIO=4&transport=websocket"

var (
	errServerClosed = errors.New("server closed the session")
	errSessionEnded = errors.New("session already ended")
)

// connect performs the contract's client side: the backend registers a
// connection id (PUT), the client opens a WebSocket, reads the open packet,
// sends CONNECT, waits for the server's CONNECT and emits `register`.
// handshake is the time from the WebSocket dial to the CONNECT reply. The
// session is not read until it is added to a reactor.
func (t *target) connect(ctx context.Context, user int, connectionID string, source int) (s *session, handshake time.Duration, err error) {
	if t.polling {
		return t.connectPolling(ctx, user, connectionID, source)
	}
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	name := userName(user)
	if err := t.register(ctx, name, connectionID); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(source%t.sources+1))}}
	conn, err := d.DialContext(ctx, "tcp", t.host)
	if err != nil {
		return nil, 0, fmt.Errorf("dial: %w", err)
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	leftover, err := upgrade(conn, t.host, wsPath)
	if err != nil {
		return nil, 0, err
	}
	rd := &handshakeReader{conn: conn, buf: leftover}
	open, err := rd.next()
	if err != nil {
		return nil, 0, fmt.Errorf("read open packet: %w", err)
	}
	if len(open) == 0 || open[0] != '0' {
		return nil, 0, fmt.Errorf("first packet %.40q is not an Engine.IO open packet", open)
	}
	if err := writeFrame(conn, opText, []byte("40")); err != nil {
		return nil, 0, fmt.Errorf("send CONNECT: %w", err)
	}
	for {
		frame, err := rd.next()
		if err != nil {
			return nil, 0, fmt.Errorf("wait for CONNECT: %w", err)
		}
		kind, _ := classify(frame)
		if kind == frameConnect {
			break
		}
		if kind == framePing {
			if err := writeFrame(conn, opText, []byte("3")); err != nil {
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
	if err := writeFrame(conn, opText, reg); err != nil {
		return nil, 0, fmt.Errorf("emit register: %w", err)
	}
	fd, err := detach(conn)
	if err != nil {
		return nil, 0, err
	}
	conn = nil
	s = &session{user: int32(user), fd: fd, done: make(chan struct{})}
	if rest := rd.buf[rd.off:]; len(rest) > 0 {
		// Frames that came with the CONNECT reply are read with the next data
		// the socket brings.
		s.pending = append([]byte(nil), rest...)
	}
	return s, handshake, nil
}

// wsGUID is the key suffix of RFC 6455's Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// upgrade sends the WebSocket opening handshake over conn and checks the
// server's 101 answer. It returns the bytes read past the answer (the start
// of the first frames).
func upgrade(conn net.Conn, host, path string) ([]byte, error) {
	var nonce [16]byte
	for i := range nonce {
		nonce[i] = byte(rand.Uint32())
	}
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, fmt.Errorf("send WebSocket upgrade: %w", err)
	}
	br := bufio.NewReaderSize(conn, 1024)
	line, err := readLine(br)
	if err != nil {
		return nil, fmt.Errorf("read WebSocket upgrade answer: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 101")) {
		return nil, fmt.Errorf("WebSocket upgrade refused: %.80q", line)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	wantAccept := base64.StdEncoding.EncodeToString(sum[:])
	upgraded, accepted := false, false
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, fmt.Errorf("read WebSocket upgrade answer: %w", err)
		}
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgraded = bytes.EqualFold(value, []byte("websocket"))
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			accepted = string(value) == wantAccept
		}
	}
	if !upgraded || !accepted {
		return nil, errors.New("WebSocket upgrade answer lacks Upgrade: websocket or the right Sec-WebSocket-Accept")
	}
	rest, _ := br.Peek(br.Buffered())
	return append([]byte(nil), rest...), nil
}

// handshakeReader reads whole messages from a blocking connection during
// the connect sequence, answering WebSocket pings.
type handshakeReader struct {
	conn net.Conn
	buf  []byte
	off  int // start of the unread bytes in buf
	asm  messageAssembler
}

// next returns the next text message (valid until the next call).
func (r *handshakeReader) next() ([]byte, error) {
	for {
		fr, n, err := parseFrame(r.buf[r.off:])
		if err != nil {
			return nil, err
		}
		if n == 0 {
			r.buf = append(r.buf[:0], r.buf[r.off:]...)
			r.off = 0
			if len(r.buf) == cap(r.buf) {
				r.buf = append(r.buf, make([]byte, max(512, len(r.buf)))...)[:len(r.buf)]
			}
			m, err := r.conn.Read(r.buf[len(r.buf):cap(r.buf)])
			r.buf = r.buf[:len(r.buf)+m]
			if err != nil && m == 0 {
				return nil, err
			}
			continue
		}
		r.off += n
		op, payload, ok, err := r.asm.add(fr)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		switch op {
		case opText:
			return payload, nil
		case opPing:
			if err := writeFrame(r.conn, opPong, payload); err != nil {
				return nil, fmt.Errorf("send WebSocket pong: %w", err)
			}
		case opClose:
			return nil, errServerClosed
		}
	}
}

// writeFrame sends one masked frame over a blocking connection.
func writeFrame(w io.Writer, op byte, payload []byte) error {
	_, err := w.Write(appendClientFrame(make([]byte, 0, 14+len(payload)), op, payload))
	return err
}

// detach takes the socket out of conn (and so out of Go's network poller):
// it returns a non-blocking duplicate of its descriptor and closes conn.
func detach(conn net.Conn) (int, error) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return -1, fmt.Errorf("detach: %T is not a TCP connection", conn)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("detach: %w", err)
	}
	fd, dupErr := -1, error(nil)
	if err := rc.Control(func(sysfd uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, sysfd, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			dupErr = errno
			return
		}
		fd = int(r)
	}); err != nil {
		return -1, fmt.Errorf("detach: %w", err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("detach: duplicate socket: %w", dupErr)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("detach: %w", err)
	}
	conn.Close()
	return fd, nil
}

// send writes one masked frame to the session's socket. It is safe to call
// from any goroutine; frames are small (pongs, a DISCONNECT, a close), so a
// full socket buffer is waited out briefly rather than queued.
func (s *session) send(op byte, payload []byte) error {
	var stack [128]byte
	frame := appendClientFrame(stack[:0], op, payload)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return errSessionEnded
	}
	if op == opClose {
		s.closeSent = true
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(frame) > 0 {
		n, err := syscall.Write(s.fd, frame)
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			if time.Now().After(deadline) {
				return fmt.Errorf("write: socket buffer full for %s", 2*time.Second)
			}
			time.Sleep(time.Millisecond)
		case err != nil:
			return fmt.Errorf("write: %w", err)
		default:
			frame = frame[n:]
		}
	}
	return nil
}

// shutdown ends the session's TCP connection (both directions); its loop
// then sees the end of the stream and closes the socket.
func (s *session) shutdown() {
	if s.poll != nil {
		s.poll.shutdown()
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.closed {
		_ = syscall.Shutdown(s.fd, syscall.SHUT_RDWR)
	}
}

// hangUp ends a session: cleanly (Socket.IO DISCONNECT and a WebSocket
// close handshake, waiting up to 2 s for the server's close) or abruptly
// (the TCP connection just goes away). It returns once the session ended
// or the wait ran out.
func (s *session) hangUp(clean bool) {
	if s.poll != nil {
		s.hangUpPolling(clean)
		return
	}
	if clean {
		_ = s.send(opText, []byte("41"))
		if s.send(opClose, []byte{0x03, 0xE8}) == nil { // 1000: normal closure
			select {
			case <-s.done:
				return
			case <-time.After(2 * time.Second):
			}
		}
	}
	s.shutdown()
}
