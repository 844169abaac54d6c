package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"notification-server/engineio"
)

// Disconnect reasons passed to Socket.OnDisconnect besides the Engine.IO
// close reasons ("transport close", "ping timeout", "queue overflow", ...).
const (
	ReasonClientDisconnect = "client namespace disconnect"
	ReasonServerDisconnect = "server namespace disconnect"
	ReasonParseError       = "parse error"
	ReasonHandlerPanic     = "handler panic"
	ReasonConnectTimeout   = "connect timeout" // no CONNECT within Options.ConnectTimeout
)

// client is the Socket.IO side of one Engine.IO session: the sockets it has
// opened on namespaces, and the reassembly state of its binary packets.
type client struct {
	server   *Server
	conn     *engineio.Conn
	protocol int // Socket.IO protocol: 5 over EIO 4, 4 over EIO 3

	// sendMu keeps the messages of one packet (text, then its attachments)
	// together on the wire. Sends never block, so it is held briefly.
	sendMu sync.Mutex

	mu           sync.Mutex
	sockets      []*Socket // usually one, so a slice beats a map
	closed       bool
	connectTimer *time.Timer

	reasm *reassembler // made on the first binary packet; receive path only
}

func (s *Server) onEngineConnection(c *engineio.Conn) {
	cl := &client{server: s, conn: c, protocol: 5}
	if c.Protocol() == 3 {
		cl.protocol = 4
	}
	c.OnMessage(cl.onMessage)
	c.OnClose(cl.onClose)
	if cl.protocol == 4 {
		// Protocol 4 clients are connected to "/" without asking.
		cl.guard(func() { cl.connect("/", nil, nil) })
		return
	}
	cl.armConnectTimeout()
}

// armConnectTimeout closes the session if it has no namespace when
// Options.ConnectTimeout has passed, unless a CONNECT arrives first.
func (c *client) armConnectTimeout() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && c.connectTimer == nil {
		c.connectTimer = time.AfterFunc(c.server.opts.ConnectTimeout, c.onConnectTimeout)
	}
}

func (c *client) onConnectTimeout() {
	c.mu.Lock()
	idle := len(c.sockets) == 0 && !c.closed
	c.mu.Unlock()
	if idle {
		c.server.logger.Info("socketio: no CONNECT in time, closing", "sid", shortID(c.conn.ID()))
		_ = c.conn.CloseWithReason(ReasonConnectTimeout)
	}
}

// guard runs fn, turning a panic (in our code or a handler) into the close
// of this session only.
func (c *client) guard(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			c.server.logger.Error("socketio: panic in session, closing it", "sid", shortID(c.conn.ID()), "panic", r)
			c.fail(ReasonHandlerPanic)
		}
	}()
	fn()
}

// fail closes the session after a protocol violation or a panic, telling
// the sockets why before the Engine.IO close reaches them.
func (c *client) fail(reason string) {
	c.closeSockets(reason)
	_ = c.conn.CloseWithReason(reason)
}

func (c *client) onMessage(data []byte, binary bool) {
	c.guard(func() {
		if err := c.receive(data, binary); err != nil {
			c.server.logger.Warn("socketio: malformed packet, closing session", "sid", shortID(c.conn.ID()), "err", err)
			c.fail(ReasonParseError)
		}
	})
}

func (c *client) receive(data []byte, binary bool) error {
	if binary {
		if c.reasm == nil {
			return fmt.Errorf("%w: binary message without a binary packet", ErrInvalidAttachments)
		}
		p, atts, done, err := c.reasm.add(data)
		if err != nil || !done {
			return err
		}
		return c.dispatch(p, atts)
	}
	if c.reasm != nil && c.reasm.active {
		return fmt.Errorf("%w: text message while attachments are expected", ErrInvalidAttachments)
	}
	p, err := decodePacket(data, c.server.limits)
	if err != nil {
		return err
	}
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		if c.reasm == nil {
			c.reasm = &reassembler{maxSize: c.server.limits.maxAttachmentBytes}
		}
		c.reasm.start(p)
		return nil
	}
	return c.dispatch(p, nil)
}

var errUnexpected = errors.New("socketio: unexpected packet")

func (c *client) dispatch(p Packet, atts [][]byte) error {
	if c.server.debug {
		c.server.logger.Debug("socketio: packet", "sid", shortID(c.conn.ID()), "type", p.Type, "nsp", p.Namespace)
	}
	if p.Type == PacketConnect {
		nsp, query := p.Namespace, url.Values(nil)
		if c.protocol == 4 {
			if i := strings.IndexByte(nsp, '?'); i >= 0 {
				query, _ = url.ParseQuery(nsp[i+1:])
				nsp = nsp[:i]
			}
		}
		if c.socket(nsp) != nil {
			if c.protocol == 4 {
				return nil // the implicit "/" connection, or a repeat: ignored as the reference does
			}
			return fmt.Errorf("%w: CONNECT to a connected namespace", errUnexpected)
		}
		c.connect(nsp, p.Data, query)
		return nil
	}
	sock := c.socket(p.Namespace)
	if sock == nil {
		if c.protocol == 4 {
			return nil // protocol 4 servers ignore packets for namespaces not joined
		}
		return fmt.Errorf("%w: type %d for a namespace not joined", errUnexpected, p.Type)
	}
	switch p.Type {
	case PacketDisconnect:
		last := c.remove(sock)
		sock.closed(ReasonClientDisconnect)
		if last {
			// A session left with no namespace would hold its slot
			// forever: it gets the connect timeout again.
			c.armConnectTimeout()
		}
	case PacketEvent, PacketBinaryEvent:
		sock.onEvent(p, atts)
	case PacketAck, PacketBinaryAck:
		sock.onAck(p, atts)
	default:
		return fmt.Errorf("%w: type %d from a client", errUnexpected, p.Type)
	}
	return nil
}

// connect joins the client to namespace name, running its middleware, and
// answers with CONNECT or CONNECT_ERROR.
func (c *client) connect(name string, auth json.RawMessage, query url.Values) {
	ns := c.server.namespace(name)
	if ns == nil {
		c.connectError(name, "Invalid namespace")
		return
	}
	sock := newSocket(c, ns, auth, query)
	middleware, handlers := ns.handlers()
	for _, mw := range middleware {
		if err := mw(sock); err != nil {
			c.connectError(name, err.Error())
			return
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.sockets = append(c.sockets, sock)
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
	c.mu.Unlock()

	var reply []byte
	if c.protocol == 5 {
		reply = AppendPacket(nil, PacketConnect, name, 0, 0, false, nil)
		reply = append(reply, `{"sid":`...)
		reply = appendString(reply, sock.id)
		reply = append(reply, '}')
	} else {
		reply = AppendPacket(nil, PacketConnect, name, 0, 0, false, nil)
	}
	if err := c.send(reply, nil); err != nil {
		return
	}
	if c.server.debug {
		c.server.logger.Debug("socketio: socket connected", "sid", shortID(c.conn.ID()), "nsp", name)
	}
	for _, fn := range handlers {
		fn(sock)
	}
}

func (c *client) connectError(nsp, message string) {
	pkt := AppendPacket(nil, PacketConnectError, nsp, 0, 0, false, nil)
	if c.protocol == 5 {
		pkt = append(pkt, `{"message":`...)
		pkt = appendString(pkt, message)
		pkt = append(pkt, '}')
	} else {
		pkt = appendString(pkt, message)
	}
	_ = c.send(pkt, nil)
}

// send writes one packet and its attachments as consecutive messages.
func (c *client) send(pkt []byte, atts [][]byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := c.conn.Send(pkt, false); err != nil {
		return c.sendFailed(err)
	}
	for _, a := range atts {
		if err := c.conn.Send(a, true); err != nil {
			return c.sendFailed(err)
		}
	}
	return nil
}

// sendFailed wraps a send error. A full queue is logged once, by engineio,
// which closes the session.
func (c *client) sendFailed(err error) error {
	return fmt.Errorf("socketio: send: %w", err)
}

func (c *client) socket(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

// remove takes sock out of the client and reports whether it was the last.
func (c *client) remove(sock *Socket) (last bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.sockets {
		if s == sock {
			c.sockets = append(c.sockets[:i], c.sockets[i+1:]...)
			break
		}
	}
	return len(c.sockets) == 0
}

// closeSockets detaches every socket and tells each why.
func (c *client) closeSockets(reason string) {
	c.mu.Lock()
	socks := c.sockets
	c.sockets = nil
	c.closed = true
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
	c.mu.Unlock()
	for _, s := range socks {
		s.closed(reason)
	}
}

func (c *client) onClose(reason string) {
	defer func() {
		if r := recover(); r != nil {
			c.server.logger.Error("socketio: panic in disconnect handler", "sid", shortID(c.conn.ID()), "panic", r)
		}
	}()
	c.closeSockets(reason)
}

// shortID returns a prefix of an id, enough to follow one session in logs
// without writing the whole id (which lets a client resume the session).
func shortID(id string) string {
	if len(id) > 6 {
		return id[:6]
	}
	return id
}

// compactObject returns the CONNECT auth payload compacted the way the
// reference server would re-serialize it, or "{}" when there is none.
func compactObject(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return json.RawMessage("{}")
	}
	return json.RawMessage(b.Bytes())
}
