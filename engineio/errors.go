package engineio

import (
	"errors"
	"net/http"
	"strconv"
)

// HandshakeError, returned (or wrapped) by Options.AllowRequest, sets how a
// handshake is refused: with Status (for example 429 for a rate limit) and
// the JSON body {"code":4,"message":Message}. Any other error refuses with
// 403 and the message "Forbidden".
type HandshakeError struct {
	Status  int
	Message string
}

// Error returns the refusal message.
func (e *HandshakeError) Error() string {
	return "engineio: handshake refused: " + e.Message
}

// refusal returns the status and error body for an AllowRequest error.
func refusal(err error) (int, protocolError) {
	var he *HandshakeError
	if errors.As(err, &he) && he.Status >= 400 && he.Status < 600 {
		msg := he.Message
		if msg == "" {
			msg = http.StatusText(he.Status)
		}
		return he.Status, protocolError{errForbidden.code, msg}
	}
	return http.StatusForbidden, errForbidden
}

// protocolError is an error answer of the Engine.IO protocol: the JSON body
// {"code":N,"message":"..."} that the reference server sends.
type protocolError struct {
	code    int
	message string
}

// The protocol's error codes, with the reference server's messages.
var (
	errUnknownTransport = protocolError{0, "Transport unknown"}
	errUnknownSID       = protocolError{1, "Session ID unknown"}
	errBadHandshake     = protocolError{2, "Bad handshake method"}
	errBadRequest       = protocolError{3, "Bad request"}
	errForbidden        = protocolError{4, "Forbidden"}
	errUnsupported      = protocolError{5, "Unsupported protocol version"}
	// Not in the reference server, which has neither limit: the same shape
	// with code 3 (bad request) and a message saying what happened.
	errServerFull   = protocolError{3, "Server full"}
	errShuttingDown = protocolError{3, "Server shutting down"}
	errTooLargeBody = protocolError{3, "Payload too large"}
)

// writeError answers with status and the JSON body of e.
func (srv *Server) writeError(w http.ResponseWriter, r *http.Request, status int, e protocolError) {
	body := make([]byte, 0, 64)
	body = append(body, `{"code":`...)
	body = strconv.AppendInt(body, int64(e.code), 10)
	body = append(body, `,"message":`...)
	body = strconv.AppendQuote(body, e.message)
	body = append(body, '}')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	srv.cors(h, r)
	w.WriteHeader(status)
	w.Write(body)
}
