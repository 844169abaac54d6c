//go:build unix

package engineio

import (
	"net"
	"testing"
)

// TestPeekReadable checks that peekReadable sees data and end of file
// without taking any data.
func TestPeekReadable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	raw, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	peek := func() bool {
		t.Helper()
		var got bool
		if err := raw.Control(func(fd uintptr) { got = peekReadable(fd) }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if peek() {
		t.Fatal("readable before anything was sent")
	}
	if _, err := client.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	// Waiting as the reader does, then the data is all still there.
	if err := raw.Read(peekReadable); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if n, err := server.Read(buf); err != nil || string(buf[:n]) != "ab" {
		t.Fatalf("read %q, %v after peeking; want \"ab\"", buf[:n], err)
	}
	if peek() {
		t.Fatal("readable after the data was read")
	}
	client.Close()
	if err := raw.Read(peekReadable); err != nil {
		t.Fatal(err)
	}
	if !peek() {
		t.Fatal("end of file not readable")
	}
}
