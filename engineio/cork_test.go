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
