// Package engineio is an Engine.IO server: the transport layer every
// Socket.IO client speaks, on net/http and github.com/coder/websocket.
//
// # Protocols
//
// Engine.IO protocol 4 (EIO=4, engine.io-client 4 to 6, socket.io-client 3
// and 4) and protocol 3 (EIO=3, engine.io-client 1 to 3, socket.io-client 1
// and 2) are implemented over two transports, HTTP long-polling and
// WebSocket, with the upgrade from polling to WebSocket (2probe, 3probe,
// noop to the pending poll, 5).
//
//   - Protocol 4: the server pings ("2") every PingInterval and closes a
//     session that does not answer ("3") within PingTimeout. Polling payloads
//     are packets joined by the record separator 0x1e; binary packets travel
//     as "b" followed by standard base64.
//   - Protocol 3: the client pings, the server answers with a pong and closes
//     a session that has not pinged for PingInterval+PingTimeout. Polling
//     payloads are "<length>:<packet>" records, length in UTF-16 code units.
//     Binary packets travel in the XHR2 binary payload form unless the client
//     asked for base64 (b64=1), then as "b4" followed by base64. JSONP polling
//     (the j query parameter) is served for browsers without cross-origin XHR.
//
// # Usage
//
// NewServer fills the defaults of an Options; mount the Server on a path
// (it is path-agnostic). Options.OnConnection is called once per session and
// sets the session's handlers:
//
//	srv := engineio.NewServer(&engineio.Options{
//		OnConnection: func(c *engineio.Conn) {
//			c.OnMessage(func(data []byte, binary bool) { c.Send(data, binary) })
//			c.OnClose(func(reason string) {})
//		},
//	})
//	mux.Handle("/engine.io/", srv)
//
// # Concurrency and cost
//
// Every session owns one bounded outbound queue. Conn.Send appends to it
// under a short lock and never blocks on I/O; a session whose queue is full
// is closed as slow. Transports only drain the queue: a long-poll GET takes
// everything queued into one response, the WebSocket writer drains it back
// to back, and an upgrade swaps the drainer without losing a packet.
//
// On a WebSocket with nothing queued, the goroutine calling Send writes the
// frame itself with one non-blocking system call: no goroutine is woken per
// message. A writer goroutine starts only when that cannot be done: the
// socket does not take everything at once, a packet is 4 KB or larger, a
// batch exceeds 32 KB, a control frame is being written, or the session
// compresses. It writes what is left, then drains the queue (each batch in
// as few system calls as its size allows) and exits when it is empty. The server
// builds its data frames itself; coder/websocket handles the handshake,
// reading, and control frames. Conn.Queue and Conn.Flush are Send in two
// steps, for a fan-out to thousands of sessions: queue a message in all of
// them, then flush each; messages queued meanwhile go out in the same write.
//
// Heartbeats for all sessions run on one shared scheduler (a heap of due
// times served by one goroutine and one timer, running only while sessions
// exist). On Linux an idle WebSocket session holds no goroutine at all: its
// reading waits in one shared epoll instance, served by one goroutine, and
// runs on a new goroutine only when the client has sent something.
// Elsewhere each session keeps one reader goroutine. Either way a session
// holds 256 + 128 bytes of bufio buffers.
//
// An idle long-polling session is parked the same way when the http.Server
// serves through Server.Listen (Linux): a poll still waiting after 100 ms
// is hijacked, its socket watched in the epoll instance (a client that
// goes away closes its session), and its answer written on the connection
// directly. Once a parked poll has waited 100 ms more, the session's next
// polls are hijacked at once, until one is answered within 100 ms. A
// POST's connection, and a poll's after its answer, wait there for the
// client's next request and go back to the http.Server through the
// listener. A waiting handler would hold two goroutines, net/http's 8 KB
// of connection buffers and the request, and an idle keep-alive connection
// a goroutine and those buffers. Requests over TLS, HTTP/1.0 and
// "Connection: close" requests are not parked.
//
// # Limits and errors
//
// MaxPayload bounds polling POST bodies (413) and WebSocket messages (close
// code 1009), decompressed size included; a payload carries at most 10,000
// packets; POST bodies must arrive within 30 s; every write has a 10 s
// deadline. A malformed packet, a second concurrent poll, or a panicking
// handler closes that one session. Errors are answered with the reference
// server's JSON body {"code":N,"message":"..."}: 0 "Transport unknown",
// 1 "Session ID unknown", 2 "Bad handshake method", 3 "Bad request",
// 4 "Forbidden" (403; a HandshakeError from AllowRequest sets its own status
// and message),
// 5 "Unsupported protocol version"; MaxSessions and
// Shutdown refuse handshakes with 503 and code 3. A WebSocket for a session
// that has upgraded (or is upgrading) is accepted and closed at once, as the
// reference server does and the official test suite expects.
//
// # Non-ASCII text and socket.io-client 1.x over polling
//
// Both generations of protocol 3 clients send EIO=3 and the same query and
// headers (b64=1 only when they lack XHR2), so no request tells them apart.
// Their parsers differ, as the engine.io-parser history shows:
//
//   - engine.io-parser 1.x (1.3.2 in socket.io-client 1.7 through
//     engine.io-client 1.8) encodes and decodes the text payload form with
//     its optional UTF-8 step switched on: each packet string is UTF-8
//     encoded into one character per byte before framing, so lengths count
//     UTF-8 bytes and text travels UTF-8 encoded twice. A client with XHR2
//     always uses the binary payload form instead, whose text records are
//     the packet's UTF-8 bytes with byte lengths.
//   - engine.io-parser 2.x (2.2.1 in engine.io 3 and engine.io-client 3,
//     i.e. socket.io-client 2.x) frames the text payload form without that
//     step: lengths count UTF-16 code units, text is UTF-8 encoded once. It
//     uses the binary payload form only when a packet is binary, with the
//     same record format as 1.x.
//
// So this server answers a protocol 3 client without b64=1 (XHR2) with a
// text payload only when the payload is plain ASCII, where both
// generations agree, and with a binary payload otherwise, which both decode
// the same: non-ASCII text is correct for 1.x and 2.x alike. A client that
// asked for b64=1 (no XHR2, forceBase64, JSONP; also socket.io-client 1.x
// running in Node.js, whose XMLHttpRequest lacks XHR2) gets the 2.x text
// form. That is right for 2.x; a 1.x client in that mode cannot decode
// non-ASCII text we send, and non-ASCII text it sends arrives UTF-8 encoded
// twice (each byte as a Latin-1 character). ASCII is unaffected, and so is
// every client over WebSocket.
//
// socket.io-client 1.x also sets withCredentials on its polling requests,
// so a browser page on another origin needs that origin in
// Options.AllowedOrigins with Options.AllowCredentials set.
//
// # Left out
//
// The WebTransport transport of protocol 4, the flashsocket transport of old
// protocol 3 clients, cookies (the "cookie" option of the reference server),
// and protocol 2 and older.
package engineio
