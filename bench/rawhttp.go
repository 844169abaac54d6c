//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

// restConn is a minimal HTTP/1.1 keep-alive client for the push hot path:
// one connection, one request at a time, the whole request in one write and
// the answer parsed from a small buffer. net/http's client costs several
// times more CPU per request (two goroutines per connection, header maps),
// and the load generator shares the machine with the server it measures.
// A restConn is used by one goroutine.
type restConn struct {
	addr  string // host:port
	token string // X-AUTH-TOKEN; "" sends none
	// dial opens the connection; nil dials addr from any local address.
	dial func(ctx context.Context) (net.Conn, error)
	// timeout bounds one exchange once the request is sent; 0 means 30 s.
	timeout time.Duration
	// retryStale resends a request once, on a new connection, when a kept
	// connection turns out closed before any of the answer came (the
	// server dropped it as idle), as browsers do. Off for pushes, which
	// must never be sent twice.
	retryStale bool
	conn       net.Conn
	br         *bufio.Reader
	req        []byte
	body       []byte // the last answer's body, reused
}

func newRestConn(addr, token string) *restConn {
	return &restConn{addr: addr, token: token}
}

// close drops the connection; the next request dials again.
func (rc *restConn) close() {
	if rc.conn != nil {
		rc.conn.Close()
		rc.conn = nil
	}
}

// post sends POST path with a JSON body and returns the status and up to
// 4 KB of the answer's body (valid until the next call). ctx bounds the
// dial; the exchange itself has a fixed 30 s deadline. On a transport
// error the connection is closed and the error returned; the request is not
// retried, since a push must not be sent twice.
func (rc *restConn) post(ctx context.Context, path string, body []byte) (int, []byte, error) {
	return rc.do(ctx, "POST", path, "application/json", body, maxBody)
}

// do sends one request (with a body of contentType unless body is nil) and
// returns the status and up to limit bytes of the answer's body, valid
// until the next call. Errors are handled as in post.
func (rc *restConn) do(ctx context.Context, method, path, contentType string, body []byte, limit int) (int, []byte, error) {
	reused := rc.conn != nil
	status, got, err := rc.exchange(ctx, method, path, contentType, body, limit)
	if errors.Is(err, errStale) {
		if reused && rc.retryStale {
			status, got, err = rc.exchange(ctx, method, path, contentType, body, limit)
		}
		if errors.Is(err, errStale) {
			err = fmt.Errorf("read answer: %w", io.ErrUnexpectedEOF)
		}
	}
	return status, got, err
}

// errStale reports a connection that ended before any of the answer came.
var errStale = errors.New("connection closed before the answer")

// exchange is one try of do.
func (rc *restConn) exchange(ctx context.Context, method, path, contentType string, body []byte, limit int) (int, []byte, error) {
	if rc.conn == nil {
		dial := rc.dial
		if dial == nil {
			dial = func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", rc.addr)
			}
		}
		c, err := dial(ctx)
		if err != nil {
			return 0, nil, fmt.Errorf("dial: %w", err)
		}
		rc.conn = c
		if rc.br == nil {
			rc.br = bufio.NewReaderSize(c, 4096)
		} else {
			rc.br.Reset(c)
		}
	}
	rc.req = appendRequest(rc.req[:0], method, path, rc.addr, rc.token, contentType, body)
	// A request already sent is always given time to be answered: a push cut
	// off mid-way would be neither delivered for sure nor known lost.
	timeout := rc.timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	rc.conn.SetDeadline(time.Now().Add(timeout))
	if _, err := rc.conn.Write(rc.req); err != nil {
		rc.close()
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			return 0, nil, errStale
		}
		return 0, nil, fmt.Errorf("send request: %w", err)
	}
	if _, err := rc.br.Peek(1); err != nil && (err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
		rc.close()
		return 0, nil, errStale
	}
	status, got, keep, err := readResponse(rc.br, rc.body[:0], limit)
	rc.body = got[:0]
	if err != nil {
		rc.close()
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	if !keep {
		rc.close()
	}
	return status, got, nil
}

// appendRequest writes a whole HTTP/1.1 request: the token header unless
// token is empty, and a body of contentType unless body is nil.
func appendRequest(b []byte, method, path, host, token, contentType string, body []byte) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	if token != "" {
		b = append(b, "\r\nX-AUTH-TOKEN: "...)
		b = append(b, token...)
	}
	if body != nil {
		b = append(b, "\r\nContent-Type: "...)
		b = append(b, contentType...)
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
	}
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

var errMalformed = errors.New("malformed HTTP response")

// readResponse reads one HTTP/1.1 response: status, headers, and a body
// framed by Content-Length or chunked encoding. keep is false when the
// server will close the connection. At most limit bytes of the body are
// returned, appended to buf; the rest is read and dropped.
func readResponse(br *bufio.Reader, buf []byte, limit int) (status int, body []byte, keep bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return 0, nil, false, err
	}
	rest, ok := bytes.CutPrefix(line, []byte("HTTP/1."))
	if !ok || len(rest) < 5 || rest[1] != ' ' {
		return 0, nil, false, fmt.Errorf("%w: status line %.40q", errMalformed, line)
	}
	keep = rest[0] == '1'
	code, after, ok := scanUint(rest[2:5])
	if !ok || len(after) != 0 {
		return 0, nil, false, fmt.Errorf("%w: status line %.40q", errMalformed, line)
	}
	status = int(code)
	length, chunked := -1, false
	for {
		line, err := readLine(br)
		if err != nil {
			return 0, nil, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("%w: header %.40q", errMalformed, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, after, ok := scanUint(value)
			length = int(n)
			if !ok || len(after) != 0 || n > 1<<40 {
				return 0, nil, false, fmt.Errorf("%w: Content-Length %.20q", errMalformed, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keep = true
			}
		}
	}
	switch {
	case chunked:
		for {
			line, err := readLine(br)
			if err != nil {
				return 0, nil, false, err
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(line, []byte(";"), 2)[0])), 16, 64)
			if err != nil || size < 0 {
				return 0, nil, false, fmt.Errorf("%w: chunk size %.20q", errMalformed, line)
			}
			if size == 0 {
				for { // trailers, then the empty line
					line, err := readLine(br)
					if err != nil {
						return 0, nil, false, err
					}
					if len(line) == 0 {
						break
					}
				}
				break
			}
			if err := copyCapped(&buf, br, size, limit); err != nil {
				return 0, nil, false, err
			}
			if line, err := readLine(br); err != nil || len(line) != 0 {
				return 0, nil, false, fmt.Errorf("%w: no CRLF after chunk", errMalformed)
			}
		}
	case length >= 0:
		if err := copyCapped(&buf, br, int64(length), limit); err != nil {
			return 0, nil, false, err
		}
	case status == 204 || status == 304 || status/100 == 1:
	default:
		// No framing: the body runs to the end of the connection.
		if err := copyCapped(&buf, br, 1<<20, limit); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, false, err
		}
		keep = false
	}
	return status, buf, keep, nil
}

// maxBody is how much of a REST answer's body is kept.
const maxBody = 4096

// copyCapped reads exactly n bytes from br, appending to buf until it holds
// limit bytes and discarding the rest.
func copyCapped(buf *[]byte, br *bufio.Reader, n int64, limit int) error {
	keep := min(n, int64(limit-len(*buf)))
	if keep > 0 {
		b := *buf
		if int64(cap(b)-len(b)) < keep {
			b = append(b, make([]byte, keep)...)[:len(b)]
		}
		got, err := io.ReadFull(br, b[len(b):len(b)+int(keep)])
		*buf = b[:len(b)+got]
		if err != nil {
			return fmt.Errorf("read body: %w", noEOF(err))
		}
	}
	if rest := n - max(keep, 0); rest > 0 {
		for rest > 0 {
			d, err := br.Discard(int(min(rest, 1<<30)))
			rest -= int64(d)
			if err != nil {
				return fmt.Errorf("read body: %w", noEOF(err))
			}
		}
	}
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readLine reads a CRLF- (or LF-) terminated line of at most the reader's
// buffer size, without the terminator.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, fmt.Errorf("%w: line too long", errMalformed)
		}
		return nil, noEOF(err)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}
