package engineio

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Parking keeps a long-polling session's idle HTTP connections out of
// net/http while they wait. A long poll served by a handler holds two
// goroutines (the handler's and net/http's background read), a 4 KB read
// buffer, a 4 KB write buffer, a 2 KB response buffer and the request; an
// idle keep-alive connection between two POSTs holds a goroutine and both
// 4 KB buffers. Parked, each is a socket in the read poller and a few
// hundred bytes.
//
//   - A long poll with nothing to answer yet is hijacked and parked
//     (parkedPoll): the answer is written on the connection directly when
//     packets are queued, the session closes or upgrades, or the poll times
//     out, and the poller watches the socket meanwhile so that a client
//     that goes away still closes its session, as it does when a handler
//     waits.
//     A poll waits a moment (defaultParkAfter, 100 ms) in its handler
//     first, so that the polls of a busy session, answered sooner, skip the
//     parking's extra work. A session whose parked poll waited that long
//     again parks its next polls at once, skipping the handler's wait,
//     until one is answered within that moment.
//   - After such an answer, and after a POST's "ok" (which clients send
//     seldom: a pong every ping interval), the connection waits in the
//     poller for the client's next request (idleConn) and then goes back to
//     net/http through the listener (Server.Listen), as if newly accepted;
//     one that sends nothing for the idle timeout is closed. (Handed back at
//     once, it would wait in net/http as a new connection, under
//     ReadHeaderTimeout instead of IdleTimeout.)
//
// Parking needs the read poller (Linux) and a listener made by
// Server.Listen; without them handlers wait as usual.

// parkListener is the net.Listener Server.Listen returns: Accept returns
// new connections and parked ones that have a request to read.
type parkListener struct {
	net.Listener
	idle time.Duration // how long a parked keep-alive connection may wait

	startOnce sync.Once
	served    atomic.Bool // Accept was called: an http.Server serves l
	accepted  chan acceptResult
	back      chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	mu     sync.Mutex
	idlers map[*idleConn]struct{} // nil once closed
}

type acceptResult struct {
	c   net.Conn
	err error
}

// defaultParkIdle is how long a parked keep-alive connection waits for its
// next request when the listener was given no idle timeout.
const defaultParkIdle = 2 * time.Minute

// Listen returns ln wrapped for an http.Server serving this Server: long
// polls and the keep-alive connections of polling sessions wait parked,
// without a goroutine each, and come back to the http.Server through the
// returned listener when the client sends its next request. idle is how
// long a parked keep-alive connection may wait for it (the http.Server's
// IdleTimeout; 0 means two minutes). Closing the returned listener closes
// ln and every connection parked idle. Call Listen once, before serving;
// nothing parks until the returned listener is served. Requests that came
// over TLS are never parked: serve TLS by wrapping the returned listener
// (tls.NewListener), not with http.Server.ServeTLS on top of it.
func (srv *Server) Listen(ln net.Listener, idle time.Duration) net.Listener {
	if idle <= 0 {
		idle = defaultParkIdle
	}
	l := &parkListener{
		Listener: ln,
		idle:     idle,
		accepted: make(chan acceptResult),
		back:     make(chan net.Conn),
		done:     make(chan struct{}),
		idlers:   make(map[*idleConn]struct{}),
	}
	srv.park.Store(l)
	return l
}

// parking returns the listener parked connections go back to, or nil when
// connections cannot be parked here.
func (srv *Server) parking() *parkListener {
	l := srv.park.Load()
	if l == nil || !l.served.Load() || !canPoll || !polls.usable() {
		return nil
	}
	return l
}

// Accept returns the next new connection, or a parked one that has a
// request to read.
func (l *parkListener) Accept() (net.Conn, error) {
	l.startOnce.Do(func() {
		l.served.Store(true)
		go l.acceptLoop()
	})
	select {
	case <-l.done:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.back:
		return c, nil
	case r := <-l.accepted:
		return r.c, r.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// acceptLoop accepts from the wrapped listener for Accept.
func (l *parkListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		select {
		case l.accepted <- acceptResult{c, err}:
		case <-l.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// Close closes the wrapped listener and every connection parked idle.
func (l *parkListener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.closeErr = l.Listener.Close()
		l.mu.Lock()
		idlers := l.idlers
		l.idlers = nil
		l.mu.Unlock()
		for ic := range idlers {
			if ic.end() {
				polls.cancel(ic)
				ic.conn.Close()
			}
		}
	})
	return l.closeErr
}

// handBack gives c back to the http.Server, which reads its next request
// as on a new connection. A deadline left from writing an answer is
// cleared first; net/http sets its own.
func (l *parkListener) handBack(c net.Conn) {
	c.SetDeadline(time.Time{})
	select {
	case <-l.done:
		c.Close()
		return
	default:
	}
	select {
	case l.back <- c:
	case <-l.done:
		c.Close()
	}
}

// parkIdle waits, without a goroutine, for the client's next request on c
// (whose earlier requests are all answered) and hands c back then. pending
// holds bytes of that request already read from c, if any.
func (l *parkListener) parkIdle(c net.Conn, pending []byte) {
	if len(pending) > 0 {
		l.handBack(&prefixConn{Conn: c, prefix: pending})
		return
	}
	raw := rawConnOf(c)
	if raw == nil {
		l.handBack(c)
		return
	}
	ic := &idleConn{l: l, conn: c}
	l.mu.Lock()
	if l.idlers == nil {
		l.mu.Unlock()
		c.Close()
		return
	}
	l.idlers[ic] = struct{}{}
	ic.timer = time.AfterFunc(l.idle, ic.expire)
	l.mu.Unlock()
	if err := polls.arm(ic, raw); err != nil && ic.end() {
		// The poller cannot take it (or the connection is already being
		// closed): net/http waits for the request itself.
		l.handBack(c)
	}
}

// rawConnOf returns c's raw connection, or nil when c has none.
func rawConnOf(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// idleConn is a keep-alive connection parked until its next request.
type idleConn struct {
	l     *parkListener
	conn  net.Conn
	wait  pollWait
	timer *time.Timer // guarded by l.mu
	over  atomic.Bool
}

func (ic *idleConn) waitState() *pollWait { return &ic.wait }

// pollReady hands the connection back: its next request has come (or the
// client closed it, which net/http then sees).
func (ic *idleConn) pollReady() {
	if ic.end() {
		ic.l.handBack(ic.conn)
	}
}

// expire closes a connection that waited the whole idle timeout.
func (ic *idleConn) expire() {
	if ic.end() {
		polls.cancel(ic)
		ic.conn.Close()
	}
}

// end ends the parking once and reports whether this call did: the one
// that did decides what becomes of the connection.
func (ic *idleConn) end() bool {
	if !ic.over.CompareAndSwap(false, true) {
		return false
	}
	ic.l.mu.Lock()
	if ic.timer != nil {
		ic.timer.Stop()
	}
	if ic.l.idlers != nil {
		delete(ic.l.idlers, ic)
	}
	ic.l.mu.Unlock()
	return true
}

// prefixConn is a connection whose first bytes were already read from it.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		if len(c.prefix) == 0 {
			c.prefix = nil // the buffer can go
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

var errPrefixLeft = errors.New("engineio: connection has bytes read ahead")

// SyscallConn returns the connection's raw connection once the bytes read
// ahead are used up (before, a read from it would skip them), so that the
// connection can be watched and parked again.
func (c *prefixConn) SyscallConn() (syscall.RawConn, error) {
	if len(c.prefix) > 0 {
		return nil, errPrefixLeft
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("engineio: connection has no raw connection")
	}
	return sc.SyscallConn()
}

// unwrapPending takes a hijacked connection out of its prefixConn, if it
// came back in one: it returns the bare connection and what is to be read
// before it, the bytes net/http had buffered (pending) and then whatever
// the wrapper still held. So a connection is wrapped once at most, however
// many pipelined requests it carries.
func unwrapPending(c net.Conn, pending []byte) (net.Conn, []byte) {
	if pc, ok := c.(*prefixConn); ok {
		return pc.Conn, append(pending, pc.prefix...)
	}
	return c, pending
}
