package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"

	"notification-server/registry"
	"notification-server/socketio"
)

// Acks of the register event.
var (
	ackOK = json.RawMessage(`{"ok":true}`)
)

// socketSession adapts a Socket.IO socket to registry.Session and remembers
// which (user, connection id) it is bound to.
type socketSession struct {
	sock *socketio.Socket
	id   string // the socket id, for logs

	mu     sync.Mutex
	userID string // "" while unbound
	connID string
	gone   bool
}

// socketSession writes large fan-outs in two passes (registry.Queuer).
var _ registry.Queuer = (*socketSession)(nil)

// Emit queues a pre-encoded packet; it never blocks.
func (s *socketSession) Emit(packet []byte) error { return s.sock.SendPacket(packet) }

// Queue queues a pre-encoded packet without writing it; Flush writes it.
func (s *socketSession) Queue(packet []byte) error { return s.sock.QueuePacket(packet) }

// Flush writes what Queue left queued.
func (s *socketSession) Flush() { s.sock.Flush() }

// Close disconnects the socket: a replaced session's client gets a
// server-side disconnect, so it does not reconnect and fight the newer one.
func (s *socketSession) Close(string) { _ = s.sock.Disconnect() }

// onSocket sets the handlers of a newly connected socket.
func (a *API) onSocket(sock *socketio.Socket) {
	s := &socketSession{sock: sock, id: sock.ID()}
	sock.On("register", func(args []json.RawMessage, ack socketio.AckFunc) {
		err := a.bindSocket(s, args)
		if ack == nil {
			return
		}
		if err != nil {
			_ = ack(map[string]any{"ok": false, "error": err.Error()})
			return
		}
		_ = ack(ackOK)
	})
	sock.OnDisconnect(func(reason string) {
		s.mu.Lock()
		s.gone = true
		userID, connID := s.userID, s.connID
		s.mu.Unlock()
		if userID != "" && a.reg.Unbind(userID, connID, s) {
			a.log.Debug("session unbound", "user", userID, "connection", redact(connID), "reason", reason)
		}
	})
}

// Errors a register event can get back in its ack.
var (
	errRegisterArgs = errors.New("register needs two arguments: userId and connectionId")
	errDisconnected = errors.New("socket disconnected")
)

// bindSocket handles one register event: it binds the socket to the user if
// the backend registered exactly that connection id for exactly that user.
// A socket already bound elsewhere moves once the new binding succeeds.
func (a *API) bindSocket(s *socketSession, args []json.RawMessage) error {
	if len(args) < 2 {
		a.metrics.registration("invalid")
		return errRegisterArgs
	}
	userID, err := idArg(args[0])
	if err != nil {
		a.metrics.registration("invalid")
		return fmt.Errorf("userId %w", err)
	}
	connID, err := idArg(args[1])
	if err != nil {
		a.metrics.registration("invalid")
		return fmt.Errorf("connectionId %w", err)
	}
	s.mu.Lock()
	prevUser, prevConn, gone := s.userID, s.connID, s.gone
	s.mu.Unlock()
	if gone {
		return errDisconnected
	}
	if err := a.reg.Bind(userID, connID, s); err != nil {
		result := "not_registered"
		if errors.Is(err, registry.ErrTooManySessions) {
			result = "too_many_sessions"
		}
		a.metrics.registration(result)
		a.log.Debug("register refused", "user", userID, "connection", redact(connID), "err", err)
		return err
	}
	s.mu.Lock()
	if s.gone {
		// The socket went away while binding; its disconnect handler
		// saw the previous binding only.
		s.mu.Unlock()
		a.reg.Unbind(userID, connID, s)
		return errDisconnected
	}
	s.userID, s.connID = userID, connID
	s.mu.Unlock()
	if prevUser != "" && (prevUser != userID || prevConn != connID) {
		a.reg.Unbind(prevUser, prevConn, s)
	}
	a.metrics.registration("ok")
	a.log.Debug("session bound", "user", userID, "connection", redact(connID), "socket", s.id)
	return nil
}

// Reasons an id argument is refused (after "userId " or "connectionId ").
var (
	errIDType   = errors.New("must be a string or an integer")
	errIDEmpty  = errors.New("must not be empty")
	errIDLength = fmt.Errorf("must be at most %d bytes", MaxIDLength)
)

// maxSafeInteger is the largest integer a JavaScript number holds exactly.
const maxSafeInteger = 1<<53 - 1

// idArg turns a register argument into an id: a JSON string as is, an
// integer as its decimal form (so 42, 42.0 and 4.2e1 are "42", and an integer
// written as plain digits is taken verbatim whatever its size). Anything else
// is refused.
func idArg(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", errIDType
	}
	var id string
	switch c := raw[0]; {
	case c == '"':
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", errIDType
		}
	case c == '-' || (c >= '0' && c <= '9'):
		if isPlainInteger(raw) {
			id = string(raw)
			if id == "-0" {
				id = "0"
			}
			break
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > maxSafeInteger {
			return "", errIDType
		}
		id = strconv.FormatInt(int64(f), 10)
	default:
		return "", errIDType
	}
	switch {
	case id == "":
		return "", errIDEmpty
	case len(id) > MaxIDLength:
		return "", errIDLength
	}
	return id, nil
}

// isPlainInteger reports whether b is -?(0|[1-9][0-9]*).
func isPlainInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
