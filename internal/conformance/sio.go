package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"notification-server/engineio"
	"notification-server/socketio"
)

func init() { modes["sio"] = runSIO }

// runSIO serves the reference configuration of the socket.io-protocol test
// suite on addr.
func runSIO(addr string, logger *slog.Logger) error {
	srv := newSIOServer(logger)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("conformance: serving Socket.IO", "addr", ln.Addr().String())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := hs.Serve(srv.Engine().Listen(ln, 0)); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// newSIOServer returns a Socket.IO server configured and behaving like the
// reference server of the socket.io-protocol test suite.
func newSIOServer(logger *slog.Logger) *socketio.Server {
	srv := socketio.NewServer(&socketio.Options{
		Engine: engineio.Options{
			PingInterval:   300 * time.Millisecond,
			PingTimeout:    200 * time.Millisecond,
			MaxPayload:     1_000_000,
			AllowedOrigins: []string{"*"},
		},
		ConnectTimeout: 1000 * time.Millisecond,
		Logger:         logger,
	})
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		emitAuthSoon(s)
		s.On("message", func(args []json.RawMessage, _ socketio.AckFunc) {
			_ = s.Emit("message-back", echoArgs(s, args)...)
		})
		s.On("message-with-ack", func(args []json.RawMessage, ack socketio.AckFunc) {
			if ack != nil {
				_ = ack(echoArgs(s, args)...)
			}
		})
	})
	srv.Of("/custom").OnConnection(func(s *socketio.Socket) {
		emitAuthSoon(s)
	})
	return srv
}

// authDelay spaces the "auth" event from the CONNECT reply before it. The
// suite's client attaches its listener for the next message only after
// handling the previous one, so two frames that reach it in one TCP read lose
// the second. The reference server never writes back to back (each write
// waits for the previous one to drain); our WebSocket writer batches, so the
// two frames would often arrive together.
const authDelay = 20 * time.Millisecond

func emitAuthSoon(s *socketio.Socket) {
	auth := s.Handshake().Auth
	time.AfterFunc(authDelay, func() { _ = s.Emit("auth", auth) })
}

// echoArgs turns received arguments back into emit arguments, binary
// placeholders into the attachments they stand for.
func echoArgs(s *socketio.Socket, args []json.RawMessage) []any {
	atts := s.Attachments()
	out := make([]any, len(args))
	for i, a := range args {
		if k, ok := socketio.Placeholder(a); ok && k < len(atts) {
			out[i] = socketio.Binary(atts[k])
		} else {
			out[i] = a
		}
	}
	return out
}
