package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Close reasons, as passed to the OnClose handler and counted in
// Stats.Closes.
const (
	ReasonTransportClose = "transport close"   // the client closed the session or its connection
	ReasonTransportError = "transport error"   // a read or write failed, or the client broke the polling rules
	ReasonPingTimeout    = "ping timeout"      // the heartbeat was not answered in time
	ReasonQueueOverflow  = "queue overflow"    // the client did not read fast enough
	ReasonParseError     = "parse error"       // the client sent a malformed packet or payload
	ReasonPayloadTooBig  = "payload too large" // a POST body or WebSocket message exceeded MaxPayload
	ReasonForced         = "forced close"      // Conn.Close was called
	ReasonShutdown       = "server shutdown"   // Server.Shutdown was called
	ReasonInternalError  = "internal error"    // a handler panicked
)

// Handshake rejection reasons, counted in Stats.Rejected.
const (
	RejectBadRequest   = "bad request"          // malformed handshake (transport, method, query)
	RejectProtocol     = "unsupported protocol" // EIO missing, unknown, or 3 with DisableEIO3
	RejectForbidden    = "forbidden"            // Options.AllowRequest refused it, or its origin is not allowed
	RejectSessionLimit = "session limit"        // Options.MaxSessions reached
	RejectRateLimited  = "rate limited"         // Options.AllowRequest refused it with a HandshakeError of status 429
	RejectShutdown     = "shutdown"             // the server is shutting down
)

// Stats is a snapshot of a Server's counters, for metrics.
type Stats struct {
	// Sessions counts live sessions by transport ("polling", "websocket")
	// and protocol (3, 4): Sessions["websocket"][4].
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
	opts  Options
	sched *scheduler

	mu       sync.RWMutex
	sessions map[string]*session
	closing  bool

	handshakes atomic.Uint64
	upgrades   atomic.Uint64
	goroutines atomic.Int64 // started by the server and not yet finished

	park atomic.Pointer[parkListener] // set by Listen

	statsMu  sync.Mutex
	rejected map[string]uint64
	closes   map[string]uint64
}

// NewServer returns a Server configured by opts, whose zero fields get their
// defaults. It panics if opts or opts.OnConnection is nil: a server that
// cannot hand out its sessions is a programming error.
func NewServer(opts *Options) *Server {
	if opts == nil || opts.OnConnection == nil {
		panic("engineio: Options.OnConnection is required")
	}
	srv := &Server{
		opts:     opts.withDefaults(),
		sessions: make(map[string]*session),
		rejected: make(map[string]uint64),
		closes:   make(map[string]uint64),
	}
	srv.sched = newScheduler(func(s *session, due time.Time) { s.heartbeat(due) })
	return srv
}

// ServeHTTP serves handshakes, polling requests and WebSocket connections.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		srv.preflight(w, r)
		return
	}
	q := r.URL.Query()
	transport := q.Get("transport")
	if transport != "polling" && transport != "websocket" {
		srv.reject(w, r, http.StatusBadRequest, errUnknownTransport, RejectBadRequest)
		return
	}
	if sid := q.Get("sid"); sid != "" {
		srv.serveSession(w, r, q, sid, transport)
		return
	}
	srv.handshake(w, r, q, transport)
}

// serveSession serves a request of an existing session.
func (srv *Server) serveSession(w http.ResponseWriter, r *http.Request, q map[string][]string, sid, transport string) {
	srv.mu.RLock()
	s := srv.sessions[sid]
	srv.mu.RUnlock()
	if s == nil {
		srv.writeError(w, r, http.StatusBadRequest, errUnknownSID)
		return
	}
	eio := first(q["EIO"])
	if eio == "" {
		eio = "3" // as the reference server assumes
	}
	if eio != strconv.Itoa(s.protocol) {
		srv.writeError(w, r, http.StatusBadRequest, errBadRequest)
		return
	}
	if transport == "websocket" {
		srv.upgrade(w, r, s)
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.poll(w, r)
	case http.MethodPost:
		s.post(w, r)
	default:
		srv.writeError(w, r, http.StatusBadRequest, errBadRequest)
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// handshake opens a new session.
func (srv *Server) handshake(w http.ResponseWriter, r *http.Request, q map[string][]string, transport string) {
	if r.Method != http.MethodGet {
		srv.reject(w, r, http.StatusBadRequest, errBadHandshake, RejectBadRequest)
		return
	}
	protocol := 0
	switch first(q["EIO"]) {
	case "4":
		protocol = 4
	case "3":
		if !srv.opts.DisableEIO3 {
			protocol = 3
		}
	}
	if protocol == 0 {
		srv.reject(w, r, http.StatusBadRequest, errUnsupported, RejectProtocol)
		return
	}
	isWS := transport == "websocket"
	if isWS && !isWebSocketRequest(r) {
		srv.reject(w, r, http.StatusBadRequest, errBadRequest, RejectBadRequest)
		return
	}
	if !srv.originAllowed(r) {
		srv.reject(w, r, http.StatusForbidden, errForbidden, RejectForbidden)
		return
	}
	if srv.opts.AllowRequest != nil {
		if err := srv.opts.AllowRequest(r); err != nil {
			srv.opts.Logger.Debug("engineio: handshake refused", "err", err)
			status, body := refusal(err)
			reason := RejectForbidden
			if status == http.StatusTooManyRequests {
				reason = RejectRateLimited
			}
			srv.reject(w, r, status, body, reason)
			return
		}
	}

	s := &session{
		srv:      srv,
		id:       newSessionID(),
		protocol: protocol,
		hbIndex:  -1,
		handshake: &Handshake{
			Query:      q,
			Header:     r.Header, // net/http allocates it per request and never reuses it
			RemoteAddr: r.RemoteAddr,
			Secure:     r.TLS != nil,
			Time:       time.Now(),
			URL:        r.RequestURI,
		},
	}
	if srv.opts.LeanHandshake {
		s.handshake.Query, s.handshake.Header, s.handshake.URL = nil, nil, ""
	}
	s.conn.s = s
	s.queue = append(s.queue, packet{typ: packetOpen, data: srv.openPacket(s.id, protocol, isWS)})
	if !isWS {
		s.notify = make(chan struct{}, 1) // only polls wait on it
	}
	if protocol == 3 {
		s.b64 = first(q["b64"]) != "" && first(q["b64"]) != "0"
		if j, ok := q["j"]; ok && !isWS {
			s.jsonp = true
			s.jsonpIndex = digitsOnly(first(j))
		}
	}

	// Count the session before it exists, so MaxSessions holds under
	// concurrent handshakes.
	srv.mu.Lock()
	switch {
	case srv.closing:
		srv.mu.Unlock()
		srv.reject(w, r, http.StatusServiceUnavailable, errShuttingDown, RejectShutdown)
		return
	case srv.opts.MaxSessions > 0 && len(srv.sessions) >= srv.opts.MaxSessions:
		srv.mu.Unlock()
		srv.reject(w, r, http.StatusServiceUnavailable, errServerFull, RejectSessionLimit)
		return
	}
	// Hold recvMu until OnConnection has returned, so that neither a
	// message nor OnClose (should the session close at once, by Shutdown
	// say) reaches handlers that are not set yet.
	s.recvMu.Lock()
	srv.sessions[s.id] = s
	srv.mu.Unlock()

	var ws *wsConn
	if isWS {
		var err error
		if ws, err = srv.accept(w, r); err != nil {
			srv.mu.Lock()
			delete(srv.sessions, s.id)
			srv.mu.Unlock()
			s.recvMu.Unlock()
			srv.opts.Logger.Debug("engineio: websocket handshake failed", "err", err)
			return
		}
	}
	srv.handshakes.Add(1)
	srv.opts.Logger.Debug("engineio: session opened", "sid", s.logID(), "transport", transport, "protocol", protocol)

	ok := srv.connect(s)
	s.recvMu.Unlock()
	if !ok {
		if ws != nil {
			ws.drop()
		} else {
			srv.writeError(w, r, http.StatusInternalServerError, errBadRequest)
		}
		return
	}
	due := time.Now().Add(srv.opts.PingInterval)
	if protocol == 3 {
		due = due.Add(srv.opts.PingTimeout)
	}
	s.mu.Lock()
	if !s.closed { // OnConnection may have closed it, or a Send from another goroutine
		srv.sched.schedule(s, due)
	}
	s.mu.Unlock()
	if ws != nil {
		s.mu.Lock()
		if s.closed && !s.graceful {
			// Closed already, with nothing to tell the client.
			s.mu.Unlock()
			ws.drop()
			return
		}
		s.ws = ws
		s.writing = true
		s.mu.Unlock()
		srv.track(2)
		go s.writeLoop(ws, nil)
		go s.readLoop(ws, false)
		return
	}
	s.poll(w, r)
}

// connect runs OnConnection for a new session; a panic there closes the
// session.
func (srv *Server) connect(s *session) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			srv.opts.Logger.Error("engineio: OnConnection panicked", "sid", s.logID(), "panic", v)
			s.close(ReasonInternalError, false)
			ok = false
		}
	}()
	srv.opts.OnConnection(&s.conn)
	return true
}

// openPacket returns the data of the open packet.
func (srv *Server) openPacket(sid string, protocol int, isWS bool) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"sid":"`...)
	b = append(b, sid...)
	b = append(b, `","upgrades":[`...)
	if !isWS {
		b = append(b, `"websocket"`...)
	}
	b = append(b, `],"pingInterval":`...)
	b = strconv.AppendInt(b, srv.opts.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, srv.opts.PingTimeout.Milliseconds(), 10)
	if protocol == 4 {
		b = append(b, `,"maxPayload":`...)
		b = strconv.AppendInt(b, srv.opts.MaxPayload, 10)
	}
	return append(b, '}')
}

// upgrade serves a WebSocket request for a polling session: the probe of an
// upgrade. A session already on WebSocket, or already probing, refuses it.
func (srv *Server) upgrade(w http.ResponseWriter, r *http.Request, s *session) {
	if !isWebSocketRequest(r) {
		srv.writeError(w, r, http.StatusBadRequest, errBadRequest)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		srv.writeError(w, r, http.StatusBadRequest, errBadRequest)
		return
	}
	if s.ws != nil || s.probe != nil {
		// Already upgraded or upgrading: like the reference server (and as
		// the protocol test suite expects), complete this WebSocket
		// handshake and close it at once; the session is untouched.
		s.mu.Unlock()
		if ws, err := srv.accept(w, r); err == nil {
			srv.track(1)
			go func() {
				defer srv.track(-1)
				ws.c.Close(websocket.StatusPolicyViolation, "session already upgraded")
				ws.drop()
			}()
		}
		return
	}
	placeholder := &wsConn{}
	s.probe = placeholder // reserve the slot while accepting
	s.mu.Unlock()

	ws, err := srv.accept(w, r)
	s.mu.Lock()
	if err != nil || s.probe != placeholder {
		if s.probe == placeholder {
			s.probe = nil
		}
		s.mu.Unlock()
		if ws != nil {
			ws.drop()
		}
		return
	}
	s.probe = ws
	s.mu.Unlock()
	srv.track(1)
	go s.probeLoop(ws)
}

// remove forgets a closed session and counts why it closed.
func (srv *Server) remove(s *session, reason string) {
	srv.mu.Lock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
	}
	srv.mu.Unlock()
	srv.sched.remove(s)
	srv.statsMu.Lock()
	srv.closes[reason]++
	srv.statsMu.Unlock()
}

// reject refuses a handshake and counts it.
func (srv *Server) reject(w http.ResponseWriter, r *http.Request, status int, e protocolError, reason string) {
	srv.statsMu.Lock()
	srv.rejected[reason]++
	srv.statsMu.Unlock()
	srv.writeError(w, r, status, e)
}

// track counts goroutines and sessions in flight, for Shutdown.
func (srv *Server) track(delta int64) {
	srv.goroutines.Add(delta)
}

// Shutdown refuses new handshakes and closes every session with a close
// packet: a pending poll is answered with it (a polling session between two
// polls keeps it for its next poll, up to one second), a WebSocket gets it
// followed by a close frame. It returns when every session has ended and its
// goroutines have finished, or with the context's error when ctx is done
// first.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.closing = true
	all := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		all = append(all, s)
	}
	srv.mu.Unlock()
	for _, s := range all {
		s.close(ReasonShutdown, true)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	// Sessions closed between two polls linger until their next poll
	// (see session.closeWith); goroutines end after the close handshakes.
	for srv.goroutines.Load() > 0 || srv.Len() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// Len returns the number of sessions the server knows: the live ones, and
// for up to a second those closed between two polls (see Shutdown).
func (srv *Server) Len() int {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return len(srv.sessions)
}

// Stats returns a snapshot of the server's counters.
func (srv *Server) Stats() Stats {
	st := Stats{
		Sessions: map[string]map[int]int64{
			"polling":   {3: 0, 4: 0},
			"websocket": {3: 0, 4: 0},
		},
		Handshakes: srv.handshakes.Load(),
		Upgrades:   srv.upgrades.Load(),
		Rejected:   make(map[string]uint64),
		Closes:     make(map[string]uint64),
	}
	srv.mu.RLock()
	all := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		all = append(all, s)
	}
	srv.mu.RUnlock()
	for _, s := range all {
		s.mu.Lock()
		closed, upgraded := s.closed, s.ws != nil
		s.mu.Unlock()
		switch {
		case closed: // lingering until its last poll
		case upgraded:
			st.Sessions["websocket"][s.protocol]++
		default:
			st.Sessions["polling"][s.protocol]++
		}
	}
	srv.statsMu.Lock()
	for k, v := range srv.rejected {
		st.Rejected[k] = v
	}
	for k, v := range srv.closes {
		st.Closes[k] = v
	}
	srv.statsMu.Unlock()
	return st
}

// newSessionID returns 15 random bytes in URL-safe base64 (20 characters),
// like the reference server's ids.
func newSessionID() string {
	var b [15]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func digitsOnly(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 10; i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// isWebSocketRequest reports whether r asks for a WebSocket upgrade.
func isWebSocketRequest(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// anyOrigin reports whether every origin is allowed.
func (srv *Server) anyOrigin() bool {
	return len(srv.opts.AllowedOrigins) == 0 || slices.Contains(srv.opts.AllowedOrigins, "*")
}

// originAllowed reports whether a handshake's Origin (if any) may connect.
// With an explicit list, a browser page from another origin is refused, for
// WebSocket too (which CORS does not protect).
func (srv *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin == "" || srv.anyOrigin() || slices.Contains(srv.opts.AllowedOrigins, origin)
}

// cors sets the CORS headers of a polling response.
func (srv *Server) cors(h http.Header, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	if srv.anyOrigin() {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	if !slices.Contains(srv.opts.AllowedOrigins, origin) {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	if srv.opts.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// preflight answers a CORS preflight request.
func (srv *Server) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	srv.cors(h, r)
	if h.Get("Access-Control-Allow-Origin") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if reqHeaders := r.Header.Get("Access-Control-Request-Headers"); reqHeaders != "" && len(reqHeaders) < 1024 {
			h.Set("Access-Control-Allow-Headers", reqHeaders)
		}
		h.Set("Access-Control-Max-Age", "86400")
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}
