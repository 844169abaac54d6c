package engineio

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// parkedPoll is a long poll that waits, hijacked from net/http, for
// something to answer (see park.go).
type parkedPoll struct {
	s    *session
	l    *parkListener
	conn net.Conn
	// header holds what the handlers set for the answer (CORS and the
	// like); the answer adds its own framing and content headers.
	header http.Header
	// pending is what the client sent after this request and net/http had
	// already read: its next request, which goes back with the connection.
	pending []byte
	wait    pollWait
	timer   *time.Timer // the poll's timeout
	at      time.Time   // when it was parked
}

func (pp *parkedPoll) waitState() *pollWait { return &pp.wait }

// parkable reports whether r's connection may be parked: it is kept alive
// after the answer, and http.Server did not add TLS on top of the listener
// (handed back, it would be wrapped in TLS a second time).
func parkable(r *http.Request) bool {
	return r.ProtoAtLeast(1, 1) && !r.Close && r.TLS == nil
}

// parkPoll hijacks the connection of a poll with nothing to answer yet and
// parks it until something is queued, the session closes or upgrades, or
// wait passes. It reports false, with nothing done, when the connection
// cannot be hijacked; the poll then waits in its handler.
func (s *session) parkPoll(l *parkListener, w http.ResponseWriter, r *http.Request, wait time.Duration) bool {
	conn, header, pending, ok := s.hijack(w, r)
	if !ok {
		return false
	}
	pp := &parkedPoll{s: s, l: l, conn: conn, header: header, pending: pending, at: time.Now()}
	s.mu.Lock()
	s.parked = pp
	s.hasParked.Store(true)
	pp.timer = time.AfterFunc(wait, func() { s.answerParked(pp, true) })
	s.mu.Unlock()
	// The poller tells when the client goes away, as the request's context
	// does for a handler. A client that already sent its next request is
	// not watched: the answer hands that request on.
	if raw := rawConnOf(conn); raw != nil && len(pp.pending) == 0 {
		_ = polls.arm(pp, raw) // without a watch the poll still ends with its timeout
	}
	// Something may have been queued between the handler's last look and
	// the parking.
	s.answerParked(pp, false)
	return true
}

// hijack takes r's connection from net/http for an answer written by hand.
// It returns the connection, the headers the handlers set for the answer
// (with CORS), and the bytes of the client's next request net/http had
// already read; ok is false, with nothing done, when the connection cannot
// be hijacked.
func (s *session) hijack(w http.ResponseWriter, r *http.Request) (conn net.Conn, header http.Header, pending []byte, ok bool) {
	header = w.Header().Clone()
	s.srv.cors(header, r)
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, nil, false
	}
	conn, pending = unwrapPending(conn, buffered(brw.Reader))
	return conn, header, pending, true
}

// buffered returns a copy of what br holds, or nil.
func buffered(br interface {
	Buffered() int
	Peek(int) ([]byte, error)
}) []byte {
	n := br.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := br.Peek(n)
	return slices.Clone(b)
}

// answerParked answers the parked poll pp (nil: whichever is parked) if
// there is an answer now: everything queued, or a noop when the session
// closed or upgraded, an upgrade is being probed, or the poll timed out.
func (s *session) answerParked(pp *parkedPoll, timedOut bool) {
	s.mu.Lock()
	if pp == nil {
		pp = s.parked
	}
	if pp == nil || s.parked != pp {
		s.mu.Unlock()
		return
	}
	var batch []packet
	queued := false
	switch {
	case s.ws != nil:
		// Upgraded: the queue is the WebSocket writer's alone.
		batch = []packet{{typ: packetNoop}}
	case len(s.queue) > 0:
		batch, queued = s.takeQueueLocked(), true
		// A poll answered within the handler's wait says the session is
		// busy: its next poll waits in its handler first. One that waited
		// longer even parked says its polls wait long: the next parks at
		// once.
		s.parkAtOnce = time.Since(pp.at) >= s.srv.opts.parkAfter
	case timedOut:
		s.parkAtOnce = true
		batch = []packet{{typ: packetNoop}}
	case s.closed, s.probed:
		batch = []packet{{typ: packetNoop}}
	default:
		s.mu.Unlock()
		return
	}
	s.parked = nil
	s.hasParked.Store(false)
	// The slot is free before the answer goes out: the client's next poll
	// may come on another connection as soon as it has the answer.
	s.polling = false
	s.mu.Unlock()
	pp.timer.Stop()
	polls.cancel(pp)
	pp.answer(batch, queued)
}

// pollReady runs when the client sent something, or closed the connection,
// while its poll was parked. A closed connection ends the session, as for a
// poll waiting in its handler; a request sent early is left in the socket
// for net/http.
func (pp *parkedPoll) pollReady() {
	var b [1]byte
	n, gone := 0, false
	raw := rawConnOf(pp.conn)
	if raw == nil {
		return
	}
	err := raw.Read(func(fd uintptr) bool {
		var err error
		n, _, err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		gone = err != syscall.EAGAIN && (err != nil || n == 0)
		return true
	})
	if err == nil && !gone {
		// The client sent its next request early (it stays in the socket
		// for net/http), or nothing could be read: the watch ends here, and
		// the poll's timer still bounds it. Arming again on readiness that
		// a read cannot take would only spin.
		return
	}
	s := pp.s
	s.mu.Lock()
	if s.parked != pp {
		s.mu.Unlock()
		return
	}
	s.parked = nil
	s.hasParked.Store(false)
	s.mu.Unlock()
	pp.timer.Stop()
	pp.conn.Close()
	// Closed while the poll still holds its slot, as in a handler: the
	// session ends at once instead of lingering for a next poll.
	s.close(ReasonTransportClose, false)
	s.release(&s.polling)
}

// answer writes batch as the parked poll's answer, then parks the
// connection until the client's next request, which usually follows at
// once. (Handed straight back, the connection would be a new one to
// net/http: its next request would get ReadHeaderTimeout instead of
// IdleTimeout, and http.Server.Shutdown would wait for it.) queued tells
// that batch is the session's drained queue, to be offered back for reuse.
//
// It runs on the goroutine that found the answer (a push, the poll's timer,
// a shutdown): one non-blocking write sends the whole answer unless the
// socket cannot take it at once, and only then does a goroutine write the
// rest, so that a client not reading never holds up a push.
func (pp *parkedPoll) answer(batch []packet, queued bool) {
	bp := bufPool.Get().(*[]byte)
	body, ctype := pp.s.pollPayload((*bp)[:0], batch)
	if queued {
		pp.s.recycle(batch)
	}
	hp := bufPool.Get().(*[]byte)
	msg := appendAnswerHead((*hp)[:0], pp.header, ctype, len(body))
	msg = append(msg, body...)
	putBuf(bp, body)
	var n int
	var err error
	if len(pp.pending) == 0 {
		// A connection with the client's next request already read goes
		// back to net/http through a channel: not on a pushing goroutine.
		n, err = pp.tryWrite(msg)
	}
	if err == nil && n < len(msg) {
		pp.s.srv.track(1)
		go pp.finish(hp, msg, n)
		return
	}
	putBuf(hp, msg)
	if err != nil {
		pp.conn.Close()
		return
	}
	pp.l.parkIdle(pp.conn, pp.pending)
}

// tryWrite writes as much of b as the socket takes now, without waiting:
// nothing where that cannot be done (then finish writes it all).
func (pp *parkedPoll) tryWrite(b []byte) (n int, err error) {
	raw := rawConnOf(pp.conn)
	if raw == nil || !canWriteOnce {
		return 0, nil
	}
	if werr := raw.Write(func(fd uintptr) bool {
		n, err = writeOnce(fd, b)
		return true
	}); err == nil {
		err = werr
	}
	return n, err
}

// finish writes msg from its n-th byte on, within the write timeout, then
// parks the connection as answer does; hp is msg's pooled buffer.
func (pp *parkedPoll) finish(hp *[]byte, msg []byte, n int) {
	defer pp.s.srv.track(-1)
	pp.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := pp.conn.Write(msg[n:])
	putBuf(hp, msg)
	if err != nil {
		pp.conn.Close()
		return
	}
	pp.l.parkIdle(pp.conn, pp.pending)
}

// answerPostParked answers a polling POST "ok" on its hijacked connection
// and parks the connection until the client's next request. The POST slot
// is freed before the answer goes out. It reports false, with nothing done,
// when the connection cannot be hijacked.
func (s *session) answerPostParked(l *parkListener, w http.ResponseWriter, r *http.Request) bool {
	conn, header, pending, ok := s.hijack(w, r)
	if !ok {
		return false
	}
	s.release(&s.posting)
	hp := bufPool.Get().(*[]byte)
	b := appendAnswerHead((*hp)[:0], header, "text/html", 2)
	b = append(b, "ok"...)
	conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := conn.Write(b)
	putBuf(hp, b)
	if err != nil {
		conn.Close()
		return true
	}
	l.parkIdle(conn, pending)
	return true
}

// appendAnswerHead appends the status line and headers of a 200 answer
// with a body of n bytes of ctype: what writePoll has net/http write,
// with the headers in h.
func appendAnswerHead(b []byte, h http.Header, ctype string, n int) []byte {
	b = append(b, "HTTP/1.1 200 OK\r\nContent-Type: "...)
	b = append(b, ctype...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "\r\nCache-Control: no-store\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"...)
	keys := make([]string, 0, len(h))
	for k := range h {
		switch k {
		case "Content-Type", "Content-Length", "Cache-Control", "Date", "Connection", "Transfer-Encoding", "Trailer":
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			if strings.ContainsAny(v, "\r\n") {
				continue
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}
