package engineio

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// maxSpareQueue is the largest drained queue a session keeps for reuse;
// bigger ones go back to the garbage collector so idle sessions stay small.
const maxSpareQueue = 8

// session is the state of one Engine.IO session, shared by its transports.
// The outbound queue belongs to the session; a polling GET or the WebSocket
// writer drains it.
type session struct {
	srv       *Server
	id        string
	protocol  int
	handshake *Handshake
	onMessage func(data []byte, binary bool)
	onClose   func(reason string)
	conn      Conn

	// Fixed at the handshake: how polling responses are encoded.
	b64        bool   // protocol 3: text payloads only (the client asked b64=1)
	jsonp      bool   // JSONP polling
	jsonpIndex string // the j parameter, digits only

	notify chan struct{} // 1 slot; wakes the waiting poll (nil for WebSocket sessions)

	mu           sync.Mutex
	queue        []packet
	spare        []packet
	closed       bool
	reason       string
	ws           *wsConn     // the WebSocket transport once upgraded (or from the start)
	probe        *wsConn     // a WebSocket probing an upgrade
	probed       bool        // the probe exchanged 2probe/3probe; polls get a noop
	polling      bool        // a GET is being served
	posting      bool        // a POST is being served
	writing      bool        // a WebSocket writer (a goroutine writing now, or the writer goroutine) owns the queue
	awaitingPong bool        // protocol 4: a ping is out
	refreshed    bool        // protocol 4: the ping timeout was extended once by other traffic
	lingering    bool        // closed, but still known to a last poll (see close)
	graceful     bool        // closed with a close packet: the writer ends the WebSocket with a close handshake
	parked       *parkedPoll // the GET being served waits parked (park.go)
	// parkAtOnce: the session's polls wait long (a parked poll waited
	// opts.parkAfter or more, and none since was answered sooner), so its
	// next poll parks without waiting in its handler first (see park.go).
	parkAtOnce bool

	// hasParked is parked != nil, for wake to look at without the lock.
	hasParked atomic.Bool

	// recvMu serialises calls of onMessage and onClose.
	recvMu sync.Mutex

	// Guarded by srv.sched.mu.
	hbDue   time.Time
	hbIndex int
}

func (s *session) transportName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws != nil {
		return "websocket"
	}
	return "polling"
}

// logID is the session id shortened for logs: enough to follow one session,
// not enough to hijack it.
func (s *session) logID() string {
	if len(s.id) > 6 {
		return s.id[:6]
	}
	return s.id
}

// send enqueues a message packet and has it delivered: see kickLocked.
func (s *session) send(data []byte, binary bool) error {
	if err := s.lockAndEnqueue(packet{typ: packetMessage, data: data, binary: binary}); err != nil {
		return err
	}
	s.kickLocked()
	return nil
}

// queueOnly enqueues a message packet like send, but leaves every write to
// flush: a WebSocket's (unless a writer already running takes it) and a
// parked poll's answer. A poll waiting in its handler is woken as by send,
// since waking it costs no system call.
func (s *session) queueOnly(data []byte, binary bool) error {
	if err := s.lockAndEnqueue(packet{typ: packetMessage, data: data, binary: binary}); err != nil {
		return err
	}
	upgraded := s.ws != nil
	s.mu.Unlock()
	if !upgraded {
		s.notifyPoll()
	}
	return nil
}

// flush has the packets queueOnly left written, as send would have: a
// WebSocket's, unless a writer already owns them, or a parked poll's
// answer.
func (s *session) flush() {
	s.mu.Lock()
	if s.ws == nil {
		s.mu.Unlock()
		if s.hasParked.Load() {
			s.answerParked(nil, false)
		}
		return
	}
	if s.writing || len(s.queue) == 0 {
		s.mu.Unlock()
		return
	}
	s.kickLocked()
}

// lockAndEnqueue locks s.mu and appends p, or closes the session as slow if
// its queue holds MaxQueue packets; it returns with s.mu still held on
// success, released on error.
func (s *session) lockAndEnqueue(p packet) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if len(s.queue) >= s.srv.opts.MaxQueue {
		s.mu.Unlock()
		s.srv.opts.Logger.Warn("engineio: closing slow session", "sid", s.logID(), "queued", s.srv.opts.MaxQueue)
		s.close(ReasonQueueOverflow, false)
		return ErrQueueFull
	}
	s.queue = append(s.queue, p)
	return nil
}

// sendPong enqueues the pong answering a protocol 3 client's ping. Pongs
// count against MaxQueue as messages do: each one is owed to a packet the
// client sent, so a client that pings without ever reading would otherwise
// grow the queue without bound. Its data is copied, so that it does not keep
// the whole POST body it came in alive.
func (s *session) sendPong(data []byte) {
	if s.lockAndEnqueue(packet{typ: packetPong, data: bytes.Clone(data)}) == nil {
		s.kickLocked()
	}
}

// kickLocked makes the current drainer take the queue, then unlocks s.mu:
// on a WebSocket with no writer the caller becomes the writer and writes the
// queue itself (see writeNow); a polling session's waiting poll is woken.
func (s *session) kickLocked() {
	if s.ws != nil && !s.writing {
		s.writing = true
		ws := s.ws
		batch := s.takeQueueLocked()
		s.mu.Unlock()
		s.writeNow(ws, batch)
		return
	}
	upgraded := s.ws != nil
	s.mu.Unlock()
	// Once upgraded, the WebSocket writer is the queue's only drainer: a
	// poll still waiting must not take packets meant for it.
	if !upgraded {
		s.wake()
	}
}

// wake has a polling session's waiting poll take the queue: one waiting in
// its handler is woken, a parked one answered (a write, see answerParked).
func (s *session) wake() {
	s.notifyPoll()
	if s.hasParked.Load() {
		s.answerParked(nil, false)
	}
}

// notifyPoll wakes the poll waiting in its handler, if any.
func (s *session) notifyPoll() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// takeQueueLocked removes and returns everything queued.
func (s *session) takeQueueLocked() []packet {
	q := s.queue
	s.queue = s.spare[:0]
	s.spare = nil
	return q
}

// recycle offers a drained queue back for reuse.
func (s *session) recycle(q []packet) {
	if cap(q) > maxSpareQueue {
		return
	}
	s.mu.Lock()
	s.recycleLocked(q)
	s.mu.Unlock()
}

// recycleLocked is recycle with s.mu held, for a writer about to look at the
// queue anyway.
func (s *session) recycleLocked(q []packet) {
	if q == nil || cap(q) > maxSpareQueue {
		return
	}
	clear(q)
	if s.spare == nil {
		s.spare = q[:0]
	}
}

func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *session) closeForced() error {
	return s.close(ReasonForced, true)
}

// close ends the session once. With closePacket, a close packet is queued
// for the client: the waiting poll or the WebSocket writer delivers it;
// without, a waiting poll gets a noop and a WebSocket is dropped. The
// OnClose handler runs on its own goroutine, after any running OnMessage
// call, so close may be called from anywhere, including Send and handlers.
func (s *session) close(reason string, closePacket bool) error {
	return s.closeWith(reason, closePacket, true)
}

// closeWith is close, where dropWS false leaves the WebSocket to the caller
// (its reader, which ends it with a close handshake).
func (s *session) closeWith(reason string, closePacket, dropWS bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.graceful = closePacket
	s.reason = reason
	ws, probe := s.ws, s.probe
	s.probe = nil
	startWriter := false
	if closePacket {
		s.queue = append(s.queue, packet{typ: packetClose})
		if ws != nil && !s.writing {
			s.writing = true
			startWriter = true
		}
	} else {
		clear(s.queue)
		s.queue = s.queue[:0]
	}
	// A polling session closed between two polls stays known for
	// closeLinger, so that the next poll ends it cleanly instead of with
	// "unknown session" (which clients treat as an error and reconnect):
	// after Conn.Close or Shutdown that poll gets the close packet, and a
	// client that closed with a POST while its last poll was on the way
	// (the official test suite does exactly that) gets a noop.
	lingerReason := reason == ReasonTransportClose || reason == ReasonForced || reason == ReasonShutdown
	linger := lingerReason && ws == nil && !s.polling
	s.lingering = linger
	s.mu.Unlock()
	s.wake()

	if linger {
		time.AfterFunc(closeLinger, s.endLinger)
	} else {
		s.srv.remove(s, reason)
	}
	if probe != nil {
		probe.drop()
	}
	switch {
	case startWriter:
		s.srv.track(1)
		go s.writeLoop(ws, nil)
	case ws != nil && !closePacket && dropWS:
		ws.drop()
	}
	s.srv.opts.Logger.Debug("engineio: session closed", "sid", s.logID(), "reason", reason)
	s.srv.track(1)
	go s.finish(reason)
	return nil
}

// closeLinger is how long a session closed by its polling client stays
// known to a last poll.
const closeLinger = time.Second

// endLinger forgets a lingering closed session, once.
func (s *session) endLinger() {
	s.mu.Lock()
	was := s.lingering
	s.lingering = false
	reason := s.reason
	s.mu.Unlock()
	if was {
		s.srv.remove(s, reason)
	}
}

// finish runs the OnClose handler.
func (s *session) finish(reason string) {
	defer s.srv.track(-1)
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	if s.onClose == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			s.srv.opts.Logger.Error("engineio: OnClose panicked", "sid", s.logID(), "panic", v, "stack", string(debug.Stack()))
		}
	}()
	s.onClose(reason)
}

// deliver hands a message to the OnMessage handler. A panicking handler
// closes this session only.
func (s *session) deliver(data []byte, binary bool) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	if s.onMessage == nil || s.isClosed() {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			s.srv.opts.Logger.Error("engineio: OnMessage panicked", "sid", s.logID(), "panic", v, "stack", string(debug.Stack()))
			s.close(ReasonInternalError, true)
		}
	}()
	s.onMessage(data, binary)
}

// errStop ends the processing of a payload after a close packet.
var errStop = fmt.Errorf("engineio: session closed by the client")

// handlePacket acts on one packet from the client. It returns an error
// wrapping errParse for a packet the client must not send (the caller closes
// the session), or errStop after a close packet.
func (s *session) handlePacket(p packet) error {
	if s.protocol == 3 {
		// Any packet shows the client is alive; it pings on its own schedule.
		s.mu.Lock()
		if !s.closed {
			s.srv.sched.schedule(s, time.Now().Add(s.srv.opts.PingInterval+s.srv.opts.PingTimeout))
		}
		s.mu.Unlock()
	} else if p.typ != packetPong {
		// Like the reference server: other traffic while a pong is awaited
		// restarts the ping timeout, once per ping, since a busy client's
		// pong may wait behind its other packets.
		s.mu.Lock()
		if s.awaitingPong && !s.refreshed && !s.closed {
			s.refreshed = true
			s.srv.sched.schedule(s, time.Now().Add(s.srv.opts.PingTimeout))
		}
		s.mu.Unlock()
	}
	switch p.typ {
	case packetMessage:
		s.deliver(p.data, p.binary)
	case packetPing:
		if s.protocol != 3 {
			return fmt.Errorf("%w: ping from a protocol 4 client", errParse)
		}
		s.sendPong(p.data)
	case packetPong:
		if s.protocol != 4 {
			return fmt.Errorf("%w: pong from a protocol 3 client", errParse)
		}
		s.mu.Lock()
		if s.awaitingPong && !s.closed {
			s.awaitingPong = false
			s.srv.sched.schedule(s, time.Now().Add(s.srv.opts.PingInterval))
		}
		s.mu.Unlock()
	case packetClose:
		s.closeWith(ReasonTransportClose, false, false)
		return errStop
	case packetNoop:
	default:
		return fmt.Errorf("%w: unexpected packet type %d", errParse, p.typ)
	}
	return nil
}

// heartbeat is the scheduler's callback: due is when this step was
// planned. Protocol 4 sends a ping and then waits PingTimeout for the pong;
// protocol 3 arrives here only when the client stopped pinging.
func (s *session) heartbeat(due time.Time) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if _, again := s.srv.sched.due(s); again {
		// Rescheduled (always under s.mu) between the scheduler taking
		// this step and calling it: a pong or, in protocol 3, any packet
		// came in time, and this step is stale.
		s.mu.Unlock()
		return
	}
	if s.protocol == 4 && !s.awaitingPong {
		s.awaitingPong = true
		s.refreshed = false
		// Count from the planned time, not from when the scheduler got
		// here, so a late scheduler never makes the timeout longer.
		s.srv.sched.schedule(s, due.Add(s.srv.opts.PingTimeout))
		s.queue = append(s.queue, packet{typ: packetPing})
		s.kickLocked()
		return
	}
	s.mu.Unlock()
	s.close(ReasonPingTimeout, false)
}

// heartbeatExpired reports whether the heartbeat deadline passed even if the
// scheduler has not acted yet, so requests arriving right at the deadline
// see the session as timed out.
func (s *session) heartbeatExpired(now time.Time) bool {
	due, ok := s.srv.sched.due(s)
	if !ok || now.Before(due) {
		return false
	}
	if s.protocol == 3 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.awaitingPong
}
