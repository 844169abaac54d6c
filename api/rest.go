package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"notification-server/registry"
)

// register records the connectionId query parameter as a pending connection
// id of the user. 200 with an empty body, as the original server.
func (a *API) register(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	// The body means nothing here, but it is bounded like every other.
	buf := bodyPool.Get().(*bytes.Buffer)
	err := a.readBody(w, r, buf)
	putBody(buf)
	if err != nil {
		a.bodyError(w, err)
		return
	}
	userID := r.PathValue("userId")
	connID := queryValue(r.URL.RawQuery, "connectionId")
	switch {
	case connID == "":
		writeError(w, http.StatusBadRequest, "connectionId query parameter is required")
		return
	case len(userID) > MaxIDLength || len(connID) > MaxIDLength:
		writeError(w, http.StatusBadRequest, "userId or connectionId longer than "+strconv.Itoa(MaxIDLength)+" bytes")
		return
	case !utf8.ValidString(userID) || !utf8.ValidString(connID):
		// No socket could present it: a socket's ids are JSON strings.
		writeError(w, http.StatusBadRequest, "userId or connectionId is not valid UTF-8")
		return
	}
	switch err := a.reg.Register(userID, connID); {
	case errors.Is(err, registry.ErrTooManyPending):
		writeError(w, http.StatusTooManyRequests, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.log.Debug("connection id registered", "user", userID, "connection", redact(connID))
	w.WriteHeader(http.StatusOK)
}

// queryValue returns the first value of key in a raw query, decoded as the
// original's query parser (qs) decodes it: '+' is a space, and a value that
// is not valid percent-encoding is kept as sent. net/url's parser would
// drop such a pair, and pairs holding a ';', and answer "missing".
func queryValue(rawQuery, key string) string {
	for pair := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if lenientUnescape(k) == key {
			return lenientUnescape(v)
		}
	}
	return ""
}

// lenientUnescape decodes a query component, or returns it with '+' as a
// space when it is not valid percent-encoding.
func lenientUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}

// push sends the body's message to every live session of the user and
// answers how many sessions it was queued to.
func (a *API) push(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if a.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	userID := r.PathValue("userId")
	if len(userID) > MaxIDLength {
		writeError(w, http.StatusBadRequest, "userId longer than "+strconv.Itoa(MaxIDLength)+" bytes")
		return
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer putBody(buf)
	if err := a.readBody(w, r, buf); err != nil {
		a.bodyError(w, err)
		return
	}
	body := buf.Bytes()
	msg, err := parseMessage(r.Header.Get("Content-Type"), body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n, ok := a.queue(userID, encodeMessageEvent(msg))
	if !ok {
		// Drain began while the body was read.
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	a.metrics.pushed(n, time.Since(start))
	// The body is consumed: its buffer holds the answer.
	buf.Reset()
	out := append(buf.AvailableBuffer(), `{"sessions":`...)
	out = strconv.AppendInt(out, int64(n), 10)
	out = append(out, '}')
	writeJSON(w, http.StatusOK, out)
}

// queue pushes pkt to the user's sessions unless the server is draining,
// and reports how many sessions it went to and whether it was queued.
func (a *API) queue(userID string, pkt []byte) (n int, ok bool) {
	a.gate.RLock()
	defer a.gate.RUnlock()
	if a.draining.Load() {
		return 0, false
	}
	return a.reg.Push(userID, pkt), true
}

// messageEventPrefix starts the Socket.IO EVENT packet of a push in the
// main namespace: 2["message",<msg>].
const messageEventPrefix = `2["message",`

// encodeMessageEvent encodes the push's packet, as socketio.EncodeEvent
// would for the valid JSON msg, in one exactly sized allocation.
func encodeMessageEvent(msg []byte) []byte {
	pkt := make([]byte, 0, len(messageEventPrefix)+len(msg)+1)
	pkt = append(pkt, messageEventPrefix...)
	pkt = append(pkt, msg...)
	return append(pkt, ']')
}

// bodyPool recycles push body buffers; the message is copied out of them
// (into the encoded packet) before they return to the pool.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// bodyPrealloc is the most readBody reserves for a body before its bytes
// arrive, and the largest buffer putBody keeps.
const bodyPrealloc = 64 << 10

// putBody returns buf to the pool unless it grew large.
func putBody(buf *bytes.Buffer) {
	if buf.Cap() > bodyPrealloc {
		return
	}
	buf.Reset()
	bodyPool.Put(buf)
}

// bodyError answers a request whose body readBody refused: 413 when it was
// too large, 400 when it could not be read.
func (a *API) bodyError(w http.ResponseWriter, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeError(w, http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatInt(a.maxBody, 10)+" bytes")
		return
	}
	writeError(w, http.StatusBadRequest, "could not read request body")
}

// readBody reads the request body into buf, at most a.maxBody bytes, within
// a.bodyWait. A declared Content-Length is trusted for the check (net/http never reads
// past it); a chunked body is cut off by http.MaxBytesReader.
func (a *API) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) error {
	body := r.Body
	switch n := r.ContentLength; {
	case n == 0:
		return nil
	case n > a.maxBody:
		// Not worth reading: answer and close the connection.
		w.Header().Set("Connection", "close")
		return &http.MaxBytesError{Limit: a.maxBody}
	case n > 0:
		// Room for the declared body, up to bodyPrealloc: a client that
		// declares a large body and sends it slowly holds no more memory
		// than it has sent.
		buf.Grow(int(min(n, bodyPrealloc)) + bytes.MinRead)
	default:
		body = http.MaxBytesReader(w, r.Body, a.maxBody)
	}
	// A read deadline for this body only, unless the server's ReadTimeout
	// already ends the body sooner. It need not be cleared: net/http
	// clears it once the body is read to its end and sets its own before
	// the next request.
	if !serverBoundsBody(r, a.bodyWait) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(a.bodyWait))
	}
	if _, err := buf.ReadFrom(body); err != nil {
		// Keep the expired deadline: net/http would otherwise wait for the
		// rest of the body before answering. The connection is closed.
		w.Header().Set("Connection", "close")
		return err
	}
	return nil
}

// serverBoundsBody reports whether the http.Server serving r has a
// ReadTimeout of at most wait: net/http then sets a read deadline that
// ends r's body within wait of the request's start (it sets a deadline
// there in any case, so this one costs nothing more), and a second one
// per request is not needed.
func serverBoundsBody(r *http.Request, wait time.Duration) bool {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	return srv != nil && srv.ReadTimeout > 0 && srv.ReadTimeout <= wait
}

// Errors of parseMessage; their text is the API's error message.
var (
	errNoMessage   = errors.New(`body must have a "message" field`)
	errNotJSON     = errors.New("body is not valid JSON")
	errNotObject   = errors.New(`body must be a JSON object like {"message": ...}`)
	errNotUTF8     = errors.New("message is not valid UTF-8")
	errBadFormBody = errors.New("body is not valid form encoding")
)

// parseMessage extracts the message of a push body: the "message" field of a
// JSON object, or the message form field, which becomes a JSON string. A body
// sent with the form content type but starting with "{" is read as JSON.
// The returned message may share memory with body.
func parseMessage(contentType string, body []byte) (json.RawMessage, error) {
	if isFormContentType(contentType) && !startsWithBrace(body) {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errBadFormBody
		}
		vals, ok := form["message"]
		if !ok {
			return nil, errNoMessage
		}
		if !utf8.ValidString(vals[0]) {
			return nil, errNotUTF8
		}
		msg, err := json.Marshal(vals[0])
		if err != nil {
			return nil, errNotUTF8
		}
		return msg, nil
	}
	msg, err := jsonMessage(body)
	if err != nil {
		return nil, err
	}
	if len(msg) == 0 || string(msg) == "null" {
		return nil, errNoMessage
	}
	if !utf8.Valid(msg) {
		return nil, errNotUTF8
	}
	return msg, nil
}

// isFormContentType reports whether a Content-Type names a form body. The
// usual JSON and empty values are answered without parsing.
func isFormContentType(contentType string) bool {
	if contentType == "" || contentType == "application/json" {
		return false
	}
	// Only the media type matters; mime.ParseMediaType would also build a
	// map of the parameters (charset) on every push.
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}

// jsonMessage returns the raw value of the "message" member of a JSON
// object body, as the original's JSON.parse(body).message found it: the
// name must be exactly "message" once its escapes are decoded, and the last
// such member wins. A null body has no message, and any other non-object
// body is errNotObject. The usual body is checked and searched in one pass
// by scanMessage; the others are checked by json.Valid and walked.
func jsonMessage(body []byte) ([]byte, error) {
	if msg, ok := scanMessage(body); ok {
		return msg, nil
	}
	if !json.Valid(body) {
		return nil, errNotJSON
	}
	i := skipSpace(body, 0)
	switch body[i] {
	case '{':
	case 'n':
		return nil, nil
	default:
		return nil, errNotObject
	}
	i = skipSpace(body, i+1)
	var msg []byte
	for body[i] == '"' {
		end, plain := scanString(body, i)
		isMessage := plain && string(body[i+1:end-1]) == "message"
		if !plain {
			// Escapes or non-ASCII bytes: decode the name (valid JSON).
			var name string
			isMessage = json.Unmarshal(body[i:end], &name) == nil && name == "message"
		}
		i = skipSpace(body, end)
		i = skipSpace(body, i+1) // the colon
		vend := skipValue(body, i)
		if isMessage {
			msg = body[i:vend]
		}
		i = skipSpace(body, vend)
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	return msg, nil
}

// The scanners below walk JSON already checked by json.Valid.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// scanString returns the index after the string starting at b[i] and
// whether it is plain: no escapes and ASCII only.
func scanString(b []byte, i int) (int, bool) {
	plain := true
	for i++; ; i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, plain
		case c == '\\':
			plain = false
			i++
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for {
		switch b[i] {
		case '"':
			i, _ = scanString(b, i)
		case '{', '[':
			depth++
			i++
		case '}', ']':
			depth--
			i++
		default:
			if depth == 0 {
				// A literal: it ends at a delimiter or the end.
				for i < len(b) && !isDelim(b[i]) {
					i++
				}
				return i
			}
			i++
		}
		if depth == 0 {
			return i
		}
	}
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

func startsWithBrace(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

func (a *API) ping(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, "pong")
}

func (a *API) info(w http.ResponseWriter, _ *http.Request) {
	body, _ := json.Marshal(struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}{"notification-server", a.version})
	writeJSON(w, http.StatusOK, body)
}

// redact shortens a connection id for logs: the first four bytes and its
// length, never the whole secret.
func redact(id string) string {
	if len(id) <= 4 {
		return "****"
	}
	return id[:4] + "…(" + strconv.Itoa(len(id)) + ")"
}
