// Package api is the notification server's HTTP face: the REST API a backend
// calls, the metrics endpoint, and the Socket.IO "register" handler that binds
// a client's socket to a user in the registry.
//
// # REST API
//
// The routes, all answered in JSON except ping, register, the metrics and
// the profiles:
//
//	PUT  /api/{userId}/register?connectionId={id}  registers id for the user; 200, empty body
//	POST /api/{userId}/push                         {"message": <any JSON>}; 200 {"sessions": n}
//	GET  /api/status/ping                           200 "pong"
//	GET  /api/status/info                           200 {"name":"notification-server","version":"..."}
//	GET  /metrics                                   Prometheus text format
//	GET  /debug/pprof/...                           Go profiles, only with Options.Pprof
//
// register and push need an API token in X-AUTH-TOKEN or in Authorization:
// Bearer; the status routes do not; /metrics does unless Options.MetricsPublic;
// the profiles always do.
// Tokens are compared in constant time against every configured token.
//
// Every error is {"error":"..."} with its status: 400 bad input, 401 missing
// or wrong token, 404 unknown route, 405 wrong method (with Allow), 413 body
// over Options.MaxBodyBytes, 429 too many pending connection ids, 503 while
// shutting down.
//
// The push body may also be form-encoded (message=...), as the original
// server accepted; the message is then delivered as a JSON string. A body
// sent with the form content type that starts with "{" is read as JSON, since
// that is what `curl -d '{"message":...}'` sends. An explicit null message
// counts as no message (400), and the message must be valid UTF-8 (browsers
// drop WebSocket connections that carry anything else).
//
// # Socket.IO side
//
// A client emits register(userId, connectionId) after connecting, as the
// original's clients do. Each of the two may be a JSON string or an integer
// number: an integer matches its decimal form in the REST path (42 and "42"
// are the same user). Fractional numbers, numbers beyond 2^53 that are not
// written as plain digits, and every other type (object, array, null, bool)
// are refused. Ids longer than MaxIDLength bytes are refused too. If the
// client passed an ack callback it receives {"ok":true} or
// {"ok":false,"error":"..."}.
//
// A socket is bound to at most one (userId, connectionId) at a time: a second
// register with another pair moves it there once the new pair binds (a failed
// register leaves the existing binding in place); the same pair again only
// refreshes. A disconnect unbinds the socket at once; the connection id stays
// valid for reconnects until it expires.
//
// Every push is encoded once, as the Socket.IO event 2["message",<message>],
// and the same bytes are queued to every live session of the user.
//
// # Left out
//
// Delivery receipts (acks of "message"), per-user inboxes for offline users,
// pushes to many users in one call, presence and state shared between
// nodes; the registry's Session interface leaves room for them. Only the
// namespace "/" serves "register".
package api
