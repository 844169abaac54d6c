// Package socketio is a Socket.IO server on top of package engineio: the
// packet codec, namespaces, sockets, events, acks and binary attachments.
//
// # Protocols
//
// Socket.IO protocol 5 over Engine.IO 4 (socket.io-client 3 and 4): a client
// sends CONNECT for every namespace, optionally with an auth object, and the
// server answers CONNECT {"sid":...} with a socket id distinct from the
// Engine.IO session id, or CONNECT_ERROR {"message":...}. A session that
// sends no CONNECT within Options.ConnectTimeout is closed.
//
// Socket.IO protocol 4 over Engine.IO 3 (socket.io-client 1 and 2): the
// server connects the client to "/" without being asked (it sends "0"),
// other namespaces are joined by CONNECT "/ns" or "/ns?query", and refusals
// are ERROR packets carrying a string.
//
// Both carry EVENT, ACK, BINARY_EVENT and BINARY_ACK packets with namespaces
// ("/ns,"), ack ids and binary attachments behind placeholders
// {"_placeholder":true,"num":N}.
//
// # Binary arguments
//
// Emit, EmitWithAck and acks turn each top-level Binary argument into an
// attachment behind a placeholder. Received binary arguments stay
// placeholders among the json.RawMessage arguments; Placeholder reads one,
// and Socket.Attachments returns the bytes while the handler runs.
//
// # Strictness
//
// Any malformed packet closes the session that sent it, and only it: an
// unknown type, an attachment count that is missing, zero, above
// Options.MaxAttachments or not matched by the placeholders, attachments
// larger together than Options.MaxAttachmentBytes, a non-numeric
// or oversized ack id, a payload that is not JSON, nested deeper than
// Options.MaxJSONDepth (checked by a scan before parsing), invalid UTF-8, an
// event payload that is not an array starting with a non-reserved string
// name, an ack payload that is not an array. Panics in handlers are
// recovered and close that session only.
//
// # Sending
//
// Socket.Emit, acks and Socket.SendPacket never block: they enqueue on the
// Engine.IO session, which closes itself as slow when its queue is full (the
// socket's disconnect reason is then "queue overflow"). For fan-out,
// EncodeEvent encodes a packet once and SendPacket hands the same bytes to
// every socket; QueuePacket and Flush do the same in two passes (see
// engineio.Conn.Queue).
//
// # Left out
//
// Rooms and broadcasting operators (the product keeps its own session sets),
// dynamic namespaces (regular expressions or functions), custom parsers
// (msgpack), connection state recovery, volatile and compressed emits, and
// the client side.
package socketio
