package engineio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// Buffer sizes handed to coder/websocket for each connection. net/http's
// own buffers are 4 KB each; an idle session needs far less. The write
// buffer only has to hold a frame header: the writer corks every batch, so
// frames collect in a pooled buffer while they are written, and no session
// keeps a write buffer of its own while idle.
const (
	wsReadBufferSize  = 256
	wsWriteBufferSize = 16
)

// writeTimeout bounds every write to a client: a WebSocket batch or a
// polling response.
const writeTimeout = 10 * time.Second

// wsConn is one WebSocket connection of a session.
type wsConn struct {
	c       *websocket.Conn
	netConn net.Conn    // for write deadlines; nil if the hijack was not ours
	cork    *corkWriter // nil if the hijack was not ours

	// For waitReadable: the bufio.Reader coder/websocket reads from and
	// the raw connection; nil if the hijack was not ours.
	br  *bufio.Reader
	raw syscall.RawConn
	// closeMu keeps br.Buffered in waitReadable apart from a close
	// handshake's reads on another goroutine.
	closeMu sync.Mutex
}

// corkWriter sits between coder/websocket's bufio.Writer and the
// connection. coder/websocket flushes after every message; while corked,
// those flushes collect in a pooled buffer instead, so a batch of queued
// packets leaves in one write.
//
// It also bounds every write to the connection: before each one it makes
// sure the write deadline is at least writeTimeout/2 away, moving it to
// writeTimeout from now when it is nearer. The deadline is never cleared;
// it only ever matters to a write, and every write first moves it. So a busy
// connection pays for a deadline change about once per writeTimeout/2
// instead of twice per batch.
type corkWriter struct {
	conn net.Conn

	mu       sync.Mutex
	corked   bool
	buf      *[]byte
	deadline time.Time
}

// writeLocked writes p to the connection within the deadline.
func (w *corkWriter) writeLocked(p []byte) (int, error) {
	if err := w.deadlineLocked(); err != nil {
		return 0, err
	}
	return w.conn.Write(p)
}

// deadlineLocked makes sure the write deadline is at least writeTimeout/2
// away.
func (w *corkWriter) deadlineLocked() error {
	if now := time.Now(); w.deadline.Sub(now) < writeTimeout/2 {
		w.deadline = now.Add(writeTimeout)
		if err := w.conn.SetWriteDeadline(w.deadline); err != nil {
			return fmt.Errorf("engineio: set write deadline: %w", err)
		}
	}
	return nil
}

// maxCorked is how much a corked writer holds before writing through.
const maxCorked = 32 << 10

func (w *corkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.corked {
		return w.writeLocked(p)
	}
	if len(p) >= largePacket {
		// Large data (a packet fanned out to many sessions) is written
		// where it lies, in one writev with what was collected before it,
		// never copied into this session's buffer.
		return w.writeThroughLocked(p)
	}
	if w.buf != nil && len(*w.buf)+len(p) > maxCorked {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
	}
	if w.buf == nil {
		w.buf = corkPool.Get().(*[]byte)
	}
	*w.buf = append(*w.buf, p...)
	return len(p), nil
}

// writeThroughLocked writes what was collected, then p, in one writev.
func (w *corkWriter) writeThroughLocked(p []byte) (int, error) {
	if w.buf == nil {
		return w.writeLocked(p)
	}
	if err := w.deadlineLocked(); err != nil {
		return 0, err
	}
	bufs := net.Buffers{*w.buf, p}
	_, err := bufs.WriteTo(w.conn)
	w.releaseLocked()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *corkWriter) setCorked() {
	w.mu.Lock()
	w.corked = true
	w.mu.Unlock()
}

// uncork writes what was collected and returns to writing through.
func (w *corkWriter) uncork() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.corked = false
	return w.flushLocked()
}

func (w *corkWriter) flushLocked() error {
	if w.buf == nil {
		return nil
	}
	var err error
	if len(*w.buf) > 0 {
		_, err = w.writeLocked(*w.buf)
	}
	w.releaseLocked()
	return err
}

// releaseLocked returns the collecting buffer to the pool.
func (w *corkWriter) releaseLocked() {
	*w.buf = (*w.buf)[:0]
	corkPool.Put(w.buf)
	w.buf = nil
}

// corkPool buffers start small and grow with what a batch needs, so a
// writer blocked on a slow client holds little more than its batch.
var corkPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// drop closes the connection at once, without a close handshake.
func (ws *wsConn) drop() {
	if ws.c != nil { // nil while the upgrade is still being accepted
		ws.c.CloseNow()
	}
}

// needsCork reports whether writing batch through the small bufio.Writer
// would take more than one write: several packets, or one whose frame does
// not fit the buffer (the buffer would be flushed with the frame header and
// part of the data, and the rest written after it).
func needsCork(batch []packet) bool {
	const frameOverhead = 1 + 10 // type byte, longest server frame header
	return len(batch) > 1 || (len(batch) == 1 && len(batch[0].data)+frameOverhead > wsWriteBufferSize)
}

// writePacket writes one packet as one WebSocket message; scratch is a
// reusable buffer and is returned, maybe grown.
func (ws *wsConn) writePacket(ctx context.Context, p packet, protocol int, scratch []byte) ([]byte, error) {
	var err error
	switch {
	case p.binary && protocol == 4:
		err = ws.c.Write(ctx, websocket.MessageBinary, p.data)
	case len(p.data) >= largePacket:
		// A large packet is not copied behind its type byte: that copy
		// would be made, and held while a slow client blocks the write,
		// by every session the packet fans out to.
		typ, kind := '0'+p.typ, websocket.MessageText
		if p.binary {
			typ, kind = p.typ, websocket.MessageBinary
		}
		err = ws.writeFragmented(ctx, kind, typ, p.data)
	case p.binary:
		scratch = append(append(scratch[:0], p.typ), p.data...)
		err = ws.c.Write(ctx, websocket.MessageBinary, scratch)
	default:
		scratch = append(append(scratch[:0], '0'+p.typ), p.data...)
		err = ws.c.Write(ctx, websocket.MessageText, scratch)
	}
	return scratch, err
}

// largePacket is the size from which a packet is written as two frames of
// one message (its type byte, then its data) instead of being copied.
const largePacket = 4096

// writeFragmented writes one message as a frame holding the type byte and a
// continuation frame holding data, both unmasked and uncopied.
func (ws *wsConn) writeFragmented(ctx context.Context, kind websocket.MessageType, typ byte, data []byte) error {
	w, err := ws.c.Writer(ctx, kind)
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte{typ}); err != nil {
		w.Close()
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// setWriteDeadline bounds the next writes; the zero time clears it. Our
// corkWriter keeps its own deadline, which this must not disturb.
func (ws *wsConn) setWriteDeadline(t time.Time) {
	if ws.netConn != nil && ws.cork == nil {
		ws.netConn.SetWriteDeadline(t)
	}
}

// writeContext returns the context for a batch of writes. With our
// corkWriter the deadline is its business; otherwise it is on the net.Conn
// when we have it, which costs nothing per write.
func (ws *wsConn) writeContext() (context.Context, context.CancelFunc) {
	if ws.cork != nil {
		return context.Background(), func() {}
	}
	if ws.netConn != nil {
		ws.setWriteDeadline(time.Now().Add(writeTimeout))
		return context.Background(), func() { ws.setWriteDeadline(time.Time{}) }
	}
	return context.WithTimeout(context.Background(), writeTimeout)
}

// scratchPool holds buffers for framing text packets ("4" + data).
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeLoop drains the session's queue to ws back to back until it is
// empty, then exits; Send starts it again. After the close packet it ends
// the WebSocket with a close frame.
func (s *session) writeLoop(ws *wsConn) {
	defer s.srv.track(-1)
	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	for {
		s.mu.Lock()
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
		batch := s.takeQueueLocked()
		s.mu.Unlock()

		ctx, cancel := ws.writeContext()
		corked := ws.cork != nil && needsCork(batch)
		if corked {
			ws.cork.setCorked()
		}
		var err error
		for _, p := range batch {
			if *bp, err = ws.writePacket(ctx, p, s.protocol, *bp); err != nil {
				break
			}
		}
		if corked {
			if uerr := ws.cork.uncork(); err == nil {
				err = uerr
			}
		}
		cancel()
		s.recycle(batch)
		if err != nil {
			s.mu.Lock()
			s.writing = false
			s.mu.Unlock()
			s.close(ReasonTransportError, false)
			ws.drop()
			return
		}
	}
}

// hijackWriter wraps a ResponseWriter so that coder/websocket, when it
// hijacks the connection, gets small bufio buffers instead of net/http's
// 4 KB ones (when nothing is buffered in them yet), and so that we learn the
// net.Conn for write deadlines.
type hijackWriter struct {
	http.ResponseWriter
	netConn net.Conn
	cork    *corkWriter
	br      *bufio.Reader
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.netConn = conn
	r, w := brw.Reader, brw.Writer
	if r.Buffered() == 0 {
		r = bufio.NewReaderSize(conn, wsReadBufferSize)
		h.br = r
	}
	if w.Buffered() == 0 {
		h.cork = &corkWriter{conn: conn}
		w = bufio.NewWriterSize(h.cork, wsWriteBufferSize)
	}
	return conn, bufio.NewReadWriter(r, w), nil
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
	// Our own limit applies to each message (see readMessage); this one
	// only stops anything beyond it, decompressed size included.
	c.SetReadLimit(srv.opts.MaxPayload + 1)
	ws := &wsConn{c: c, netConn: hw.netConn, cork: hw.cork}
	if sc, ok := hw.netConn.(syscall.Conn); ok && hw.br != nil && canPeek {
		if raw, err := sc.SyscallConn(); err == nil {
			ws.br, ws.raw = hw.br, raw
		}
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

// readLoop is the one reader of a session's WebSocket. It runs on its own
// goroutine so the HTTP handler that accepted the connection can return and
// net/http can free that request's state.
func (s *session) readLoop(ws *wsConn) {
	defer s.srv.track(-1)
	defer func() {
		if v := recover(); v != nil {
			s.srv.opts.Logger.Error("engineio: panic reading WebSocket", "sid", s.logID(), "panic", v, "stack", string(debug.Stack()))
			s.close(ReasonInternalError, false)
			ws.drop()
		}
	}()
	for {
		if err := ws.waitReadable(); err != nil {
			s.readFailed(ws, err)
			return
		}
		readErr, err := s.readOneOffStack(ws)
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
		data, binary, err := readMessage(context.Background(), ws.c, s.srv.opts.MaxPayload)
		if err != nil {
			done <- handled{readErr: err}
			return
		}
		p, err := decodeWebSocketMessage(data, binary, s.protocol)
		if err == nil {
			err = s.handlePacket(p)
		}
		done <- handled{err: err}
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

// waitReadable parks the reader until its connection has data (or an error
// or end of file) to read, in as few stack frames as it can: a readable byte
// buffered in coder/websocket's bufio.Reader, or one the kernel holds (seen
// by peeking, without taking it). Without the raw connection it returns at
// once and the read itself waits.
func (ws *wsConn) waitReadable() error {
	if ws.raw == nil || ws.br == nil {
		return nil
	}
	ws.closeMu.Lock()
	n := ws.br.Buffered()
	ws.closeMu.Unlock()
	if n > 0 {
		return nil
	}
	if err := ws.raw.Read(peekReadable); err != nil {
		return fmt.Errorf("engineio: wait for websocket data: %w", err)
	}
	return nil
}

// closeHandshake closes ws with a close handshake from a goroutine other
// than its reader: coder/websocket then reads the reply from the bufio.Reader
// that waitReadable looks at.
func (ws *wsConn) closeHandshake(code websocket.StatusCode, reason string) {
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
	s.readLoop(ws)
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
			ws.setWriteDeadline(time.Now().Add(writeTimeout))
			err := ws.c.Write(ctx, websocket.MessageText, []byte("3probe"))
			ws.setWriteDeadline(time.Time{})
			if err != nil {
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
