package api

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"notification-server/registry"
)

// BenchmarkPushServer pushes through a real http.Server over loopback, set
// up as the server's main sets it up, from one keep-alive client that
// writes raw requests and reads raw answers (the client allocates nothing,
// so -benchmem counts the server's allocations per push).
func BenchmarkPushServer(b *testing.B) {
	a := newTestAPI(b, Options{}, registry.Options{})
	if err := a.reg.Register("u1", "c1"); err != nil {
		b.Fatal(err)
	}
	if err := a.reg.Bind("u1", "c1", nopSession{}); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	b.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()

	body := `{"message":{"title":"Title of message","body":"Body of message","params":{}}}`
	req := []byte("POST /api/u1/push HTTP/1.1\r\nHost: " + ln.Addr().String() +
		"\r\nX-AUTH-TOKEN: " + token + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	want := []byte("\r\n\r\n{\"sessions\":1}\n")
	br := bufio.NewReaderSize(conn, 4096)
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		answer, err := readAnswer(br)
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.HasPrefix(answer, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(answer, want) {
			b.Fatalf("answer %q", answer)
		}
	}
	// Wall time per push is mostly the two processes' wake-ups; the CPU
	// both sides spent (the client's part is small and does not change)
	// is what server changes move.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system CPU time of this process so far.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readAnswer reads one HTTP answer framed by Content-Length from br and
// returns it whole; it stays valid until the next read from br.
func readAnswer(br *bufio.Reader) ([]byte, error) {
	const cl = "\r\nContent-Length: "
	var head []byte
	for n := 1; ; {
		var err error
		if head, err = br.Peek(n); err != nil {
			return nil, err
		}
		if end := bytes.Index(head, []byte("\r\n\r\n")); end >= 0 {
			head = head[:end+4]
			break
		}
		// All that is buffered, and at least one more byte.
		n = max(len(head)+1, br.Buffered())
	}
	i := bytes.Index(head, []byte(cl))
	if i < 0 {
		return nil, errNoLength
	}
	size := 0
	for _, c := range head[i+len(cl):] {
		if c < '0' || c > '9' {
			break
		}
		size = size*10 + int(c-'0')
	}
	whole, err := br.Peek(len(head) + size)
	if err != nil {
		return nil, err
	}
	_, _ = br.Discard(len(whole))
	return whole, nil
}

var errNoLength = errors.New("answer without Content-Length")
