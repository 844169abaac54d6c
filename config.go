package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// config is every setting of the server, read from the environment with
// command-line flags as overrides.
type config struct {
	Host             string
	Port             int
	AuthTokens       []string // empty: a random token is generated
	ConnectionTTL    time.Duration
	AllowedOrigins   []string // nil or ["*"]: any origin
	AllowCredentials bool
	MaxPayload       int64
	MaxBodyBytes     int64
	BodyTimeout      time.Duration
	MaxQueue         int
	PingInterval     time.Duration
	PingTimeout      time.Duration
	ConnectTimeout   time.Duration
	Compression      bool

	MaxSessions        int
	MaxSessionsPerUser int
	MaxPendingPerUser  int
	MaxPending         int
	HandshakeRate      float64 // per client IP per second; 0 disables the limit
	HandshakeBurst     int

	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	ShutdownTimeout   time.Duration

	LogLevel      slog.Level
	LogFormat     string // "text" or "json"
	MetricsPublic bool
	Pprof         bool

	Healthcheck bool // -healthcheck: probe a running server and exit
	Version     bool // -version: print the version and exit
}

// setting is one configurable value: its environment variable, its flag, its
// default and how to store it in a config.
type setting struct {
	env, flag, def, usage string
	secret                bool
	set                   func(c *config, v string) error
}

// settings lists every setting, in the order -h prints them.
var settings = []setting{
	{env: "PORT", flag: "port", def: "3000", usage: "TCP port to listen on (0 picks a free one)",
		set: func(c *config, v string) error { return parsePort(&c.Port, v) }},
	{env: "HOST", flag: "host", def: "", usage: "address to listen on; empty means every interface",
		set: func(c *config, v string) error { c.Host = v; return nil }},
	{env: "AUTH_TOKEN", flag: "auth-token", def: "", secret: true,
		usage: "API token(s) for X-AUTH-TOKEN / Authorization: Bearer, comma-separated for rotation; unset: a random one is generated and logged once",
		set: func(c *config, v string) error {
			c.AuthTokens = splitList(v)
			if v != "" && len(c.AuthTokens) == 0 {
				return errors.New("holds no token, only commas and spaces")
			}
			return nil
		}},
	{env: "CONNECTION_TTL", flag: "connection-ttl", def: "1h", usage: "how long a registered connection id stays valid after its last use",
		set: func(c *config, v string) error { return parseDuration(&c.ConnectionTTL, v, time.Second) }},
	{env: "ALLOWED_ORIGINS", flag: "allowed-origins", def: "*", usage: "comma-separated origins allowed to open sessions (polling and WebSocket; others get 403) and named in CORS answers; * allows any",
		set: func(c *config, v string) error { c.AllowedOrigins = splitList(v); return nil }},
	{env: "ALLOW_CREDENTIALS", flag: "allow-credentials", def: "false", usage: "allow credentialed CORS requests from the origins listed explicitly",
		set: func(c *config, v string) error { return parseBool(&c.AllowCredentials, v) }},
	{env: "MAX_PAYLOAD", flag: "max-payload", def: "1000000", usage: "largest Engine.IO polling body or WebSocket message from a client, bytes",
		set: func(c *config, v string) error { return parseInt64(&c.MaxPayload, v, 1) }},
	{env: "MAX_BODY_BYTES", flag: "max-body-bytes", def: "1048576", usage: "largest REST request body, bytes (413 beyond)",
		set: func(c *config, v string) error { return parseInt64(&c.MaxBodyBytes, v, 1) }},
	{env: "BODY_TIMEOUT", flag: "body-timeout", def: "30s", usage: "time allowed to send a whole REST request, counted from its first byte",
		set: func(c *config, v string) error { return parseDuration(&c.BodyTimeout, v, time.Millisecond) }},
	{env: "MAX_QUEUE", flag: "max-queue", def: "1024", usage: "messages queued per session before it is closed as too slow",
		set: func(c *config, v string) error { return parseInt(&c.MaxQueue, v, 1) }},
	{env: "PING_INTERVAL", flag: "ping-interval", def: "25s", usage: "Engine.IO heartbeat interval",
		set: func(c *config, v string) error { return parseDuration(&c.PingInterval, v, time.Millisecond) }},
	{env: "PING_TIMEOUT", flag: "ping-timeout", def: "20s", usage: "how long a heartbeat may go unanswered (with PING_INTERVAL, under 1h)",
		set: func(c *config, v string) error { return parseDuration(&c.PingTimeout, v, time.Millisecond) }},
	{env: "CONNECT_TIMEOUT", flag: "connect-timeout", def: "45s", usage: "how long a new session may take to connect to a namespace",
		set: func(c *config, v string) error { return parseDuration(&c.ConnectTimeout, v, time.Millisecond) }},
	{env: "WS_COMPRESSION", flag: "ws-compression", def: "false", usage: "negotiate WebSocket permessage-deflate",
		set: func(c *config, v string) error { return parseBool(&c.Compression, v) }},
	{env: "MAX_SESSIONS", flag: "max-sessions", def: "200000", usage: "live sessions in total; new handshakes beyond get 503 (0: unlimited)",
		set: func(c *config, v string) error { return parseInt(&c.MaxSessions, v, 0) }},
	{env: "MAX_SESSIONS_PER_USER", flag: "max-sessions-per-user", def: "64", usage: "live sessions of one user; a register beyond is refused",
		set: func(c *config, v string) error { return parseInt(&c.MaxSessionsPerUser, v, 1) }},
	{env: "MAX_PENDING_PER_USER", flag: "max-pending-per-user", def: "64", usage: "connection ids of one user; the least recently used unbound one is evicted beyond",
		set: func(c *config, v string) error { return parseInt(&c.MaxPendingPerUser, v, 1) }},
	{env: "MAX_PENDING", flag: "max-pending", def: "1000000", usage: "connection ids in total; register answers 429 beyond",
		set: func(c *config, v string) error { return parseInt(&c.MaxPending, v, 1) }},
	{env: "HANDSHAKE_RATE", flag: "handshake-rate", def: "0", usage: "new sessions per second allowed per client IP (0: no limit)",
		set: func(c *config, v string) error { return parseRate(&c.HandshakeRate, v) }},
	{env: "HANDSHAKE_BURST", flag: "handshake-burst", def: "20", usage: "handshakes a client IP may make at once before HANDSHAKE_RATE applies",
		set: func(c *config, v string) error { return parseInt(&c.HandshakeBurst, v, 1) }},
	{env: "READ_HEADER_TIMEOUT", flag: "read-header-timeout", def: "10s", usage: "time allowed to read a request's headers",
		set: func(c *config, v string) error { return parseDuration(&c.ReadHeaderTimeout, v, time.Millisecond) }},
	{env: "IDLE_TIMEOUT", flag: "idle-timeout", def: "120s", usage: "how long an idle keep-alive connection is kept",
		set: func(c *config, v string) error { return parseDuration(&c.IdleTimeout, v, time.Millisecond) }},
	{env: "MAX_HEADER_BYTES", flag: "max-header-bytes", def: "16384", usage: "largest request header block, bytes",
		set: func(c *config, v string) error { return parseInt(&c.MaxHeaderBytes, v, 1024) }},
	{env: "SHUTDOWN_TIMEOUT", flag: "shutdown-timeout", def: "8s", usage: "how long a graceful shutdown may take before connections are cut",
		set: func(c *config, v string) error { return parseDuration(&c.ShutdownTimeout, v, time.Millisecond) }},
	{env: "LOG_LEVEL", flag: "log-level", def: "info", usage: "debug, info, warn or error",
		set: func(c *config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
	{env: "LOG_FORMAT", flag: "log-format", def: "text", usage: "text or json",
		set: func(c *config, v string) error {
			if v != "text" && v != "json" {
				return errors.New("must be text or json")
			}
			c.LogFormat = v
			return nil
		}},
	{env: "METRICS_PUBLIC", flag: "metrics-public", def: "false", usage: "serve /metrics without the API token",
		set: func(c *config, v string) error { return parseBool(&c.MetricsPublic, v) }},
	{env: "PPROF", flag: "pprof", def: "false", usage: "serve Go profiles under /debug/pprof/ (behind the API token)",
		set: func(c *config, v string) error { return parseBool(&c.Pprof, v) }},
}

// loadConfig reads every setting: its default, then its environment
// variable if set, then its flag if given. A bad value is reported in one
// line naming the setting. -h writes the usage to out and returns
// flag.ErrHelp.
func loadConfig(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	fs := flag.NewFlagSet("notification-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	given := make(map[string]string)
	for _, s := range settings {
		name := s.flag
		record := func(v string) error { given[name] = v; return nil }
		if s.def == "true" || s.def == "false" {
			fs.BoolFunc(name, s.usage, record) // -metrics-public alone means true
		} else {
			fs.Func(name, s.usage, record)
		}
	}
	var c config
	fs.BoolVar(&c.Healthcheck, "healthcheck", false, "")
	fs.BoolVar(&c.Version, "version", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(out)
			return nil, err
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (settings are flags like -port 3000 or environment variables)", fs.Arg(0))
	}
	for _, s := range settings {
		v, from := s.def, "default"
		if e := getenv(s.env); e != "" {
			v, from = e, s.env
		}
		if f, ok := given[s.flag]; ok {
			v, from = f, "-"+s.flag
		}
		if err := s.set(&c, strings.TrimSpace(v)); err != nil {
			if s.secret {
				return nil, fmt.Errorf("invalid %s (from %s): %v", s.env, from, err)
			}
			return nil, fmt.Errorf("invalid %s %q (from %s): %v", s.env, v, from, err)
		}
	}
	// Each is checked first: the sum of two large durations wraps negative.
	if c.PingTimeout > time.Hour || c.PingInterval > time.Hour || c.PingTimeout+c.PingInterval > time.Hour {
		return nil, errors.New("invalid PING_INTERVAL/PING_TIMEOUT: together they must stay under 1h")
	}
	return &c, nil
}

// usage prints every setting with its environment variable, flag and default.
func usage(out io.Writer) {
	fmt.Fprintf(out, "Usage: notification-server [flags]\n\n")
	fmt.Fprintf(out, "Every setting is read from its environment variable; a flag overrides it.\n\n")
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(out, "  -%s, %s (default %s)\n      %s\n", s.flag, s.env, def, s.usage)
	}
	fmt.Fprintf(out, "  -healthcheck\n      GET /api/status/ping on 127.0.0.1:PORT and exit 0 if it answers pong, 1 otherwise\n")
	fmt.Fprintf(out, "  -version\n      print the version and exit\n")
}

// logValue is the config as logged at startup: everything but the tokens.
func (c *config) logValue() slog.Value {
	origins := strings.Join(c.AllowedOrigins, ",")
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.Int("port", c.Port),
		slog.Int("auth_tokens", len(c.AuthTokens)),
		slog.String("connection_ttl", c.ConnectionTTL.String()),
		slog.String("allowed_origins", origins),
		slog.Bool("allow_credentials", c.AllowCredentials),
		slog.Int64("max_payload", c.MaxPayload),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.String("body_timeout", c.BodyTimeout.String()),
		slog.Int("max_queue", c.MaxQueue),
		slog.String("ping_interval", c.PingInterval.String()),
		slog.String("ping_timeout", c.PingTimeout.String()),
		slog.String("connect_timeout", c.ConnectTimeout.String()),
		slog.Bool("ws_compression", c.Compression),
		slog.Int("max_sessions", c.MaxSessions),
		slog.Int("max_sessions_per_user", c.MaxSessionsPerUser),
		slog.Int("max_pending_per_user", c.MaxPendingPerUser),
		slog.Int("max_pending", c.MaxPending),
		slog.Float64("handshake_rate", c.HandshakeRate),
		slog.Int("handshake_burst", c.HandshakeBurst),
		slog.String("read_header_timeout", c.ReadHeaderTimeout.String()),
		slog.String("idle_timeout", c.IdleTimeout.String()),
		slog.Int("max_header_bytes", c.MaxHeaderBytes),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.Bool("metrics_public", c.MetricsPublic),
		slog.Bool("pprof", c.Pprof),
	)
}

func splitList(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parsePort(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return errors.New("must be a port number from 0 to 65535")
	}
	*dst = n
	return nil
}

func parseInt(dst *int, v string, min int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		return fmt.Errorf("must be an integer of at least %d", min)
	}
	*dst = n
	return nil
}

func parseInt64(dst *int64, v string, min int64) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min {
		return fmt.Errorf("must be an integer of at least %d", min)
	}
	*dst = n
	return nil
}

func parseBool(dst *bool, v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("must be true or false")
	}
	*dst = b
	return nil
}

func parseRate(dst *float64, v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f != f || f > 1e6 {
		return errors.New("must be a number from 0 to 1000000")
	}
	*dst = f
	return nil
}

// parseDuration accepts Go durations ("90s", "1h30m") and, like the
// original's seconds-based settings, a bare number of seconds.
func parseDuration(dst *time.Duration, v string, min time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, err2 := strconv.ParseInt(v, 10, 64)
		if err2 != nil || n > int64((1<<63-1)/time.Second) {
			return errors.New(`must be a duration like "30s" or "1h", or a number of seconds`)
		}
		d = time.Duration(n) * time.Second
	}
	if d < min {
		return fmt.Errorf("must be at least %v", min)
	}
	*dst = d
	return nil
}
