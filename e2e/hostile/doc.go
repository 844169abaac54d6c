// Package hostile is the hostile-input suite of the notification server.
//
// Its tests build the real server binary (go build of the module root),
// start it on a free loopback port and attack it the way a broken or
// malicious client would: malformed Engine.IO 3/4 and Socket.IO 4/5
// packets, oversized WebSocket messages and polling and REST bodies,
// attachment lies, deeply nested JSON, invalid UTF-8, slowloris headers,
// stalled bodies, idle and register floods, forged session ids, polling and
// upgrade races, and every capacity limit (sessions, pending connection ids,
// per-IP handshake rate). After each attack a test checks that the process
// is alive, answers /api/status/ping within 2 s, still delivers a push to a
// fresh client registered over REST, and stays under a stated resident
// memory bound.
//
// Further tests check, in process, that sessions ending every way (clean
// close, TCP reset, ping timeout, abandoned upgrade) leave no goroutines or
// heap behind; against the binary, that thousands of sessions that never
// read are closed as slow without hurting others; and that SIGTERM under
// load answers in-flight pushes, closes sessions and exits in time.
// FuzzSessionFrames sends arbitrary message sequences on a session of the
// in-process server and fails on any panic, even a recovered one.
//
// The tests speak the protocols themselves (a minimal Engine.IO 4 /
// Socket.IO 5 client over github.com/coder/websocket and raw HTTP), so they
// need neither node nor the e2e helpers. The package holds no code besides
// its tests; everything runs on 127.0.0.1.
package hostile
