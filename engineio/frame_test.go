package engineio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestAppendFrameHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op   byte
		n    int
		want []byte
	}{
		{opText, 0, []byte{0x81, 0}},
		{opText, 125, []byte{0x81, 125}},
		{opBinary, 126, []byte{0x82, 126, 0, 126}},
		{opText, 0xffff, []byte{0x81, 126, 0xff, 0xff}},
		{opText, 0x10000, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{opBinary, 5 << 20, []byte{0x82, 127, 0, 0, 0, 0, 0, 0x50, 0, 0}},
	}
	for _, tt := range tests {
		if got := appendFrameHeader(nil, tt.op, tt.n); !bytes.Equal(got, tt.want) {
			t.Errorf("op %d, %d bytes: % x, want % x", tt.op, tt.n, got, tt.want)
		}
	}
}

// frame is one frame as a client sees it.
type frame struct {
	fin     bool
	op      byte
	payload []byte
}

// readFrame reads one unmasked frame, the test's own reading of RFC 6455
// section 5.2.
func readFrame(r *bufio.Reader) (frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	if h[1]&0x80 != 0 {
		return frame{}, errors.New("masked server frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return frame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	f := frame{fin: h[0]&0x80 != 0, op: h[0] & 0x0f, payload: make([]byte, n)}
	_, err := io.ReadFull(r, f.payload)
	return f, err
}

// TestAppendFrame checks each packet's frame against the framing the
// reference server uses: text packets carry their type digit, protocol 4
// binary packets are the bare data, protocol 3 binary packets carry their
// type byte; large data is left out of the buffer, to be written after it.
func TestAppendFrame(t *testing.T) {
	t.Parallel()
	large := bytes.Repeat([]byte("L"), largePacket)
	tests := []struct {
		name     string
		p        packet
		protocol int
		op       byte
		payload  string
	}{
		{"v4 text message", packet{typ: packetMessage, data: []byte("hello")}, 4, opText, "4hello"},
		{"v4 ping", packet{typ: packetPing}, 4, opText, "2"},
		{"v4 binary", packet{typ: packetMessage, data: []byte{1, 2}, binary: true}, 4, opBinary, "\x01\x02"},
		{"v3 binary", packet{typ: packetMessage, data: []byte{1, 2}, binary: true}, 3, opBinary, "\x04\x01\x02"},
		{"v3 pong", packet{typ: packetPong, data: []byte("probe")}, 3, opText, "3probe"},
		{"v4 large text", packet{typ: packetMessage, data: large}, 4, opText, "4" + string(large)},
		{"v4 large binary", packet{typ: packetMessage, data: large, binary: true}, 4, opBinary, string(large)},
	}
	for _, tt := range tests {
		b, tail := appendFrame([]byte("before"), tt.p, tt.protocol)
		if (tail != nil) != (len(tt.p.data) >= largePacket) {
			t.Errorf("%s: tail of %d bytes for %d bytes of data", tt.name, len(tail), len(tt.p.data))
		}
		if tail != nil && &tail[0] != &tt.p.data[0] {
			t.Errorf("%s: large data was copied", tt.name)
		}
		if !bytes.HasPrefix(b, []byte("before")) {
			t.Fatalf("%s: appendFrame lost what was before", tt.name)
		}
		f, err := readFrame(bufio.NewReader(bytes.NewReader(append(b[len("before"):], tail...))))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !f.fin || f.op != tt.op || string(f.payload) != tt.payload {
			t.Errorf("%s: fin %v op %d payload %.20q, want op %d payload %.20q", tt.name, f.fin, f.op, f.payload, tt.op, tt.payload)
		}
	}
}

// TestWebSocketMessageSizes sends messages of every length class through
// the server to a coder/websocket client, so the frames are read by
// another implementation, with both protocols.
func TestWebSocketMessageSizes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Options{OnConnection: func(c *Conn) {}})
	sizes := []int{0, 1, 124, 125, 126, 4094, 4095, 4096, 65534, 65535, 65536, 200_000}
	for _, protocol := range []int{3, 4} {
		c, err := ts.dial(fmt.Sprintf("EIO=%d&transport=websocket", protocol))
		if err != nil {
			t.Fatal(err)
		}
		readWS(t, c) // open
		conn := ts.nextConn()
		var want []string
		for i, n := range sizes {
			data := bytes.Repeat([]byte{'a' + byte(i)}, n)
			binary := i%2 == 1
			// Sent back to back, without reading: some go out at once,
			// others queue behind them for the writer goroutine.
			if err := conn.Send(data, binary); err != nil {
				t.Fatalf("v%d Send %d bytes: %v", protocol, n, err)
			}
			switch {
			case !binary:
				want = append(want, "4"+string(data))
			case protocol == 3:
				want = append(want, "\x04"+string(data))
			default:
				want = append(want, string(data))
			}
		}
		for i, w := range want {
			typ, got := readWS(t, c)
			wantTyp := websocket.MessageText
			if i%2 == 1 {
				wantTyp = websocket.MessageBinary
			}
			if typ != wantTyp || got != w {
				t.Errorf("v%d message %d (%d bytes): type %v, %d bytes %.10q; want type %v, %d bytes %.10q",
					protocol, i, sizes[i], typ, len(got), got, wantTyp, len(w), w)
			}
		}
		c.CloseNow()
	}
}

// TestFrameWriterCloseSent checks that no data frame follows a close frame.
func TestFrameWriterCloseSent(t *testing.T) {
	t.Parallel()
	c := &deadlineConn{}
	w := newFrameWriter(c, nil)
	if err := w.writeBatch([]packet{{typ: packetMessage, data: []byte("a")}}, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{0x88, 2, 0x03, 0xe8}); err != nil {
		t.Fatal(err)
	}
	if err := w.writeBatch([]packet{{typ: packetMessage, data: []byte("b")}}, 4); !errors.Is(err, net.ErrClosed) {
		t.Errorf("writeBatch after a close frame: %v, want net.ErrClosed", err)
	}
}

// recordingConn records each write it is given, and where its bytes lay.
type recordingConn struct {
	deadlineConn
	writes [][]byte
	from   []*byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	c.from = append(c.from, &p[0])
	return len(p), nil
}

// TestFrameWriterLargeUncopied checks that a batch's large packet is
// written where it lies, after the frames collected before it, and that
// small frames are collected into one write.
func TestFrameWriterLargeUncopied(t *testing.T) {
	t.Parallel()
	c := &recordingConn{}
	w := newFrameWriter(c, nil)
	large := bytes.Repeat([]byte("L"), largePacket)
	batch := []packet{
		{typ: packetMessage, data: []byte("a")},
		{typ: packetMessage, data: []byte("b")},
		{typ: packetMessage, data: large},
		{typ: packetMessage, data: []byte("c")},
	}
	if err := w.writeBatch(batch, 4); err != nil {
		t.Fatal(err)
	}
	if len(c.writes) != 3 {
		t.Fatalf("%d writes, want 3 (small frames and the large header, the large data, the last frame)", len(c.writes))
	}
	if c.from[1] != &large[0] {
		t.Error("the large packet was copied")
	}
	var all []byte
	for _, p := range c.writes {
		all = append(all, p...)
	}
	r := bufio.NewReader(bytes.NewReader(all))
	for _, want := range []string{"4a", "4b", "4" + string(large), "4c"} {
		f, err := readFrame(r)
		if err != nil || string(f.payload) != want {
			t.Fatalf("frame %.10q (%v), want %.10q", f.payload, err, want)
		}
	}
}

// deadlineConn records the write deadlines set on it.
type deadlineConn struct {
	net.Conn
	deadlines []time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.deadlines = append(c.deadlines, t)
	return nil
}

func (c *deadlineConn) Write(p []byte) (int, error) { return len(p), nil }

// TestFrameWriterDeadline checks that every write to the connection runs
// under a deadline between writeTimeout/2 and writeTimeout away, set again
// only when it comes nearer, and never cleared.
func TestFrameWriterDeadline(t *testing.T) {
	t.Parallel()
	c := &deadlineConn{}
	w := newFrameWriter(c, nil)
	check := func(step string, wantSets int) {
		t.Helper()
		if len(c.deadlines) != wantSets {
			t.Fatalf("%s: %d deadlines set, want %d", step, len(c.deadlines), wantSets)
		}
		left := time.Until(c.deadlines[len(c.deadlines)-1])
		if left < writeTimeout/2 || left > writeTimeout {
			t.Fatalf("%s: deadline %v away", step, left)
		}
	}
	if _, err := w.Write([]byte{0x8a, 0}); err != nil {
		t.Fatal(err)
	}
	check("first write", 1)
	for range 3 {
		if err := w.writeBatch([]packet{{typ: packetMessage, data: []byte("b")}}, 4); err != nil {
			t.Fatal(err)
		}
	}
	check("later writes", 1)
	w.deadline = time.Now().Add(writeTimeout/2 - time.Millisecond) // as if time passed
	if err := w.writeBatch([]packet{{typ: packetMessage, data: []byte("d")}}, 4); err != nil {
		t.Fatal(err)
	}
	check("write near the deadline", 2)
}

// TestDeclaresTooMuch checks the look at the next frame's header: its
// declared length in each of the three forms against the limit, and a
// header not yet whole, which is left to the read.
func TestDeclaresTooMuch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header []byte
		want   bool
	}{
		{"short frame", []byte{0x81, 0x80 | 100}, false},
		{"16-bit length at the limit", []byte{0x81, 0x80 | 126, 0x03, 0xe8}, false},
		{"16-bit length over", []byte{0x81, 0x80 | 126, 0x03, 0xe9}, true},
		{"64-bit length of 1 TiB", []byte{0x82, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0}, true},
		{"64-bit length with the top bit set", []byte{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, true},
		{"64-bit header not whole yet", []byte{0x82, 0x80 | 127, 0, 0, 1}, false},
		{"one byte", []byte{0x81}, false},
		{"nothing (end of file)", nil, false},
	}
	for _, tt := range tests {
		ws := &wsConn{br: bufio.NewReaderSize(bytes.NewReader(tt.header), 16)}
		if got := ws.declaresTooMuch(1000); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
