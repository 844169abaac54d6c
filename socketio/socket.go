package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"notification-server/engineio"
)

// Handshake is what a socket's client presented when it connected.
type Handshake struct {
	// Auth is the CONNECT payload of a protocol 5 client, compacted JSON,
	// "{}" when it sent none; nil for protocol 4 clients, which have none.
	Auth json.RawMessage
	// Query holds the query parameters of the Engine.IO handshake request;
	// for protocol 4, the namespace's own query ("/ns?x=y") overrides them.
	Query url.Values
	// Header holds the headers of the Engine.IO handshake request.
	Header http.Header
	// Address is the peer address as net/http saw it.
	Address string
	// Protocol is the Socket.IO protocol version: 5 (over Engine.IO 4) or
	// 4 (over Engine.IO 3).
	Protocol int
	// Time is when the socket connected.
	Time time.Time
}

// AckFunc answers an event the client sent with an ack id. Arguments are
// encoded as for Socket.Emit. Only the first call sends anything.
type AckFunc func(args ...any) error

// EventHandler handles one event. args are the event's arguments after the
// name, as raw JSON; binary arguments appear as placeholders (see
// Socket.Attachments). ack is nil when the client asked for no ack.
type EventHandler func(args []json.RawMessage, ack AckFunc)

// Socket is one client's connection to one namespace. Its methods are safe
// to call concurrently. Event handlers and the callbacks of acks that
// arrive run on the session's receive path, one at a time, and must not
// block for long, since the session reads nothing meanwhile. Ack timeouts
// call back from a timer, and disconnect handlers run on whichever
// goroutine ended the socket. A panic in any of them closes the session.
type Socket struct {
	id        string
	client    *client
	nsp       *Namespace
	handshake *Handshake

	mu           sync.Mutex
	handlers     []namedHandler // few per socket: a slice costs less than a map
	onDisconnect []func(reason string)
	acks         map[int64]*pendingAck
	nextAck      int64
	gone         bool // disconnect handlers have run
	leaving      bool // Disconnect was called

	attachments [][]byte // of the event or ack being handled; receive path only
}

type namedHandler struct {
	event string
	fn    EventHandler
}

type pendingAck struct {
	fn    func(args []json.RawMessage, err error)
	timer *time.Timer
}

func newSocket(c *client, ns *Namespace, auth json.RawMessage, nspQuery url.Values) *Socket {
	req := c.conn.Request()
	hs := &Handshake{
		Header:   req.Header,
		Address:  req.RemoteAddr,
		Protocol: c.protocol,
		Time:     time.Now(),
		Query:    req.Query,
	}
	s := &Socket{client: c, nsp: ns, handshake: hs}
	if c.protocol == 5 {
		hs.Auth = compactObject(auth)
		s.id = newSocketID()
	} else {
		if len(nspQuery) > 0 {
			q := url.Values{}
			for k, v := range req.Query {
				q[k] = v
			}
			for k, v := range nspQuery {
				q[k] = v
			}
			hs.Query = q
		}
		// Protocol 4 servers name a socket after its session: the sid on
		// "/", "/ns#sid" elsewhere.
		s.id = c.conn.ID()
		if ns.name != "/" {
			s.id = ns.name + "#" + s.id
		}
	}
	return s
}

// newSocketID returns 20 random URL-safe characters, like the reference
// server's socket ids.
func newSocketID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ID returns the socket id. With protocol 5 it is random and distinct from
// the Engine.IO session id; with protocol 4 it is the session id on "/" and
// "/ns#" followed by the session id on other namespaces, as the reference
// server did.
func (s *Socket) ID() string { return s.id }

// Namespace returns the name of the socket's namespace.
func (s *Socket) Namespace() string { return s.nsp.name }

// Handshake returns what the client presented when connecting. Callers must
// not modify it.
func (s *Socket) Handshake() *Handshake { return s.handshake }

// Conn returns the Engine.IO session carrying the socket.
func (s *Socket) Conn() *engineio.Conn { return s.client.conn }

// On sets the handler of event, replacing any previous one. Events without a
// handler are ignored.
func (s *Socket) On(event string, fn func(args []json.RawMessage, ack AckFunc)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.handlers {
		if s.handlers[i].event == event {
			s.handlers[i].fn = fn
			return
		}
	}
	s.handlers = append(s.handlers, namedHandler{event, fn})
}

// OnDisconnect adds fn to the functions called once when the socket leaves
// its namespace, with the reason: ReasonClientDisconnect,
// ReasonServerDisconnect, ReasonParseError, ReasonHandlerPanic, or the
// Engine.IO close reason ("transport close", "ping timeout", "queue
// overflow", "server shutdown", ...). If the socket is already gone, fn is
// not called.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, fn)
	s.mu.Unlock()
}

// Attachments returns the binary attachments of the event or ack whose
// handler is running; placeholders among the arguments index it (see
// Placeholder). It is nil outside handlers and for events without
// attachments, and must not be used after the handler returns.
func (s *Socket) Attachments() [][]byte { return s.attachments }

// Emit sends event with args to the client without waiting for I/O.
// Arguments: json.RawMessage is sent verbatim (it must be valid JSON),
// Binary becomes an attachment, strings, booleans and integers are encoded
// directly, anything else with encoding/json. If the session's queue is
// full, the session is closed and Emit returns an error wrapping
// engineio.ErrQueueFull.
func (s *Socket) Emit(event string, args ...any) error {
	return s.emit(event, 0, false, args)
}

func (s *Socket) emit(event string, id int64, hasID bool, args []any) error {
	pkt, atts, err := encodeMessage(s.nsp.name, event, true, id, hasID, args)
	if err != nil {
		return err
	}
	return s.client.send(pkt, atts)
}

// EmitWithAck sends event with args and asks the client to ack it. cb runs
// once: with the ack's arguments, or with ErrAckTimeout after
// Options.AckTimeout, or with ErrDisconnected if the socket goes first. At
// most Options.MaxPendingAcks acks may be pending; beyond that EmitWithAck
// returns ErrTooManyAcks without sending.
func (s *Socket) EmitWithAck(event string, cb func(args []json.RawMessage, err error), args ...any) error {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return ErrDisconnected
	}
	if len(s.acks) >= s.client.server.opts.MaxPendingAcks {
		s.mu.Unlock()
		return ErrTooManyAcks
	}
	id := s.nextAck
	s.nextAck++
	if s.acks == nil {
		s.acks = make(map[int64]*pendingAck)
	}
	pa := &pendingAck{fn: cb}
	s.acks[id] = pa
	pa.timer = time.AfterFunc(s.client.server.opts.AckTimeout, func() {
		if s.takeAck(id) != nil {
			s.safely("ack timeout callback", func() { cb(nil, ErrAckTimeout) })
		}
	})
	s.mu.Unlock()
	if err := s.emit(event, id, true, args); err != nil {
		if s.takeAck(id) != nil {
			pa.timer.Stop()
		}
		return err
	}
	return nil
}

// takeAck removes and returns the pending ack id, or nil.
func (s *Socket) takeAck(id int64) *pendingAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	pa := s.acks[id]
	if pa != nil {
		delete(s.acks, id)
	}
	return pa
}

// SendPacket sends a packet encoded once by EncodeEvent for this socket's
// namespace, without any per-socket encoding: the fan-out path. pkt is
// shared, never modified, and must not be modified by the caller.
func (s *Socket) SendPacket(pkt []byte) error {
	return s.client.send(pkt, nil)
}

// QueuePacket is SendPacket in two steps: it queues pkt, and over WebSocket
// leaves the writing to Flush, so that a fan-out can queue a packet for all
// its sockets first and write afterwards (see engineio.Conn.Queue).
func (s *Socket) QueuePacket(pkt []byte) error {
	s.client.sendMu.Lock()
	defer s.client.sendMu.Unlock()
	if err := s.client.conn.Queue(pkt, false); err != nil {
		return s.client.sendFailed(err)
	}
	return nil
}

// Flush writes what QueuePacket left queued (see engineio.Conn.Flush).
func (s *Socket) Flush() { s.client.conn.Flush() }

// Disconnect leaves the namespace: the client gets a DISCONNECT packet, the
// disconnect handlers run with ReasonServerDisconnect, and if no other
// namespace is left on the session, the session is closed too.
func (s *Socket) Disconnect() error {
	s.mu.Lock()
	gone := s.gone || s.leaving
	s.leaving = true
	s.mu.Unlock()
	if gone {
		return ErrDisconnected
	}
	err := s.client.send(AppendPacket(nil, PacketDisconnect, s.nsp.name, 0, 0, false, nil), nil)
	last := s.client.remove(s)
	s.closed(ReasonServerDisconnect)
	if last {
		_ = s.client.conn.Close()
	}
	return err
}

// closed marks the socket gone and runs its disconnect handlers once; it
// fails its pending acks.
func (s *Socket) closed(reason string) {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return
	}
	s.gone = true
	acks := s.acks
	s.acks = nil
	fns := s.onDisconnect
	s.onDisconnect = nil
	s.mu.Unlock()
	for _, pa := range acks {
		pa.timer.Stop()
		s.safely("ack callback", func() { pa.fn(nil, ErrDisconnected) })
	}
	for _, fn := range fns {
		s.safely("disconnect handler", func() { fn(reason) })
	}
}

// safely runs fn, a handler called outside the session's receive path (or
// while the session is already closing), logging a panic instead of letting
// it end the process. The session is closed, if it is not already.
func (s *Socket) safely(what string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			s.client.server.logger.Error("socketio: panic in "+what, "sid", shortID(s.client.conn.ID()), "panic", r)
			_ = s.client.conn.Close()
		}
	}()
	fn()
}

func (s *Socket) onEvent(p Packet, atts [][]byte) {
	args := splitArrayInto(make([]json.RawMessage, 0, 4), p.Data, 0)
	name, _ := nameValue(args[0]) // checked by the decoder
	s.mu.Lock()
	var fn EventHandler
	for _, h := range s.handlers {
		if h.event == name {
			fn = h.fn
			break
		}
	}
	s.mu.Unlock()
	if fn == nil {
		return
	}
	var ack AckFunc
	if p.HasID {
		id := p.ID
		var once sync.Once
		ack = func(args ...any) error {
			err := ErrAckSent
			once.Do(func() {
				var pkt []byte
				var a [][]byte
				pkt, a, err = encodeMessage(s.nsp.name, "", false, id, true, args)
				if err == nil {
					err = s.client.send(pkt, a)
				}
			})
			return err
		}
	}
	s.attachments = atts
	defer func() { s.attachments = nil }()
	fn(args[1:], ack)
}

func (s *Socket) onAck(p Packet, atts [][]byte) {
	if !p.HasID {
		return
	}
	pa := s.takeAck(p.ID)
	if pa == nil {
		return // late or unknown: ignored, as by the reference server
	}
	pa.timer.Stop()
	s.attachments = atts
	defer func() { s.attachments = nil }()
	pa.fn(splitArray(p.Data, 0), nil)
}

// ErrAckSent is returned by an AckFunc called more than once.
var ErrAckSent = errors.New("socketio: ack already sent")
