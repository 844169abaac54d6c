package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"notification-server/registry"
	"notification-server/socketio"
)

// register records the connectionId query parameter as a pending connection
// id of the user. 200 with an empty body, as the original server.
func (a *API) register(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	userID := r.PathValue("userId")
	connID := r.URL.Query().Get("connectionId")
	switch {
	case connID == "":
		writeError(w, http.StatusBadRequest, "connectionId query parameter is required")
		return
	case len(userID) > MaxIDLength || len(connID) > MaxIDLength:
		writeError(w, http.StatusBadRequest, "userId or connectionId longer than "+strconv.Itoa(MaxIDLength)+" bytes")
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
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatInt(a.maxBody, 10)+" bytes")
			return
		}
		writeError(w, http.StatusBadRequest, "could not read request body")
		return
	}
	body := buf.Bytes()
	msg, err := parseMessage(r.Header.Get("Content-Type"), body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	pkt, err := socketio.EncodeEvent("/", "message", msg)
	if err != nil {
		writeError(w, http.StatusBadRequest, "could not encode message")
		return
	}
	n := a.reg.Push(userID, pkt)
	a.metrics.pushed(n, time.Since(start))
	out := make([]byte, 0, 32)
	out = append(out, `{"sessions":`...)
	out = strconv.AppendInt(out, int64(n), 10)
	out = append(out, '}')
	writeJSON(w, http.StatusOK, out)
}

// bodyPool recycles push body buffers; the message is copied out of them
// (into the encoded packet) before they return to the pool.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putBody returns buf to the pool unless it grew large.
func putBody(buf *bytes.Buffer) {
	if buf.Cap() > 64<<10 {
		return
	}
	buf.Reset()
	bodyPool.Put(buf)
}

// readBody reads the request body into buf, at most a.maxBody bytes, within
// a.bodyWait. A
// declared Content-Length is trusted for the check (net/http never reads
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
		buf.Grow(int(n) + bytes.MinRead)
	default:
		body = http.MaxBytesReader(w, r.Body, a.maxBody)
	}
	// A read deadline for this body only: net/http sets its own again
	// before the next request on the connection.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(a.bodyWait))
	if _, err := buf.ReadFrom(body); err != nil {
		// Keep the expired deadline: net/http would otherwise wait for the
		// rest of the body before answering. The connection is closed.
		w.Header().Set("Connection", "close")
		return err
	}
	_ = rc.SetReadDeadline(time.Time{})
	return nil
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
func parseMessage(contentType string, body []byte) (json.RawMessage, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" && !startsWithBrace(body) {
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
	var req struct {
		Message json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, errNotObject
		}
		return nil, errNotJSON
	}
	if len(req.Message) == 0 || string(req.Message) == "null" {
		return nil, errNoMessage
	}
	if !utf8.Valid(req.Message) {
		return nil, errNotUTF8
	}
	return req.Message, nil
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
