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
// Heartbeats for all sessions run on one shared scheduler; an idle WebSocket
// session costs one goroutine (its reader) and small buffers.
//
// # Left out
//
// The WebTransport transport of protocol 4, the flashsocket transport of old
// protocol 3 clients, cookies (the "cookie" option of the reference server),
// and protocol 2 and older.
package engineio
