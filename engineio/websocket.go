package engineio

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// Buffer sizes handed to coder/websocket for each connection. net/http's
// own buffers are 4 KB each; an idle session needs far less. The write
// buffer only has to hold coder/websocket's largest frame, a control frame
// (2 bytes of header and at most 125 of payload): the session's data frames
// are built and written by frameWriter.
const (
	wsReadBufferSize  = 256
	wsWriteBufferSize = 128
)

// writeTimeout bounds every blocking write to a client: a WebSocket batch or
// a polling response.
const writeTimeout = 10 * time.Second

// wsConn is one WebSocket connection of a session.
type wsConn struct {
	c *websocket.Conn
	w *frameWriter
	// deflate: messages are compressed, so coder/websocket writes them
	// (through w) instead of w building their frames.
	deflate bool

	// For waiting until the client sends (the read poller, or
	// waitReadable): the bufio.Reader coder/websocket reads from and the
	// raw connection; nil where neither works.
	br  *bufio.Reader
	raw syscall.RawConn
	// closeMu keeps looks into br (buffered, declaresTooMuch) apart from a
	// close handshake's reads on another goroutine.
	closeMu sync.Mutex

	// For the read poller: the session whose reading waits there (set
	// before each wait is armed) and the wait's state.
	reader *session
	wait   pollWait
}

func (ws *wsConn) waitState() *pollWait { return &ws.wait }

// pollReady runs the session's reading once the client has sent something.
func (ws *wsConn) pollReady() { ws.reader.readLoop(ws, true) }

// pollable reports whether ws's reading waits in the read poller.
func (ws *wsConn) pollable() bool {
	return canPoll && ws.raw != nil && ws.br != nil && polls.usable()
}

// stopReading withdraws a wait armed in the read poller: the reading of ws
// is over, and its count in track with it.
func (ws *wsConn) stopReading() {
	if polls.cancel(ws) {
		ws.reader.srv.track(-1)
	}
}

// drop closes the connection at once, without a close handshake.
func (ws *wsConn) drop() {
	ws.stopReading()
	if ws.c != nil { // nil while the upgrade is still being accepted
		ws.c.CloseNow()
	}
	if ws.w != nil {
		ws.w.release()
	}
}

// tryWrite writes batch from the calling goroutine if that takes one
// non-blocking write; see frameWriter.tryWrite.
func (ws *wsConn) tryWrite(batch []packet, protocol int) (taken, pending bool, err error) {
	if ws.deflate {
		return false, false, nil
	}
	return ws.w.tryWrite(batch, protocol)
}

// writeBatch writes batch, blocking.
func (ws *wsConn) writeBatch(batch []packet, protocol int) error {
	if !ws.deflate {
		return ws.w.writeBatch(batch, protocol)
	}
	for _, p := range batch {
		if err := ws.writeCompressed(p, protocol); err != nil {
			return err
		}
	}
	return nil
}

// writeCompressed writes one packet as one message through coder/websocket,
// which compresses it; its data is streamed, not copied behind its type
// byte.
func (ws *wsConn) writeCompressed(p packet, protocol int) error {
	kind, prefix := websocket.MessageText, []byte{'0' + p.typ}
	switch {
	case p.binary && protocol == 4:
		kind, prefix = websocket.MessageBinary, nil
	case p.binary:
		kind, prefix = websocket.MessageBinary, []byte{p.typ}
	}
	mw, err := ws.c.Writer(context.Background(), kind)
	if err != nil {
		return fmt.Errorf("engineio: write websocket message: %w", err)
	}
	if _, err := mw.Write(prefix); err != nil {
		mw.Close()
		return fmt.Errorf("engineio: write websocket message: %w", err)
	}
	if _, err := mw.Write(p.data); err != nil {
		mw.Close()
		return fmt.Errorf("engineio: write websocket message: %w", err)
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("engineio: write websocket message: %w", err)
	}
	return nil
}

// writeNow is how a goroutine that put packets in the queue of a session
// with no writer, and so took the writer role (kickLocked), delivers them:
// it tries to write batch itself with one non-blocking write, which costs no goroutine
// and no wake-up. When that cannot be done (the socket's buffer is full,
// the batch is large, a control frame is being written), or more packets
// were queued meanwhile, it starts the writer goroutine to carry on.
func (s *session) writeNow(ws *wsConn, batch []packet) {
	taken, pending, err := ws.tryWrite(batch, s.protocol)
	if err != nil {
		s.recycle(batch)
		s.writeFailed(ws)
		return
	}
	if !taken {
		s.srv.track(1)
		go s.writeLoop(ws, batch)
		return
	}
	s.mu.Lock()
	s.recycleLocked(batch)
	if !pending && len(s.queue) == 0 && !(s.closed && s.graceful) {
		s.writing = false
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.srv.track(1)
	go s.writeLoop(ws, nil)
}

// writeLoop is the session's writer goroutine: it writes batch (and
// whatever an earlier non-blocking write left pending), then drains the
// queue to ws back to back until it is empty, and exits; the next Send
// writes by itself again or starts it anew. After the close packet it ends
// the WebSocket with a close frame.
func (s *session) writeLoop(ws *wsConn, batch []packet) {
	defer s.srv.track(-1)
	for {
		if err := ws.writeBatch(batch, s.protocol); err != nil {
			s.recycle(batch)
			s.writeFailed(ws)
			return
		}
		s.mu.Lock()
		s.recycleLocked(batch)
		if len(s.queue) == 0 {
			s.writing = false
			// Only a graceful close is the writer's to finish; any other
			// close drops the connection itself, and a close handshake here
			// (up to 5 s against a stuck client) would make that wait.
			graceful := s.closed && s.graceful
			s.mu.Unlock()
			if graceful {
				ws.closeHandshake(websocket.StatusNormalClosure, "")
			}
			return
		}
		batch = s.takeQueueLocked()
		s.mu.Unlock()
	}
}

// writeFailed gives up the writer role after a failed write and ends the
// session.
func (s *session) writeFailed(ws *wsConn) {
	s.mu.Lock()
	s.writing = false
	s.mu.Unlock()
	s.close(ReasonTransportError, false)
	ws.drop()
}

// hijackWriter wraps a ResponseWriter so that coder/websocket, when it
// hijacks the connection, gets small bufio buffers instead of net/http's
// 4 KB ones, and writes through our frameWriter.
type hijackWriter struct {
	http.ResponseWriter
	fw  *frameWriter
	br  *bufio.Reader
	raw syscall.RawConn
	// pipelined: the client sent data behind its upgrade request, which
	// net/http's reader holds; br is that reader.
	pipelined bool
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// What the client sent after its upgrade request is already in
	// net/http's reader; only a reader holding nothing can be swapped.
	r := brw.Reader
	if r.Buffered() == 0 {
		r = bufio.NewReaderSize(conn, wsReadBufferSize)
	} else {
		h.pipelined = true
	}
	h.br = r
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("engineio: flush before hijack: %w", err)
	}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			h.raw = raw
		}
	}
	h.fw = newFrameWriter(conn, h.raw)
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(h.fw, wsWriteBufferSize)), nil
}

// accept completes the WebSocket handshake.
func (srv *Server) accept(w http.ResponseWriter, r *http.Request) (*wsConn, error) {
	mode := websocket.CompressionDisabled
	if srv.opts.PerMessageDeflate {
		mode = websocket.CompressionContextTakeover
	}
	hw := &hijackWriter{ResponseWriter: w}
	c, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		// Origins are checked before, by originAllowed.
		InsecureSkipVerify: true,
		CompressionMode:    mode,
	})
	if err != nil {
		return nil, fmt.Errorf("engineio: websocket accept: %w", err)
	}
	if hw.fw == nil {
		c.CloseNow()
		return nil, errors.New("engineio: websocket accept: connection not hijacked through the server")
	}
	// Our own limit applies to each message (see readMessage); this one
	// only stops anything beyond it, decompressed size included.
	c.SetReadLimit(srv.opts.MaxPayload + 1)
	// Compression is on only if the client took it up.
	deflate := srv.opts.PerMessageDeflate && strings.Contains(w.Header().Get("Sec-WebSocket-Extensions"), "permessage-deflate")
	ws := &wsConn{c: c, w: hw.fw, deflate: deflate}
	if hw.pipelined {
		// coder/websocket moved what net/http's reader held into a reader
		// that br now reads first; one Peek takes it back into br, where
		// the reader sees it as buffered, without waiting for the socket.
		hw.br.Peek(1)
	}
	if hw.raw != nil && canPeek {
		ws.br, ws.raw = hw.br, hw.raw
	}
	return ws, nil
}

// errTooLarge reports a message beyond MaxPayload.
var errTooLarge = errors.New("engineio: message too large")

// readMessage reads one WebSocket message of at most max bytes into a new
// slice, which the caller owns.
func readMessage(ctx context.Context, c *websocket.Conn, max int64) ([]byte, bool, error) {
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return nil, false, err
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(data)) > max {
		return nil, false, errTooLarge
	}
	return data, typ == websocket.MessageBinary, nil
}

// readLoop reads and handles the messages of a session's WebSocket, then
// waits for more. Where the read poller works, waiting costs no goroutine:
// readLoop arms a wait and returns, and the poller runs it again, on a new
// goroutine, once ws has something to read (readable tells it so). Elsewhere
// it waits in waitReadable. From the session's start to the end of its
// reading, whether running or waiting in the poller, the reading holds one
// count in track.
func (s *session) readLoop(ws *wsConn, readable bool) {
	waiting := false
	defer func() {
		if v := recover(); v != nil {
			s.srv.opts.Logger.Error("engineio: panic reading WebSocket", "sid", s.logID(), "panic", v, "stack", string(debug.Stack()))
			s.close(ReasonInternalError, false)
			ws.drop()
		}
		if !waiting {
			s.srv.track(-1)
		}
	}()
	poll := ws.pollable()
	for {
		var readErr, err error
		switch {
		case readable, ws.buffered():
			readable = false
		case poll:
			ws.reader = s
			if err := polls.arm(ws, ws.raw); err != nil {
				s.readFailed(ws, err)
				return
			}
			waiting = true
			return
		default:
			if err := ws.waitReadable(); err != nil {
				s.readFailed(ws, err)
				return
			}
		}
		if ws.declaresTooMuch(s.srv.opts.MaxPayload) {
			s.readFailed(ws, errTooLarge)
			return
		}
		if poll {
			// A goroutine of the poller's, which ends after this message.
			readErr, err = s.readOne(ws)
		} else {
			readErr, err = s.readOneOffStack(ws)
		}
		if readErr != nil {
			s.readFailed(ws, readErr)
			return
		}
		if err != nil {
			if errors.Is(err, errParse) {
				s.srv.opts.Logger.Debug("engineio: bad packet", "sid", s.logID(), "err", err)
				s.closeWith(ReasonParseError, false, false)
				ws.c.Close(websocket.StatusProtocolError, "malformed packet")
			} else {
				ws.c.Close(websocket.StatusNormalClosure, "")
			}
			ws.drop()
			return
		}
	}
}

// readOne reads one message and handles its packet. It returns the read
// error, or else the error of handlePacket.
func (s *session) readOne(ws *wsConn) (readErr, err error) {
	data, binary, err := readMessage(context.Background(), ws.c, s.srv.opts.MaxPayload)
	if err != nil {
		return err, nil
	}
	p, err := decodeWebSocketMessage(data, binary, s.protocol)
	if err != nil {
		return nil, err
	}
	return nil, s.handlePacket(p)
}

// readOneOffStack reads one message and handles its packet, on a goroutine
// of its own that the reader waits for. Reading through coder/websocket and
// handling a message (Socket.IO decoding, the application's event handlers)
// need a deeper stack than waiting does, and a goroutine's stack keeps its
// largest size until a garbage collection shrinks it. Done on the reader,
// they would leave every idle session's reader holding that stack; here it
// goes away with the goroutine, and the reader, which only waits (see
// waitReadable), keeps the smallest stack. Messages from clients are rare
// next to the time a session sits idle, so the extra goroutine is cheap.
// It returns the read error, or else the error of handlePacket.
func (s *session) readOneOffStack(ws *wsConn) (readErr, err error) {
	done := make(chan handled, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- handled{panicked: true, value: v}
			}
		}()
		readErr, err := s.readOne(ws)
		done <- handled{readErr: readErr, err: err}
	}()
	h := <-done
	if h.panicked {
		panic(h.value) // the reader's recover closes the session
	}
	return h.readErr, h.err
}

// handled is how readOneOffStack's goroutine ended.
type handled struct {
	readErr  error
	err      error
	panicked bool
	value    any
}

// waitReadable parks the reader until the kernel holds data (or an error or
// end of file) for its connection, in as few stack frames as it can: it
// peeks, without taking anything. The caller first looks at what is
// buffered. Without the raw connection it returns at once and the read
// itself waits.
func (ws *wsConn) waitReadable() error {
	if ws.raw == nil || ws.br == nil {
		return nil
	}
	if err := ws.raw.Read(peekReadable); err != nil {
		return fmt.Errorf("engineio: wait for websocket data: %w", err)
	}
	return nil
}

// buffered reports whether coder/websocket's bufio.Reader holds data not
// read yet.
func (ws *wsConn) buffered() bool {
	if ws.br == nil {
		return false
	}
	ws.closeMu.Lock()
	defer ws.closeMu.Unlock()
	return ws.br.Buffered() > 0
}

// declaresTooMuch reports whether the frame that starts the next message,
// as far as its header is already received, declares more than max bytes:
// such a message is refused at once, not after waiting for max bytes that
// may never come. The caller knows the connection is readable, so the one
// read that fills the bufio.Reader does not wait. A header not yet whole,
// and the continuation frames of a message, are left to the read itself,
// which stops at max bytes.
func (ws *wsConn) declaresTooMuch(max int64) bool {
	if ws.br == nil {
		return false
	}
	ws.closeMu.Lock()
	defer ws.closeMu.Unlock()
	if _, err := ws.br.Peek(1); err != nil {
		return false // the read reports it
	}
	h, _ := ws.br.Peek(min(ws.br.Buffered(), 10))
	if len(h) < 2 {
		return false
	}
	var n uint64
	switch l := h[1] & 0x7f; {
	case l < 126:
		n = uint64(l)
	case l == 126 && len(h) >= 4:
		n = uint64(binary.BigEndian.Uint16(h[2:4]))
	case l == 127 && len(h) >= 10:
		n = binary.BigEndian.Uint64(h[2:10])
	}
	return n > uint64(max)
}

// closeHandshake closes ws with a close handshake from a goroutine other
// than its reader: coder/websocket then reads the reply from the bufio.Reader
// that buffered looks at. A wait in the read poller is withdrawn first, so
// the reply is coder/websocket's alone to read.
func (ws *wsConn) closeHandshake(code websocket.StatusCode, reason string) {
	ws.stopReading()
	ws.closeMu.Lock()
	defer ws.closeMu.Unlock()
	ws.c.Close(code, reason)
}

// readFailed closes the session after a failed read, with the reason the
// error tells.
func (s *session) readFailed(ws *wsConn, err error) {
	switch {
	case errors.Is(err, errTooLarge):
		s.closeWith(ReasonPayloadTooBig, false, false)
		ws.c.Close(websocket.StatusMessageTooBig, "message too large")
	case websocket.CloseStatus(err) != -1, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		s.close(ReasonTransportClose, false)
	default:
		s.close(ReasonTransportError, false)
	}
	ws.drop()
}

// probeLoop runs the upgrade of a polling session to ws: 2probe is
// answered with 3probe, the waiting poll is answered with a noop, and 5
// moves the session to ws; then ws becomes the session's reader. Anything
// else, or no upgrade within UpgradeTimeout, drops ws and the session stays
// on polling.
func (s *session) probeLoop(ws *wsConn) {
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.opts.UpgradeTimeout)
	ok := s.probe1(ctx, ws)
	cancel()
	if !ok {
		s.mu.Lock()
		if s.probe == ws {
			s.probe = nil
			s.probed = false
		}
		s.mu.Unlock()
		ws.drop()
		s.srv.track(-1)
		return
	}
	s.readLoop(ws, false)
}

func (s *session) probe1(ctx context.Context, ws *wsConn) bool {
	for {
		data, binary, err := readMessage(ctx, ws.c, s.srv.opts.MaxPayload)
		if err != nil {
			return false
		}
		p, err := decodeWebSocketMessage(data, binary, s.protocol)
		if err != nil {
			return false
		}
		switch {
		case p.typ == packetPing && string(p.data) == "probe":
			if err := ws.c.Write(ctx, websocket.MessageText, []byte("3probe")); err != nil {
				return false
			}
			s.mu.Lock()
			s.probed = s.probe == ws
			s.mu.Unlock()
			s.wake() // the waiting poll answers with a noop
		case p.typ == packetUpgrade:
			s.mu.Lock()
			if s.closed || s.probe != ws || !s.probed {
				s.mu.Unlock()
				return false
			}
			s.probe = nil
			s.probed = false
			s.ws = ws
			s.srv.upgrades.Add(1)
			if len(s.queue) > 0 {
				s.kickLocked() // unlocks
			} else {
				s.mu.Unlock()
				s.wake()
			}
			s.srv.opts.Logger.Debug("engineio: upgraded to websocket", "sid", s.logID())
			return true
		case p.typ == packetNoop:
		default:
			return false
		}
	}
}
