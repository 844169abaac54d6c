package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"notification-server/api"
	"notification-server/engineio"
	"notification-server/registry"
	"notification-server/socketio"
)

// version is set at build time with -ldflags "-X main.version=..."; when
// empty, the module version or VCS revision from the build info is used.
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUnhealthy):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "notification-server:", err)
		os.Exit(1)
	}
}

// run starts the server and serves until ctx is done, then shuts down
// gracefully. Logs go to stderr; -h, -version and -healthcheck write to
// stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	switch {
	case cfg.Version:
		fmt.Fprintln(stdout, buildVersion())
		return nil
	case cfg.Healthcheck:
		return healthcheck(ctx, cfg.Port, stdout)
	}
	log := newLogger(cfg, stderr)

	if len(cfg.AuthTokens) == 0 {
		token := randomToken()
		cfg.AuthTokens = []string{token}
		// The only place a token is ever logged: the operator needs it.
		log.Warn("AUTH_TOKEN is not set: generated a random API token for this run; set AUTH_TOKEN to choose one", "token", token)
	}

	reg, err := registry.New(&registry.Options{
		TTL:                cfg.ConnectionTTL,
		MaxPendingPerUser:  cfg.MaxPendingPerUser,
		MaxPending:         cfg.MaxPending,
		MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		// A session's queue holds up to twice the backlog from large
		// fan-outs: keep that within MAX_QUEUE (MAX_QUEUE=1 cannot: there
		// a session of a large user is closed when two pushes overlap).
		FlushBacklog: max(1, min(8, cfg.MaxQueue/2)),
		Logger:       log,
	})
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	defer reg.Close()

	eng := engineio.Options{
		PingInterval:      cfg.PingInterval,
		PingTimeout:       cfg.PingTimeout,
		MaxPayload:        cfg.MaxPayload,
		MaxQueue:          cfg.MaxQueue,
		MaxSessions:       cfg.MaxSessions,
		AllowedOrigins:    cfg.AllowedOrigins,
		AllowCredentials:  cfg.AllowCredentials,
		PerMessageDeflate: cfg.Compression,
		// Nothing here reads the handshake's query or headers.
		LeanHandshake: true,
		Logger:        log.With("component", "engineio"),
	}
	if cfg.HandshakeRate > 0 {
		eng.AllowRequest = newIPLimiter(cfg.HandshakeRate, cfg.HandshakeBurst).allowRequest
	}
	sockets := socketio.NewServer(&socketio.Options{
		Engine:         eng,
		ConnectTimeout: cfg.ConnectTimeout,
		// The product's events carry no binary data, so a client may not
		// park attachments on the server (the library allows 1 MB each).
		MaxAttachments:     1,
		MaxAttachmentBytes: 64 << 10,
		Logger:             log.With("component", "socketio"),
	})
	handler, err := api.New(&api.Options{
		Registry:      reg,
		Tokens:        cfg.AuthTokens,
		Sockets:       sockets,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		BodyTimeout:   cfg.BodyTimeout,
		MetricsPublic: cfg.MetricsPublic,
		Pprof:         cfg.Pprof,
		Version:       buildVersion(),
		Logger:        log.With("component", "api"),
	})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// ReadTimeout ends request bodies BODY_TIMEOUT after the request's
	// first byte: net/http sets that read deadline on every request anyway,
	// so the API need not set one of its own per push.
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.BodyTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("notification-server started", "addr", ln.Addr().String(), "version", buildVersion(), "config", cfg.logValue())

	served := make(chan error, 1)
	// Polling sessions' idle connections wait parked in the Engine.IO
	// server, and come back to srv through its listener.
	go func() { served <- srv.Serve(sockets.Engine().Listen(ln, cfg.IdleTimeout)) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	return shutdown(srv, sockets, handler, served, cfg.ShutdownTimeout, log)
}

// shutdown stops the server within timeout: the listener closes, new
// register and push calls get 503, every Socket.IO session is closed with a
// close packet (so clients reconnect, possibly elsewhere) and in-flight REST
// calls finish. What is still open at the deadline is cut.
func shutdown(srv *http.Server, sockets *socketio.Server, handler *api.API, served <-chan error, timeout time.Duration, log *slog.Logger) error {
	start := time.Now()
	log.Info("shutting down", "timeout", timeout)
	// Drain returns once no push is queuing: every push answered 200 is
	// queued before the sessions get their close.
	handler.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	var wg sync.WaitGroup
	var sockErr error
	wg.Go(func() { sockErr = sockets.Shutdown(ctx) })
	httpErr := srv.Shutdown(ctx)
	wg.Wait()
	if httpErr != nil {
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if err := errors.Join(sockErr, httpErr); err != nil {
		log.Warn("shutdown deadline passed; remaining connections cut", "err", err, "took", time.Since(start))
		return nil
	}
	log.Info("shut down", "took", time.Since(start))
	return nil
}

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// buildVersion is the version reported by /api/status/info and -version.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev-" + rev
}

var errUnhealthy = errors.New("unhealthy")

// healthcheck asks a server on this machine for /api/status/ping, for
// container health checks in images without curl.
func healthcheck(ctx context.Context, port int, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/api/status/ping"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(out, "unhealthy:", err)
		return errUnhealthy
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK || string(body) != "pong" {
		fmt.Fprintf(out, "unhealthy: %s %q\n", resp.Status, body)
		return errUnhealthy
	}
	fmt.Fprintln(out, "ok")
	return nil
}
