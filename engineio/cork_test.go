package engineio

import (
	"bytes"
	"testing"
)

// TestNeedsCork checks which drained batches go through the cork: every
// batch the small write buffer would split into several writes.
func TestNeedsCork(t *testing.T) {
	t.Parallel()
	msg := func(n int) packet { return packet{typ: packetMessage, data: bytes.Repeat([]byte("x"), n)} }
	tests := []struct {
		name  string
		batch []packet
		want  bool
	}{
		{"one packet that fits with its header", []packet{msg(wsWriteBufferSize - 12)}, false},
		{"one packet filling the buffer", []packet{msg(wsWriteBufferSize - 11)}, false},
		{"one packet a byte over the buffer", []packet{msg(wsWriteBufferSize - 10)}, true},
		{"one typical notification of 1.2 KB", []packet{msg(1200)}, true},
		{"two tiny packets", []packet{msg(1), msg(1)}, true},
		{"nothing", nil, false},
	}
	for _, tt := range tests {
		if got := needsCork(tt.batch); got != tt.want {
			t.Errorf("%s: needsCork = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// countingConn records each write it is given.
type countingConn struct {
	deadlineConn
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

// TestCorkWriterLargeWrittenThrough checks that a corked writer neither
// copies nor holds a large packet: it leaves with what was collected before
// it, in order, and the writer keeps no buffer afterwards.
func TestCorkWriterLargeWrittenThrough(t *testing.T) {
	t.Parallel()
	c := &countingConn{}
	w := &corkWriter{conn: c}
	w.setCorked()
	large := bytes.Repeat([]byte("L"), largePacket)
	for _, p := range [][]byte{[]byte("head"), large} {
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if w.buf != nil {
		t.Errorf("corked writer holds %d bytes after a large packet", len(*w.buf))
	}
	if err := w.uncork(); err != nil {
		t.Fatal(err)
	}
	got := bytes.Join(c.writes, nil)
	if want := append([]byte("head"), large...); !bytes.Equal(got, want) {
		t.Errorf("wrote %d bytes, want head then the large packet (%d bytes)", len(got), len(want))
	}
}
