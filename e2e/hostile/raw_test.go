package hostile

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// rawWS is a WebSocket spoken by hand over a TCP connection, for frames
// no well-behaved library would send and for clients that never read.
type rawWS struct {
	net.Conn
	r *bufio.Reader
}

// dialRawWS opens a TCP connection (from the loopback address local, ""
// for any) and upgrades it to a WebSocket on path, returning once the 101
// response's headers are read. It does not read any frame.
func dialRawWS(t testing.TB, addr, local, path string) (*rawWS, error) {
	t.Helper()
	return upgradeRaw(dialTCP(t, addr, local), addr, path)
}

// upgradeRaw upgrades c to a WebSocket on path, returning once the 101
// response's headers are read; c is closed on failure.
func upgradeRaw(c net.Conn, addr, path string) (*rawWS, error) {
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	r := bufio.NewReaderSize(c, 512)
	status, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, err
	}
	if !strings.HasPrefix(status, "HTTP/1.1 101") {
		c.Close()
		return nil, fmt.Errorf("upgrade answered %q", strings.TrimSpace(status))
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	c.SetDeadline(time.Time{})
	return &rawWS{Conn: c, r: r}, nil
}

// frameHeader encodes a masked client frame header with opcode op and the
// declared payload length n, which may lie about what follows.
func frameHeader(op byte, fin bool, n uint64) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	h := []byte{b0}
	switch {
	case n < 126:
		h = append(h, 0x80|byte(n))
	case n <= 0xffff:
		h = append(h, 0x80|126, byte(n>>8), byte(n))
	default:
		h = append(h, 0x80|127)
		h = binary.BigEndian.AppendUint64(h, n)
	}
	return append(h, 0, 0, 0, 0) // zero mask: the payload goes as is
}

// writeFrame sends one complete masked frame.
func (w *rawWS) writeFrame(op byte, payload string) error {
	w.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := w.Write(append(frameHeader(op, true, uint64(len(payload))), payload...))
	return err
}

// waitEOF reads and discards until the server closes the connection or
// timeout passes; it reports whether the connection was closed.
func waitEOF(c net.Conn, r io.Reader, timeout time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(timeout))
	if r == nil {
		r = c
	}
	_, err := io.Copy(io.Discard, r)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// waitClosed reads frames until the server sends a close frame or drops
// the connection, and reports whether it did within timeout. Pings are
// not answered.
func (w *rawWS) waitClosed(timeout time.Duration) bool {
	w.SetReadDeadline(time.Now().Add(timeout))
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.r, h[:]); err != nil {
			return !isTimeout(err)
		}
		if h[0]&0x0f == 0x8 {
			return true
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(w.r, b[:]); err != nil {
				return !isTimeout(err)
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(w.r, b[:]); err != nil {
				return !isTimeout(err)
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if _, err := io.CopyN(io.Discard, w.r, int64(n)); err != nil {
			return !isTimeout(err)
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
