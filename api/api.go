package api

import (
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"notification-server/engineio"
	"notification-server/registry"
	"notification-server/socketio"
)

// MaxIDLength is the longest user id or connection id accepted, in bytes.
const MaxIDLength = 1024

// Options configure an API. Registry and Tokens are required; every other
// zero field gets its default.
type Options struct {
	// Registry holds users, sessions and connection ids. Required.
	Registry *registry.Registry
	// Tokens are the accepted API tokens (several during a rotation). At
	// least one non-empty token is required.
	Tokens []string
	// Sockets is the Socket.IO server clients connect to. If set, the API
	// handles its "register" event on namespace "/", mounts it on
	// /socket.io/ and reports its statistics in /metrics.
	Sockets *socketio.Server
	// MaxBodyBytes bounds every request body. Default 1 MiB.
	MaxBodyBytes int64
	// BodyTimeout bounds the time to read a push body, against clients
	// that trickle it. Default 30s. The API sets a read deadline for each
	// body unless the http.Server's ReadTimeout, which net/http applies to
	// every request from its first byte, is no longer.
	BodyTimeout time.Duration
	// MetricsPublic serves /metrics without a token.
	MetricsPublic bool
	// Pprof serves the net/http/pprof profiles under /debug/pprof/, behind
	// the API token. Off by default.
	Pprof bool
	// Version is reported by /api/status/info. Default "dev".
	Version string
	// Logger receives REST registrations, socket registrations (accepted
	// or refused) and unbinds at Debug. Default: discard.
	Logger *slog.Logger
}

// API serves the REST API, the metrics and the socket registrations. Create
// it with New; its methods are safe for concurrent use.
type API struct {
	reg      *registry.Registry
	sockets  *socketio.Server
	tokens   [][sha256.Size]byte
	maxBody  int64
	bodyWait time.Duration
	public   bool
	pprof    bool
	version  string
	log      *slog.Logger
	metrics  *metrics
	handler  http.Handler
	draining atomic.Bool
	// gate is held shared by a push from its last look at draining to the
	// end of its enqueue, and taken by Drain: once Drain returns, no push
	// is queuing any more, so every push answered 200 was queued before the
	// server starts closing sessions.
	gate sync.RWMutex
}

// New checks opts and returns an API.
func New(opts *Options) (*API, error) {
	if opts == nil || opts.Registry == nil {
		return nil, errors.New("api: Options.Registry is required")
	}
	a := &API{
		reg:      opts.Registry,
		sockets:  opts.Sockets,
		maxBody:  opts.MaxBodyBytes,
		bodyWait: opts.BodyTimeout,
		public:   opts.MetricsPublic,
		pprof:    opts.Pprof,
		version:  opts.Version,
		log:      opts.Logger,
		metrics:  newMetrics(),
	}
	for _, t := range opts.Tokens {
		if t = strings.TrimSpace(t); t != "" {
			a.tokens = append(a.tokens, sha256.Sum256([]byte(t)))
		}
	}
	if len(a.tokens) == 0 {
		return nil, errors.New("api: at least one API token is required")
	}
	if a.maxBody <= 0 {
		a.maxBody = 1 << 20
	}
	if a.bodyWait <= 0 {
		a.bodyWait = 30 * time.Second
	}
	if a.version == "" {
		a.version = "dev"
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.sockets != nil {
		a.sockets.Of("/").OnConnection(a.onSocket)
	}
	a.handler = a.routes()
	return a, nil
}

// ServeHTTP serves every route of the server.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.handler.ServeHTTP(w, r)
}

// Drain makes register and push answer 503 from now on; the server calls it
// when it starts shutting down, so backends retry on another instance. It
// returns when the pushes already queuing have queued their message, so
// sessions closed after it still deliver every push answered 200.
func (a *API) Drain() {
	a.gate.Lock()
	a.draining.Store(true)
	a.gate.Unlock()
}

// routes builds the one mux of the server. Keeping every pattern here lets
// one test catch conflicts.
func (a *API) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("PUT /api/{userId}/register", a.auth(http.HandlerFunc(a.register)))
	mux.Handle(pushPattern, a.auth(http.HandlerFunc(a.push)))
	mux.HandleFunc("GET /api/status/ping", a.ping)
	mux.HandleFunc("GET /api/status/info", a.info)
	if a.public {
		mux.HandleFunc("GET /metrics", a.serveMetrics)
	} else {
		mux.Handle("GET /metrics", a.auth(http.HandlerFunc(a.serveMetrics)))
	}
	if a.pprof {
		mux.Handle("GET /debug/pprof/", a.auth(http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/cmdline", a.auth(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("GET /debug/pprof/profile", a.auth(http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/symbol", a.auth(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("GET /debug/pprof/trace", a.auth(http.HandlerFunc(pprof.Trace)))
	}
	if a.sockets != nil {
		mux.Handle(socketPattern, a.sockets)
	}
	return a.serve(mux)
}

// socketPattern is where the Socket.IO server is mounted.
const socketPattern = "/socket.io/"

// pushPattern is the push route.
const pushPattern = "POST /api/{userId}/push"

// serve wraps the mux: Socket.IO requests go straight through (their
// transports need the bare ResponseWriter to hijack and flush); every other
// request is counted by route and status, and where the mux would answer its
// plain-text 404 or 405 the answer is a JSON error (keeping Allow on a 405).
func (a *API) serve(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.sockets != nil && strings.HasPrefix(r.URL.Path, socketPattern) {
			mux.ServeHTTP(w, r)
			return
		}
		rec := recorderPool.Get().(*recorder)
		*rec = recorder{ResponseWriter: w, req: r}
		mux.ServeHTTP(rec, r)
		route := r.Pattern // set by the mux on r itself
		if route == "" {
			route = "unmatched"
		}
		code := rec.code
		*rec = recorder{}
		recorderPool.Put(rec)
		if code == 0 {
			code = http.StatusOK
		}
		if route == pushPattern {
			a.metrics.pushAnswered(code)
		} else {
			a.metrics.request(route, code)
		}
	})
}

// recorderPool recycles recorders: no handler keeps its ResponseWriter
// after returning.
var recorderPool = sync.Pool{New: func() any { return new(recorder) }}

// recorder remembers the status a handler wrote. When the mux itself
// answers (no pattern matched: 404 or 405), it writes the JSON error instead
// of the mux's plain text.
type recorder struct {
	http.ResponseWriter
	req     *http.Request
	code    int
	swallow bool // the mux's plain-text body is dropped
}

func (r *recorder) WriteHeader(code int) {
	if r.code != 0 {
		return
	}
	r.code = code
	if r.req.Pattern == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		r.swallow = true
		msg := "not found"
		if code == http.StatusMethodNotAllowed {
			msg = "method not allowed"
		}
		h := r.Header()
		h.Del("Content-Length")
		writeError(r.ResponseWriter, code, msg)
		return
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if r.swallow {
		return len(p), nil
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// engine returns the Engine.IO server under the sockets, or nil.
func (a *API) engine() *engineio.Server {
	if a.sockets == nil {
		return nil
	}
	return a.sockets.Engine()
}
