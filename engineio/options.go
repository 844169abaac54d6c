package engineio

import (
	"log/slog"
	"net/http"
	"time"
)

// Options configures a Server. The zero value of each field means its
// default, filled in once by NewServer.
type Options struct {
	// PingInterval is the heartbeat period. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long a ping may stay unanswered (protocol 4), or
	// how late a client's ping may be after PingInterval (protocol 3).
	// Default 20s.
	PingTimeout time.Duration
	// UpgradeTimeout is how long a probe upgrade may take before the probing
	// WebSocket is closed. Default 10s.
	UpgradeTimeout time.Duration
	// MaxPayload is the largest polling POST body and WebSocket message, in
	// bytes. Default 1_000_000.
	MaxPayload int64
	// MaxQueue is the number of outbound packets queued per session before
	// the session is closed as slow. Default 1024.
	MaxQueue int
	// MaxSessions caps live sessions; beyond it a new handshake gets 503.
	// 0 means unlimited.
	MaxSessions int
	// AllowedOrigins lists the origins allowed by CORS on polling requests.
	// An empty list, or one containing "*", allows any origin (and then no
	// credentials are ever allowed).
	AllowedOrigins []string
	// AllowCredentials sends Access-Control-Allow-Credentials: true, but only
	// to an origin listed explicitly in AllowedOrigins.
	AllowCredentials bool
	// AllowRequest, if set, runs on each handshake (rate limits, auth); an
	// error refuses the handshake with 403 and the "Forbidden" JSON error,
	// or with the status and message of a *HandshakeError.
	AllowRequest func(r *http.Request) error
	// DisableEIO3 refuses protocol 3 clients. By default both protocol 3 and
	// protocol 4 are served.
	DisableEIO3 bool
	// PerMessageDeflate negotiates WebSocket compression. Off by default; if
	// on, the decompressed message size is still bounded by MaxPayload.
	PerMessageDeflate bool
	// LeanHandshake keeps neither the query, the headers nor the URL of
	// the handshake request: Conn.Request then has them nil and empty. A
	// server that never reads them saves about 1 KB per session.
	LeanHandshake bool
	// Logger receives lifecycle events at Info, packets at Debug and dropped
	// sessions at Warn. Default: discard.
	Logger *slog.Logger
	// OnConnection is called once per new session, before any message is
	// delivered. It must set the session's handlers (OnMessage, OnClose)
	// before returning. Required.
	OnConnection func(c *Conn)

	// parkAfter is how long a poll waits in its handler before it is
	// parked (defaultParkAfter); tests change it.
	parkAfter time.Duration
}

// withDefaults returns a copy of o with every zero field set to its default.
func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.PingInterval <= 0 {
		out.PingInterval = 25 * time.Second
	}
	if out.PingTimeout <= 0 {
		out.PingTimeout = 20 * time.Second
	}
	if out.UpgradeTimeout <= 0 {
		out.UpgradeTimeout = 10 * time.Second
	}
	if out.MaxPayload <= 0 {
		out.MaxPayload = 1_000_000
	}
	if out.MaxQueue <= 0 {
		out.MaxQueue = 1024
	}
	if out.MaxSessions < 0 {
		out.MaxSessions = 0
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.parkAfter <= 0 {
		out.parkAfter = defaultParkAfter
	}
	return out
}
