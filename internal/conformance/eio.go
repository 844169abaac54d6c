package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"notification-server/engineio"
)

func init() { modes["eio"] = runEIO }

// eioOptions is the configuration the engine.io-protocol test suite expects
// of its reference server: pingInterval 300, pingTimeout 200, maxPayload
// 1e6, CORS for any origin, every message echoed back.
func eioOptions(logger *slog.Logger) *engineio.Options {
	return &engineio.Options{
		PingInterval: 300 * time.Millisecond,
		PingTimeout:  200 * time.Millisecond,
		MaxPayload:   1e6,
		Logger:       logger,
		OnConnection: func(c *engineio.Conn) {
			c.OnMessage(func(data []byte, binary bool) { c.Send(data, binary) })
		},
	}
}

// newEIOHandler serves the echo server at /engine.io/.
func newEIOHandler(logger *slog.Logger) (http.Handler, *engineio.Server) {
	srv := engineio.NewServer(eioOptions(logger))
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	return mux, srv
}

// runEIO serves the Engine.IO echo server on addr until SIGINT or SIGTERM.
func runEIO(addr string, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	handler, eio := newEIOHandler(logger)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("conformance: serving Engine.IO at /engine.io/", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(eio.Listen(ln, 0)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	eio.Shutdown(shutdownCtx)
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
