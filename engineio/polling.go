package engineio

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// upgradeGrace is how long a poll that arrives while an upgrade is being
// probed waits for the upgrade to finish (then it is refused, as polling
// after an upgrade is) before it is answered with a noop.
const upgradeGrace = 50 * time.Millisecond

// defaultParkAfter is how long a poll waits in its handler before it is
// parked, unless the session's polls park at once (session.parkAtOnce).
const defaultParkAfter = 100 * time.Millisecond

// bodyReadTimeout bounds the time to read a polling POST body.
const bodyReadTimeout = 30 * time.Second

// maxPayloadPackets bounds the packets of one polling POST, so one request
// cannot turn into an unbounded number of handler calls.
const maxPayloadPackets = 10_000

// bufPool holds buffers for polling responses.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledBuf is the largest buffer put back in bufPool.
const maxPooledBuf = 64 << 10

// poll serves a long-polling GET: it answers at once with everything queued,
// or waits until something is queued, the session closes or upgrades, or
// the poll times out (then with a noop).
func (s *session) poll(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if s.heartbeatExpired(now) {
		s.close(ReasonPingTimeout, false)
	}
	s.mu.Lock()
	if s.closed && s.lingering {
		batch := s.takeQueueLocked()
		s.mu.Unlock()
		s.endLinger()
		if len(batch) == 0 {
			batch = append(batch, packet{typ: packetNoop})
		}
		s.writePoll(w, r, batch)
		return
	}
	graceLeft := s.probed || s.probe != nil
	if !s.claimLocked(w, r, &s.polling) {
		return
	}
	// held: the poll still holds the session's poll slot. It frees it
	// before its answer goes out, as a parked poll does: a client that has
	// the whole answer (net/http may have written all of a large one before
	// Write returns) sends its next poll at once, maybe on another
	// connection, and that poll must not be taken for a concurrent one.
	held := true
	defer func() {
		if held {
			s.release(&s.polling)
		}
	}()
	// A poll still waiting after opts.parkAfter is parked where it can be
	// (park.go): a busy session's polls, answered sooner, cost less served
	// here. Once a parked poll has waited that long again, the session's
	// next polls park at once, until one is answered within that time. One
	// that arrived during an upgrade's probe only waits a moment, and waits
	// here.
	l := s.srv.parking()
	canPark := l != nil && !graceLeft && parkable(r)
	// A long poll outlives any http.Server ReadTimeout shorter than the
	// heartbeat, whose expiry would cancel the request: a GET has no body
	// left to read, and net/http sets the next request's deadline itself.
	http.NewResponseController(w).SetReadDeadline(time.Time{})

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		var batch []packet // the answer; nil for 400
		answer, queued := true, false
		switch {
		// Upgraded: the queue is the WebSocket writer's alone.
		case s.ws != nil && graceLeft:
		case s.ws != nil:
			batch = []packet{{typ: packetNoop}}
		case len(s.queue) > 0:
			batch, queued = s.takeQueueLocked(), true
			s.parkAtOnce = false
		case s.closed, s.probed && !graceLeft:
			batch = []packet{{typ: packetNoop}}
		default:
			answer = false
		}
		if answer {
			s.polling, held = false, false
			s.mu.Unlock()
			if batch == nil {
				s.srv.writeError(w, r, http.StatusBadRequest, errBadRequest)
				return
			}
			s.writePoll(w, r, batch)
			if queued {
				s.recycle(batch)
			}
			return
		}
		atOnce := canPark && s.parkAtOnce
		s.mu.Unlock()

		if atOnce {
			canPark = false
			if s.parkPoll(l, w, r, s.srv.opts.PingInterval+s.srv.opts.PingTimeout) {
				held = false // the parked poll frees it
				return
			}
			continue
		}

		wait := s.srv.opts.PingInterval + s.srv.opts.PingTimeout
		switch {
		case graceLeft:
			wait = upgradeGrace
		case canPark:
			wait = s.srv.opts.parkAfter
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-s.notify:
		case <-timer.C:
			switch {
			case canPark:
				canPark = false
				if s.parkPoll(l, w, r, s.srv.opts.PingInterval+s.srv.opts.PingTimeout-s.srv.opts.parkAfter) {
					held = false // the parked poll frees it
					return
				}
			case !graceLeft:
				s.release(&s.polling)
				held = false
				s.writePoll(w, r, []packet{{typ: packetNoop}})
				return
			default:
				graceLeft = false
			}
		case <-r.Context().Done():
			s.close(ReasonTransportClose, false)
			return
		}
	}
}

// writePoll writes batch as one polling response in the session's
// encoding.
func (s *session) writePoll(w http.ResponseWriter, r *http.Request, batch []packet) {
	bp := bufPool.Get().(*[]byte)
	buf, ctype := s.pollPayload((*bp)[:0], batch)
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	h.Set("Cache-Control", "no-store")
	s.srv.cors(h, r)
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
	putBuf(bp, buf)
}

// pollPayload appends batch to buf encoded as a polling response in the
// session's encoding, and returns it with its content type.
func (s *session) pollPayload(buf []byte, batch []packet) ([]byte, string) {
	switch {
	case s.jsonp:
		var payload []byte
		if s.protocol == 3 {
			payload = appendPayloadV3(nil, batch)
		} else {
			payload = appendPayloadV4(nil, batch)
		}
		return appendJSONP(buf, s.jsonpIndex, payload), "text/plain; charset=UTF-8" // as the reference server sends it
	case s.protocol == 4:
		return appendPayloadV4(buf, batch), "text/plain; charset=UTF-8"
	case s.b64 || !needsBinaryPayloadV3(batch):
		return appendPayloadV3(buf, batch), "text/plain; charset=UTF-8"
	default:
		return appendBinaryPayloadV3(buf, batch), "application/octet-stream"
	}
}

// putBuf returns buf, grown from *bp, to bufPool unless it grew too big.
func putBuf(bp *[]byte, buf []byte) {
	if cap(buf) <= maxPooledBuf {
		*bp = buf[:0]
		bufPool.Put(bp)
	}
}

// claimLocked takes one of the session's polling slots (s.polling for the
// GET, s.posting for the POST) for this request and unlocks s.mu. It answers
// 400 and reports false when the session is gone or upgraded, or when that
// slot is taken: a second concurrent request of one kind is a broken client
// or an attack, and, as with the reference server, ends the session (a
// waiting poll gets the close packet).
func (s *session) claimLocked(w http.ResponseWriter, r *http.Request, busy *bool) bool {
	switch {
	case s.closed:
		s.mu.Unlock()
		s.srv.writeError(w, r, http.StatusBadRequest, errUnknownSID)
		return false
	case s.ws != nil:
		s.mu.Unlock()
		s.srv.writeError(w, r, http.StatusBadRequest, errBadRequest)
		return false
	case *busy:
		s.mu.Unlock()
		s.close(ReasonTransportError, true)
		s.srv.writeError(w, r, http.StatusBadRequest, errBadRequest)
		return false
	}
	*busy = true
	s.mu.Unlock()
	return true
}

// release frees the polling slot claimLocked took.
func (s *session) release(busy *bool) {
	s.mu.Lock()
	*busy = false
	s.mu.Unlock()
}

// post serves a polling POST: the client's packets, delivered in order.
func (s *session) post(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if !s.claimLocked(w, r, &s.posting) {
		return
	}
	released := false
	defer func() {
		if !released {
			s.release(&s.posting)
		}
	}()

	max := s.srv.opts.MaxPayload
	if r.ContentLength > max {
		s.close(ReasonPayloadTooBig, true)
		s.srv.writeError(w, r, http.StatusRequestEntityTooLarge, errTooLargeBody)
		return
	}
	// A body that trickles in is cut off (slowloris), whatever the
	// http.Server's own timeouts.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.close(ReasonPayloadTooBig, true)
			s.srv.writeError(w, r, http.StatusRequestEntityTooLarge, errTooLargeBody)
			return
		}
		s.close(ReasonTransportError, false)
		return
	}

	decode := decodePayloadV4
	binaryBody := r.Header.Get("Content-Type") == "application/octet-stream"
	switch {
	case s.protocol == 4 && binaryBody:
		decode = func([]byte, func(packet) error) error { return errParse }
	case s.protocol == 3 && binaryBody:
		decode = decodeBinaryPayloadV3
	case s.protocol == 3:
		decode = decodePayloadV3
	}
	if s.jsonp && !binaryBody {
		if body, err = decodeJSONPBody(body); err != nil {
			decode = func([]byte, func(packet) error) error { return err }
		}
	}
	// Check the whole payload first, so a malformed one delivers nothing.
	count := 0
	err = decode(body, func(packet) error {
		if count++; count > maxPayloadPackets {
			return fmt.Errorf("%w: more than %d packets in one payload", errParse, maxPayloadPackets)
		}
		return nil
	})
	if err != nil {
		s.srv.opts.Logger.Debug("engineio: bad payload", "sid", s.logID(), "err", err)
		s.close(ReasonParseError, true)
		s.srv.writeError(w, r, http.StatusBadRequest, errBadRequest)
		return
	}
	err = decode(body, s.handlePacket)
	if err != nil && !errors.Is(err, errStop) {
		s.srv.opts.Logger.Debug("engineio: bad packet", "sid", s.logID(), "err", err)
		s.close(ReasonParseError, true)
		s.srv.writeError(w, r, http.StatusBadRequest, errBadRequest)
		return
	}
	if l := s.srv.parking(); l != nil && parkable(r) && s.answerPostParked(l, w, r) {
		released = true
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	h.Set("Cache-Control", "no-store")
	s.srv.cors(h, r)
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "ok")
}
