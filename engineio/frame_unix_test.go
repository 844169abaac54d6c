//go:build unix

package engineio

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, the server end
// with a small send buffer and the client end with a small receive
// buffer, so that writes soon find the connection full.
func tcpPair(t *testing.T) (server *net.TCPConn, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	cc, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.Fatal("accept failed")
	}
	server, client = sc.(*net.TCPConn), cc.(*net.TCPConn)
	if err := server.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestFrameWriterFullSocket fills a connection with non-blocking writes
// until the kernel takes only part of a batch, then checks that the rest
// leaves first, whole, before a control frame written meanwhile and the
// batches written after it, and that nothing is lost or reordered.
func TestFrameWriterFullSocket(t *testing.T) {
	t.Parallel()
	if !canWriteOnce {
		t.Skip("no non-blocking writes on this system")
	}
	server, client := tcpPair(t)
	raw, err := server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	w := newFrameWriter(server, raw)

	msg := func(i int) packet {
		return packet{typ: packetMessage, data: fmt.Appendf(nil, "%05d%s", i, bytes.Repeat([]byte("x"), 300))}
	}
	sent := 0
	for ; sent < 100_000; sent++ {
		taken, pending, err := w.tryWrite([]packet{msg(sent)}, 4)
		if err != nil {
			t.Fatalf("tryWrite %d: %v", sent, err)
		}
		if !taken {
			t.Fatalf("tryWrite %d not taken with nothing pending", sent)
		}
		if pending {
			sent++
			break
		}
	}
	if w.pending == nil {
		t.Fatalf("the socket took %d frames without ever filling", sent)
	}
	if taken, _, _ := w.tryWrite([]packet{msg(sent)}, 4); taken {
		t.Fatal("tryWrite took a batch while an earlier one was pending")
	}

	// A control frame from coder/websocket and then more batches, while the
	// client has not read anything yet: they wait behind what is pending.
	pong := []byte{0x8a, 2, 'h', 'i'}
	done := make(chan error, 1)
	go func() {
		if _, err := w.Write(pong); err != nil {
			done <- err
			return
		}
		var batch []packet
		for i := sent; i < sent+50; i++ {
			batch = append(batch, msg(i))
		}
		done <- w.writeBatch(batch, 4)
	}()

	r := bufio.NewReader(client)
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	next, pongSeen := 0, false
	for next < sent+50 {
		f, err := readFrame(r)
		if err != nil {
			t.Fatalf("after %d messages: %v", next, err)
		}
		if f.op == 0xa {
			if string(f.payload) != "hi" || next != sent || pongSeen {
				t.Fatalf("pong %q after %d messages, want it once after %d", f.payload, next, sent)
			}
			pongSeen = true
			continue
		}
		if want := msg(next); f.op != opText || string(f.payload) != "4"+string(want.data) {
			t.Fatalf("message %d: op %d %.12q", next, f.op, f.payload)
		}
		next++
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !pongSeen {
		t.Error("the control frame never arrived")
	}
}
