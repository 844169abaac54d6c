package engineio

import (
	"context"
	"net/http"
	"sync"
)

// Close reasons, as passed to the OnClose handler and counted in
// Stats.Closes.
const (
	ReasonTransportClose = "transport close"   // the client closed the session or its connection
	ReasonTransportError = "transport error"   // a read or write on the connection failed
	ReasonPingTimeout    = "ping timeout"      // the heartbeat was not answered in time
	ReasonQueueOverflow  = "queue overflow"    // the client did not read fast enough
	ReasonParseError     = "parse error"       // the client sent a malformed packet or payload
	ReasonPayloadTooBig  = "payload too large" // a POST body or WebSocket message exceeded MaxPayload
	ReasonForced         = "forced close"      // Conn.Close was called
	ReasonShutdown       = "server shutdown"   // Server.Shutdown was called
)

// Handshake rejection reasons, counted in Stats.Rejected.
const (
	RejectBadRequest   = "bad request"          // malformed handshake (transport, method, query)
	RejectProtocol     = "unsupported protocol" // EIO missing, unknown, or 3 with DisableEIO3
	RejectForbidden    = "forbidden"            // Options.AllowRequest refused it, or origin not allowed
	RejectSessionLimit = "session limit"        // Options.MaxSessions reached
	RejectShutdown     = "shutdown"             // the server is shutting down
)

// Stats is a snapshot of a Server's counters, for metrics.
type Stats struct {
	// Sessions counts live sessions by transport ("polling", "websocket")
	// and protocol (3, 4): Sessions[Transport][Protocol].
	Sessions map[string]map[int]int64
	// Handshakes counts sessions ever opened.
	Handshakes uint64
	// Upgrades counts completed upgrades from polling to WebSocket.
	Upgrades uint64
	// Rejected counts refused handshakes by reason (the Reject constants).
	Rejected map[string]uint64
	// Closes counts ended sessions by reason (the Reason constants).
	Closes map[string]uint64
}

// Server is an Engine.IO server. It is an http.Handler; mount it on the path
// clients use (for example "/socket.io/"); it ignores the path itself. Its
// methods are safe to call concurrently.
type Server struct {
	opts Options

	mu       sync.RWMutex
	sessions map[string]*session
	closing  bool
}

// NewServer returns a Server configured by opts, whose zero fields get their
// defaults. opts may be nil only in tests: NewServer panics if
// opts.OnConnection is nil, since a server that cannot hand out sessions is
// a programming error.
func NewServer(opts *Options) *Server {
	o := opts.withDefaults()
	if o.OnConnection == nil {
		panic("engineio: Options.OnConnection is required")
	}
	return &Server{opts: o, sessions: make(map[string]*session)}
}

// ServeHTTP serves handshakes, polling requests and WebSocket connections.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not implemented", http.StatusNotImplemented)
}

// Shutdown refuses new handshakes and closes every session with a close
// packet: a pending poll is answered with it, a WebSocket gets it followed
// by a close frame. It returns when every session has ended, or with the
// context's error when ctx is done first.
func (s *Server) Shutdown(ctx context.Context) error {
	return nil
}

// Len returns the number of live sessions.
func (s *Server) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	return Stats{}
}
