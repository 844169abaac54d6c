package engineio

import (
	"errors"
	"net/http"
	"net/url"
	"time"
)

// ErrClosed is returned by Conn.Send on a session that has ended.
var ErrClosed = errors.New("engineio: session closed")

// ErrQueueFull is returned by Conn.Send when the session's outbound queue was
// full; the session has then been closed with reason "queue overflow".
var ErrQueueFull = errors.New("engineio: outbound queue full")

// Handshake is what the handshake request carried. It never changes after
// the session is created.
type Handshake struct {
	Query      url.Values  // the query parameters
	Header     http.Header // the request headers
	RemoteAddr string      // the peer address as net/http saw it
	Secure     bool        // true if the request came over TLS
	Time       time.Time   // when the handshake was received
	URL        string      // the request URI
}

// Conn is one Engine.IO session. Its methods are safe to call concurrently.
type Conn struct {
	s *session
}

// ID returns the session id (the Engine.IO sid).
func (c *Conn) ID() string { return c.s.id }

// Protocol returns the Engine.IO protocol version in use: 3 or 4.
func (c *Conn) Protocol() int { return c.s.protocol }

// Transport returns "polling" or "websocket". It changes from "polling" to
// "websocket" when the client upgrades.
func (c *Conn) Transport() string { return c.s.transportName() }

// Request returns the data of the handshake request. Callers must not modify
// it.
func (c *Conn) Request() *Handshake { return c.s.handshake }

// OnMessage sets the function called for each message packet the client
// sends; set it in Options.OnConnection. Calls for one Conn are sequential,
// never concurrent, and the handler owns data.
func (c *Conn) OnMessage(fn func(data []byte, binary bool)) { c.s.onMessage = fn }

// OnClose sets the function called exactly once when the session ends, for
// any reason ("transport close", "ping timeout", "queue overflow", "forced
// close", "server shutdown", ...); set it in Options.OnConnection.
func (c *Conn) OnClose(fn func(reason string)) { c.s.onClose = fn }

// Send enqueues one message packet and returns without waiting for I/O. It
// neither copies nor modifies data, so one slice may be sent to many Conns;
// the caller must not modify data afterwards. Send returns ErrClosed if the
// session has ended, and ErrQueueFull if the queue was full, in which case
// the session is closed with reason "queue overflow".
func (c *Conn) Send(data []byte, binary bool) error { return c.s.send(data, binary) }

// Queue enqueues one message packet like Send, but does not write it:
// Flush does, or a write already under way takes it along. Queue then Flush
// to many Conns in two passes lets packets that arrive while a pass is
// writing share one write per Conn. Over polling, a poll waiting in its
// handler is woken at once, as by Send; a parked poll is answered by Flush.
func (c *Conn) Queue(data []byte, binary bool) error { return c.s.queueOnly(data, binary) }

// Flush writes what Queue left queued, with no goroutine and no wait if the
// socket takes it at once (as Send does); it does nothing when nothing is
// queued or a write is under way.
func (c *Conn) Flush() { c.s.flush() }

// Close sends a close packet to the client and ends the session with reason
// "forced close": a WebSocket gets what is queued, the close packet and a
// close frame; over polling, the pending poll (or, within a second, the
// next one) gets them. Closing an ended session returns ErrClosed.
func (c *Conn) Close() error { return c.s.closeForced() }

// CloseWithReason is Close for a layer above that ends a session for a
// reason of its own (a malformed Socket.IO packet, a connect timeout): the
// OnClose handler and Stats.Closes see reason instead of "forced close".
// reason becomes a metrics label, so it must come from a small fixed set.
func (c *Conn) CloseWithReason(reason string) error { return c.s.close(reason, true) }
