// Command bench is the load generator of notification-server: it drives a
// server (ours, or the Node.js reference in bench/reference) through the
// public contract exactly as real clients and backends do, and reports
// throughput, latency, delivery correctness and the server's memory and CPU.
//
// Clients speak Engine.IO v4 (EIO=4, the protocol of socket.io-client 3
// and 4) with Socket.IO v5 packets: they read the open packet, send CONNECT
// ("40"), wait for the server's CONNECT reply, emit `register` (userId,
// connectionId), answer every ping ("2") with a pong ("3"), and parse
// `message` events. By default they use WebSocket only, and answer
// WebSocket pings too; the WebSocket client side (RFC 6455 opening
// handshake, masked frames, fragmented messages; no extensions) is the load
// generator's own, as is its HTTP/1.1 client. With -transport polling they
// use HTTP long-polling only, as socket.io-client does with transports:
// ["polling"]: two keep-alive connections per session, one for the long
// poll and one for POSTs, read by a goroutine per session (polling.go);
// such a session takes two descriptors, and the session cap counts them.
// Engine.IO v3, the upgrade from polling to WebSocket, binary packets and
// acks are left out.
//
// Scenarios (the first argument):
//
//	idle    N sessions, k per user; server RSS per registered session before
//	        and after one push per user, connect rate, handshake latency.
//	push    pushes from W keep-alive HTTP workers to users with k sessions
//	        each, saturating (closed loop) or at a fixed -rate (open loop);
//	        pushes/s, deliveries/s, end-to-end latency percentiles measured
//	        from the intended send time, lost, duplicated and out-of-order
//	        deliveries, server CPU seconds per 1000 deliveries.
//	fanout  push with one user holding all N sessions.
//	churn   sessions connecting and disconnecting (cleanly and abruptly)
//	        while pushes flow, for soak runs; the server's RSS and, when it
//	        exposes them, /metrics and pprof goroutine counts at start and end.
//	table   reads the JSON results of several runs and prints medians,
//	        min–max and the ratios of our server to the reference.
//
// How push numbers are measured: every session first receives one probe
// push (proving it is registered), then an unmeasured warm-up (-warmup)
// runs, then the measured phase. Each pushed message carries its user, the
// user's sequence number and its intended send time: in the open loop
// (-rate) the k-th push is due at start+k/rate whether or not earlier ones
// were answered, so a stalled server shows up in the latency instead of
// slowing the sender (no coordinated omission); the sender waits for that
// time on a timerfd, since time.Sleep can wake a millisecond late and the
// lateness would count as the server's. A session counts messages lost,
// duplicated, out of order and pushed to another user. The closed loop keeps W requests in
// flight, and also stops sending while more than -window pushes are sent but
// not yet received by every session: a server that answers before it has
// delivered cannot buffer without bound, and both servers are measured at
// the rate they actually deliver. Deliveries per second run from the start
// of the phase to the last delivery. Server CPU is utime+stime from
// /proc/<pid>/stat over the same interval; CPU used by other processes on
// the machine meanwhile is reported too, since it skews any measurement.
// Pushes use a minimal keep-alive HTTP/1.1 client (one connection per
// worker) because net/http's client costs several times more CPU per request
// on a machine the load generator shares with the server.
//
// The load generator's own CPU per push and per delivery is kept low for the
// same reason: what it spends, the server under test cannot use. Sessions
// are not read by a goroutine each: after the connect sequence (done with
// blocking I/O) each socket is handed to one of a few reactor loops, each
// with its own epoll instance, which read a socket once when epoll reports
// it readable, into a 64 KB buffer (a burst of frames costs one read), and
// parse the WebSocket frames and the `message` events in place, without
// allocating. The closed loop's HTTP workers likewise run on one goroutine
// over epoll, each still with one request in flight on its own connection;
// the open loop (-rate) and single rounds keep a goroutine per worker. The
// loops' epoll descriptors are registered with Go's network poller, so an
// idle loop parks like any goroutine waiting for a socket. This makes the
// load generator Linux-only, as its /proc readings already did.
//
// The server is either running already (-pid, for /proc readings) or
// started by bench itself (-cmd, killed when bench exits). Each client
// socket is bound to one of several loopback source addresses (127.0.0.1,
// 127.0.0.2, ...) so the session count is not bounded by one address's
// ephemeral ports; the open-file limit is raised to its hard limit and the
// session count is capped to fit, with a message saying so.
package main
