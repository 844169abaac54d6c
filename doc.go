// Command notification-server is a push notification server that any
// Socket.IO client (1.x to 4.x, WebSocket or HTTP long-polling) can talk to
// unchanged, with the REST API of the original Node.js notification-server.
//
// Run it with AUTH_TOKEN set; `notification-server -h` lists every setting
// (environment variables, with flags as overrides). README.md describes the
// API.
//
// This package only wires the parts: config (config.go), logging, the HTTP
// server with its timeouts, the per-IP handshake limit (ratelimit.go) and
// the graceful shutdown. The protocols live in engineio (Engine.IO 3 and 4)
// and socketio (Socket.IO 4 and 5), the REST API and the socket register
// handler in api, users and sessions in registry.
package main
