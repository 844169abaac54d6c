package engineio

import (
	"errors"
	"net/http"
	"testing"
)

// queued returns how many packets wait in s's queue and whether a writer
// owns them.
func queued(s *session) (n int, writing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue), s.writing
}

// TestQueueWaitsForFlush checks that over WebSocket Queue only queues, and
// that Flush writes everything queued, in order; a Flush with nothing
// queued does nothing.
func TestQueueWaitsForFlush(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{OnConnection: func(*Conn) {}})
	c, err := ts.dial("EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	readWS(t, c) // the open packet
	conn := ts.nextConn()
	for _, m := range []string{"a", "b", "c"} {
		if err := conn.Queue([]byte(m), false); err != nil {
			t.Fatalf("Queue(%s): %v", m, err)
		}
	}
	if n, writing := queued(conn.s); n != 3 || writing {
		t.Fatalf("after Queue: %d packets queued, writing %v; want 3 waiting for Flush", n, writing)
	}
	conn.Flush()
	for _, want := range []string{"4a", "4b", "4c"} {
		if _, got := readWS(t, c); got != want {
			t.Fatalf("read %q, want %q", got, want)
		}
	}
	conn.Flush()
	if err := conn.Send([]byte("d"), false); err != nil {
		t.Fatal(err)
	}
	if _, got := readWS(t, c); got != "4d" {
		t.Fatalf("read %q after an empty Flush and a Send, want %q", got, "4d")
	}
}

// TestQueueOverPollingIsSend checks that Queue wakes a waiting poll with no
// Flush, as Send does.
func TestQueueOverPollingIsSend(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	sid := ts.openPolling("EIO=4&transport=polling").SID
	conn := ts.nextConn()
	type answer struct {
		status int
		body   string
	}
	polled := make(chan answer, 1)
	go func() {
		status, body := ts.get("EIO=4&transport=polling&sid=" + sid)
		polled <- answer{status, body}
	}()
	waitUntil(t, "the poll to wait", func() bool {
		conn.s.mu.Lock()
		defer conn.s.mu.Unlock()
		return conn.s.polling
	})
	if err := conn.Queue([]byte("hello"), false); err != nil {
		t.Fatal(err)
	}
	if a := <-polled; a.status != 200 || a.body != "4hello" {
		t.Errorf("poll answered %d %q, want 200 %q", a.status, a.body, "4hello")
	}
}

// TestQueueParkedPollWaitsForFlush checks that Queue leaves a parked
// poll's answer, a write, to Flush.
func TestQueueParkedPollWaitsForFlush(t *testing.T) {
	t.Parallel()
	ps := newParkServer(t, nil, true, 0)
	rc, s := ps.parkedPoll()
	conn := &Conn{s: s}
	if err := conn.Queue([]byte("queued"), false); err != nil {
		t.Fatal(err)
	}
	if !isParked(s) {
		t.Fatal("Queue answered the parked poll")
	}
	conn.Flush()
	if res, body := rc.read(); res.StatusCode != http.StatusOK || body != "4queued" {
		t.Fatalf("parked poll answered %d %q after Flush, want 200 %q", res.StatusCode, body, "4queued")
	}
}

// TestQueueErrors checks Queue's errors: beyond MaxQueue the session closes
// as too slow, and a closed session refuses packets.
func TestQueueErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{OnConnection: func(*Conn) {}, MaxQueue: 2})
	c, err := ts.dial("EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	readWS(t, c) // the open packet, out of the queue
	conn := ts.nextConn()
	for i := range 2 {
		if err := conn.Queue([]byte("x"), false); err != nil {
			t.Fatalf("Queue %d: %v", i, err)
		}
	}
	if err := conn.Queue([]byte("x"), false); !errors.Is(err, ErrQueueFull) {
		t.Errorf("Queue beyond MaxQueue: %v, want ErrQueueFull", err)
	}
	if reason := ts.waitClose(conn.ID()); reason != ReasonQueueOverflow {
		t.Errorf("close reason %q, want %q", reason, ReasonQueueOverflow)
	}
	if err := conn.Queue([]byte("x"), false); !errors.Is(err, ErrClosed) {
		t.Errorf("Queue after close: %v, want ErrClosed", err)
	}
	conn.Flush() // nothing to do, and no panic
}
