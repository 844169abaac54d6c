package engineio

import (
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// frameWriter owns the writes to a WebSocket connection the server
// hijacked. The session's data frames are built here, a whole batch of them
// into one buffer, and leave in one write; coder/websocket only writes its
// control frames (the pong to a client's ping, the close frame), through its
// bufio.Writer into Write. Its buffer (wsWriteBufferSize) holds the largest
// control frame and coder/websocket flushes after every frame, so each
// control frame arrives here whole, in one call, and mu keeps it from
// landing inside one of ours.
//
// A batch is first offered to tryWrite, which the pushing goroutine calls
// itself: one non-blocking write, no goroutine woken. What the kernel does
// not take at once stays pending, and the session's writer goroutine writes
// it, blocking, before anything else is written.
//
// Every blocking write runs under a deadline: before each one the writer
// makes sure the write deadline is at least writeTimeout/2 away, moving it
// to writeTimeout from now when it is nearer. The deadline is never
// cleared; it only matters to a write, and every write first moves it. So a
// busy connection pays for a deadline change about once per writeTimeout/2.
type frameWriter struct {
	conn net.Conn
	raw  syscall.RawConn // nil: no non-blocking writes

	mu        sync.Mutex
	pending   *[]byte // pooled; (*pending)[off:] is still to be written
	off       int
	closeSent bool // a close frame went out: no data frame may follow
	deadline  time.Time

	// tryWrite's call to raw.Write, made once per connection so that a
	// write allocates nothing; out, n and err are its argument and results
	// and are used only with mu held.
	writeFn func(fd uintptr) bool
	out     []byte
	n       int
	err     error
}

// newFrameWriter returns the writer of conn; raw, when not nil, is conn's
// raw connection, for non-blocking writes.
func newFrameWriter(conn net.Conn, raw syscall.RawConn) *frameWriter {
	w := &frameWriter{conn: conn}
	if raw != nil && canWriteOnce {
		w.raw = raw
		w.writeFn = func(fd uintptr) bool {
			w.n, w.err = writeOnce(fd, w.out)
			return true
		}
	}
	return w
}

// errCloseSent refuses a data frame after the close frame.
var errCloseSent = fmt.Errorf("engineio: write websocket frames: close frame sent: %w", net.ErrClosed)

// Opcodes of the frames the server writes (RFC 6455, section 5.2).
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
)

// Write writes p, a whole frame from coder/websocket, after anything
// pending. Seeing a close frame go out relies on that; with compression,
// where coder/websocket writes data frames in pieces too, closeSent may be
// set by a piece that merely starts with the same byte, but then the data
// frames are coder/websocket's and closeSent is never consulted.
func (w *frameWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flushPendingLocked(); err != nil {
		return 0, err
	}
	if len(p) > 0 && p[0] == 0x80|opClose {
		w.closeSent = true
	}
	return w.writeLocked(p)
}

// writeLocked writes p to the connection within the deadline.
func (w *frameWriter) writeLocked(p []byte) (int, error) {
	if err := w.deadlineLocked(); err != nil {
		return 0, err
	}
	return w.conn.Write(p)
}

// deadlineLocked makes sure the write deadline is at least writeTimeout/2
// away.
func (w *frameWriter) deadlineLocked() error {
	if now := time.Now(); w.deadline.Sub(now) < writeTimeout/2 {
		w.deadline = now.Add(writeTimeout)
		if err := w.conn.SetWriteDeadline(w.deadline); err != nil {
			return fmt.Errorf("engineio: set write deadline: %w", err)
		}
	}
	return nil
}

// flushPendingLocked writes what tryWrite left, blocking.
func (w *frameWriter) flushPendingLocked() error {
	if w.pending == nil {
		return nil
	}
	_, err := w.writeLocked((*w.pending)[w.off:])
	putFrameBuf(w.pending)
	w.pending, w.off = nil, 0
	if err != nil {
		return fmt.Errorf("engineio: write websocket frames: %w", err)
	}
	return nil
}

// maxBatchBytes is how much of a batch is collected before it is written;
// it bounds the buffer a writer holds while a slow client blocks it.
const maxBatchBytes = 32 << 10

// largePacket is the size from which a packet's data is not copied into the
// batch buffer but written where it lies, in one writev with the frames
// before it: that copy would be made, and held while a slow client blocks
// the write, by every session the packet fans out to.
const largePacket = 4096

// tryWrite writes the frames of batch from the calling goroutine if the
// connection is free and batch is small: one non-blocking write. taken
// reports that the frames are written or pending (the rest the kernel did
// not take); then pending reports the latter, and the caller must have a
// writer goroutine flush them. Not taken, nothing was written and batch is
// still the caller's to write, blocking.
func (w *frameWriter) tryWrite(batch []packet, protocol int) (taken, pending bool, err error) {
	if w.raw == nil || !w.mu.TryLock() {
		return false, false, nil
	}
	defer w.mu.Unlock()
	if w.pending != nil {
		return false, false, nil
	}
	if w.closeSent {
		return false, false, errCloseSent
	}
	size := 0
	for _, p := range batch {
		if len(p.data) >= largePacket {
			return false, false, nil
		}
		size += len(p.data) + maxFrameOverhead
	}
	if size > maxBatchBytes {
		return false, false, nil
	}
	if err := w.deadlineLocked(); err != nil {
		return false, false, err
	}
	bp := getFrameBuf()
	for _, p := range batch {
		*bp, _ = appendFrame(*bp, p, protocol)
	}
	w.out = *bp
	err = w.raw.Write(w.writeFn)
	n, werr := w.n, w.err
	w.out, w.err = nil, nil
	if err == nil {
		err = werr
	}
	if err != nil {
		putFrameBuf(bp)
		return false, false, fmt.Errorf("engineio: write websocket frames: %w", err)
	}
	if n == len(*bp) {
		putFrameBuf(bp)
		return true, false, nil
	}
	w.pending, w.off = bp, n
	return true, true, nil
}

// writeBatch writes whatever is pending, then the frames of batch,
// blocking, in as few writes as maxBatchBytes and large packets allow.
func (w *frameWriter) writeBatch(batch []packet, protocol int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flushPendingLocked(); err != nil {
		return err
	}
	if len(batch) == 0 {
		return nil
	}
	if w.closeSent {
		return errCloseSent
	}
	bp := getFrameBuf()
	defer putFrameBuf(bp)
	for _, p := range batch {
		var tail []byte
		*bp, tail = appendFrame(*bp, p, protocol)
		var err error
		switch {
		case tail != nil:
			if err = w.deadlineLocked(); err == nil {
				bufs := net.Buffers{*bp, tail}
				_, err = bufs.WriteTo(w.conn)
			}
			*bp = (*bp)[:0]
		case len(*bp) >= maxBatchBytes:
			_, err = w.writeLocked(*bp)
			*bp = (*bp)[:0]
		}
		if err != nil {
			return fmt.Errorf("engineio: write websocket frames: %w", err)
		}
	}
	if len(*bp) > 0 {
		if _, err := w.writeLocked(*bp); err != nil {
			return fmt.Errorf("engineio: write websocket frames: %w", err)
		}
	}
	return nil
}

// release returns a pending buffer to the pool once the connection is gone.
func (w *frameWriter) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending != nil {
		putFrameBuf(w.pending)
		w.pending, w.off = nil, 0
	}
}

// maxFrameOverhead is the most a frame adds to a packet's data: the longest
// frame header and the packet type byte.
const maxFrameOverhead = 10 + 1

// appendFrame appends the WebSocket frame of packet p to b: one unmasked,
// final frame, text or binary as the protocol wants. A packet of
// largePacket bytes or more gets only its header (and type byte) appended,
// and its data is returned as tail, to be written right after b.
func appendFrame(b []byte, p packet, protocol int) (out, tail []byte) {
	op, prefix := byte(opText), true
	switch {
	case p.binary && protocol == 4:
		op, prefix = opBinary, false
	case p.binary:
		op = opBinary
	}
	n := len(p.data)
	if prefix {
		n++
	}
	b = appendFrameHeader(b, op, n)
	if prefix {
		if p.binary {
			b = append(b, p.typ)
		} else {
			b = append(b, '0'+p.typ)
		}
	}
	if len(p.data) >= largePacket {
		return b, p.data
	}
	return append(b, p.data...), nil
}

// appendFrameHeader appends the header of an unmasked final frame with
// opcode op and n bytes of payload.
func appendFrameHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		u := uint64(n)
		return append(b, 127, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
			byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
}

// framePool buffers start small and grow with what a batch needs, so a
// writer blocked on a slow client holds little more than its batch.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func getFrameBuf() *[]byte { return framePool.Get().(*[]byte) }

// putFrameBuf returns b to the pool unless it grew past maxBatchBytes and a
// large packet's worth.
func putFrameBuf(b *[]byte) {
	if cap(*b) > 2*maxBatchBytes {
		return
	}
	*b = (*b)[:0]
	framePool.Put(b)
}
