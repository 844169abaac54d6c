package socketio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"notification-server/engineio"
)

// Options configures a Server. The zero value of each field means its
// default, filled in once by NewServer.
type Options struct {
	// Engine configures the Engine.IO server underneath. Its OnConnection is
	// set by NewServer; its Logger defaults to Logger.
	Engine engineio.Options
	// ConnectTimeout is how long a protocol 5 client may take to send its
	// first CONNECT before its session is closed. Default 45s.
	ConnectTimeout time.Duration
	// AckTimeout is how long EmitWithAck waits for the client's ack before
	// calling back with ErrAckTimeout. Default 10s.
	AckTimeout time.Duration
	// MaxAttachments bounds the binary attachments of one packet; a client
	// announcing more is disconnected. Default 10, as the reference parser.
	MaxAttachments int
	// MaxAttachmentBytes bounds the total size of one packet's binary
	// attachments, which are held until the last one arrives; a client
	// sending more is disconnected. Default 1 MB.
	MaxAttachmentBytes int
	// MaxPendingAcks bounds the acks a socket may wait for at once;
	// EmitWithAck beyond it fails with ErrTooManyAcks. Default 256.
	MaxPendingAcks int
	// MaxJSONDepth bounds the nesting of a packet's JSON payload, checked by
	// a cheap scan before any parsing. Default 32.
	MaxJSONDepth int
	// Logger receives lifecycle events at Info, packets at Debug and
	// dropped sockets at Warn. Default: discard.
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.ConnectTimeout <= 0 {
		out.ConnectTimeout = 45 * time.Second
	}
	if out.AckTimeout <= 0 {
		out.AckTimeout = 10 * time.Second
	}
	if out.MaxAttachments <= 0 {
		out.MaxAttachments = 10
	}
	if out.MaxAttachmentBytes <= 0 {
		out.MaxAttachmentBytes = 1 << 20
	}
	if out.MaxPendingAcks <= 0 {
		out.MaxPendingAcks = 256
	}
	if out.MaxJSONDepth <= 0 {
		out.MaxJSONDepth = 32
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.Engine.Logger == nil {
		out.Engine.Logger = out.Logger
	}
	return out
}

// Server is a Socket.IO server on top of an Engine.IO server. It is an
// http.Handler; mount it where clients connect, usually "/socket.io/". Its
// methods are safe to call concurrently.
type Server struct {
	opts   Options
	limits decodeLimits
	logger *slog.Logger
	debug  bool // logger enabled at debug level: per-packet logs are built only then
	engine *engineio.Server

	mu         sync.RWMutex
	namespaces map[string]*Namespace
}

// NewServer returns a Server configured by opts (nil means all defaults).
// The namespace "/" always exists.
func NewServer(opts *Options) *Server {
	o := opts.withDefaults()
	s := &Server{
		opts:       o,
		limits:     decodeLimits{maxAttachments: o.MaxAttachments, maxDepth: o.MaxJSONDepth, maxAttachmentBytes: o.MaxAttachmentBytes},
		logger:     o.Logger,
		debug:      o.Logger.Enabled(context.Background(), slog.LevelDebug),
		namespaces: make(map[string]*Namespace),
	}
	s.Of("/")
	eo := o.Engine
	eo.OnConnection = s.onEngineConnection
	s.engine = engineio.NewServer(&eo)
	return s
}

// ServeHTTP serves the Engine.IO transports that carry Socket.IO.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.engine.ServeHTTP(w, r)
}

// Engine returns the Engine.IO server underneath, for its statistics.
func (s *Server) Engine() *engineio.Server { return s.engine }

// Shutdown closes every session (each socket's disconnect handler runs with
// the Engine.IO reason "server shutdown") and waits until they have ended or
// ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.engine.Shutdown(ctx); err != nil {
		return fmt.Errorf("socketio: shutdown: %w", err)
	}
	return nil
}

// Of returns the namespace named nsp, creating it if needed. Names get a
// leading "/" if they lack one. Clients may only connect to namespaces
// created with Of; any other gets "Invalid namespace".
func (s *Server) Of(nsp string) *Namespace {
	if !strings.HasPrefix(nsp, "/") {
		nsp = "/" + nsp
	}
	s.mu.RLock()
	n := s.namespaces[nsp]
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n = s.namespaces[nsp]; n == nil {
		n = &Namespace{name: nsp, server: s}
		s.namespaces[nsp] = n
	}
	return n
}

func (s *Server) namespace(nsp string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.namespaces[nsp]
}

// Namespace is a named channel clients connect to over one session.
type Namespace struct {
	name   string
	server *Server

	mu           sync.RWMutex
	onConnection []func(*Socket)
	middleware   []func(*Socket) error
}

// Name returns the namespace's name, such as "/" or "/admin".
func (n *Namespace) Name() string { return n.name }

// OnConnection adds fn to the functions called for each socket that
// connected to the namespace, after the client was told so. fn runs on the
// session's receive path: it sets the socket's handlers and must not block.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.mu.Lock()
	n.onConnection = append(n.onConnection, fn)
	n.mu.Unlock()
}

// Use adds a middleware run, in order, before a socket joins the namespace.
// An error refuses the connection: the client gets CONNECT_ERROR with
// {"message": err.Error()} (protocol 5) or ERROR with the message string
// (protocol 4).
func (n *Namespace) Use(fn func(*Socket) error) {
	n.mu.Lock()
	n.middleware = append(n.middleware, fn)
	n.mu.Unlock()
}

func (n *Namespace) handlers() ([]func(*Socket) error, []func(*Socket)) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.middleware, n.onConnection
}

// Errors passed to EmitWithAck callbacks or returned by emits.
var (
	ErrAckTimeout   = errors.New("socketio: ack timed out")
	ErrDisconnected = errors.New("socketio: socket disconnected")
	ErrTooManyAcks  = errors.New("socketio: too many pending acks")
)
