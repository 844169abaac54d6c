//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// rawFrame builds a server frame by hand: fin bit, opcode, optional mask.
func rawFrame(fin bool, op byte, mask []byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	var m byte
	if mask != nil {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if mask == nil {
		return append(b, payload...)
	}
	b = append(b, mask...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

func TestParseFrame(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 300)
	huge := strings.Repeat("b", 70000)
	tests := []struct {
		name    string
		in      []byte
		fin     bool
		op      byte
		payload string
		n       int // bytes taken; 0 for an incomplete frame
		wantErr bool
	}{
		{"text", []byte("\x81\x0242rest"), true, opText, "42", 4, false},
		{"empty", []byte("\x81\x00"), true, opText, "", 2, false},
		{"first fragment", []byte("\x01\x03abc"), false, opText, "abc", 5, false},
		{"continuation", []byte("\x80\x01z"), true, opContinuation, "z", 3, false},
		{"16-bit length", rawFrame(true, opText, nil, []byte(long)), true, opText, long, 4 + 300, false},
		{"64-bit length", rawFrame(true, opBinary, nil, []byte(huge)), true, opBinary, huge, 10 + 70000, false},
		{"masked", []byte{0x81, 0x82, 1, 2, 3, 4, '4' ^ 1, '2' ^ 2}, true, opText, "42", 8, false},
		{"ping", []byte("\x89\x02hi"), true, opPing, "hi", 4, false},
		{"close", []byte("\x88\x02\x03\xe8"), true, opClose, "\x03\xe8", 4, false},
		{"one byte", []byte("\x81"), false, 0, "", 0, false},
		{"short payload", []byte("\x81\x05abc"), false, 0, "", 0, false},
		{"short 16-bit length", []byte("\x81\x7e\x01"), false, 0, "", 0, false},
		{"short 64-bit length", []byte("\x81\x7f\x00\x00\x00"), false, 0, "", 0, false},
		{"short mask", []byte("\x81\x82\x01\x02"), false, 0, "", 0, false},
		{"reserved bit", []byte("\xc1\x00"), false, 0, "", 0, true},
		{"unknown opcode", []byte("\x83\x00"), false, 0, "", 0, true},
		{"long control", append([]byte("\x89\x7e\x00\x7e"), make([]byte, 126)...), false, 0, "", 0, true},
		{"fragmented control", []byte("\x09\x00"), false, 0, "", 0, true},
		{"over the limit", []byte("\x82\x7f\x00\x00\x00\x00\x00\x20\x00\x00"), false, 0, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fr, n, err := parseFrame(bytes.Clone(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errFrame) {
					t.Errorf("error %v does not wrap errFrame", err)
				}
				return
			}
			if n != tt.n {
				t.Fatalf("took %d bytes, want %d", n, tt.n)
			}
			if n == 0 {
				return
			}
			if fr.fin != tt.fin || fr.op != tt.op || string(fr.payload) != tt.payload {
				t.Errorf("frame fin %v op %#x payload %.20q; want %v %#x %.20q", fr.fin, fr.op, fr.payload, tt.fin, tt.op, tt.payload)
			}
		})
	}
}

// TestParseFrameEveryPrefix checks that no cut of a valid stream is taken
// for a frame.
func TestParseFrameEveryPrefix(t *testing.T) {
	t.Parallel()
	frame := rawFrame(true, opText, []byte{9, 8, 7, 6}, []byte(strings.Repeat("x", 200)))
	for i := range len(frame) {
		if _, n, err := parseFrame(bytes.Clone(frame[:i])); n != 0 || err != nil {
			t.Fatalf("prefix of %d of %d bytes: took %d, error %v", i, len(frame), n, err)
		}
	}
}

// unmaskClient decodes one frame as a server reads it (independently of
// parseFrame): it must be final and masked.
func unmaskClient(t testing.TB, b []byte) (op byte, payload []byte, n int) {
	t.Helper()
	if len(b) < 6 || b[0]&0x80 == 0 || b[1]&0x80 == 0 {
		t.Fatalf("client frame % x: not final or not masked", b[:min(len(b), 6)])
	}
	length, i := int(b[1]&0x7f), 2
	switch length {
	case 126:
		length, i = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		length, i = int(binary.BigEndian.Uint64(b[2:])), 10
	}
	key := b[i : i+4]
	i += 4
	payload = make([]byte, length)
	for j := range payload {
		payload[j] = b[i+j] ^ key[j%4]
	}
	return b[0] & 0x0f, payload, i + length
}

func TestAppendClientFrame(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, 125, 126, 65535, 65536} {
		payload := bytes.Repeat([]byte("p"), size)
		b := appendClientFrame([]byte("keep"), opText, payload)
		if string(b[:4]) != "keep" {
			t.Fatalf("size %d: the prefix was overwritten", size)
		}
		op, got, n := unmaskClient(t, b[4:])
		if op != opText || !bytes.Equal(got, payload) || n != len(b)-4 {
			t.Errorf("size %d: op %#x, %d payload bytes, frame %d of %d bytes", size, op, len(got), n, len(b)-4)
		}
	}
}

func TestMessageAssembler(t *testing.T) {
	t.Parallel()
	type step struct {
		fr      wsFrame
		ok      bool
		op      byte
		payload string
		wantErr bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"whole message", []step{{wsFrame{true, opText, []byte("42")}, true, opText, "42", false}}},
		{"fragments around a ping", []step{
			{wsFrame{false, opText, []byte("ab")}, false, 0, "", false},
			{wsFrame{true, opPing, []byte("x")}, true, opPing, "x", false},
			{wsFrame{false, opContinuation, []byte("cd")}, false, 0, "", false},
			{wsFrame{true, opContinuation, []byte("e")}, true, opText, "abcde", false},
			{wsFrame{true, opText, []byte("next")}, true, opText, "next", false},
		}},
		{"stray continuation", []step{{wsFrame{true, opContinuation, []byte("x")}, false, 0, "", true}}},
		{"message inside a message", []step{
			{wsFrame{false, opText, []byte("a")}, false, 0, "", false},
			{wsFrame{true, opText, []byte("b")}, false, 0, "", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var a messageAssembler
			for i, st := range tt.steps {
				op, payload, ok, err := a.add(st.fr)
				if (err != nil) != st.wantErr {
					t.Fatalf("step %d: error %v, want error %v", i, err, st.wantErr)
				}
				if ok != st.ok || (ok && (op != st.op || string(payload) != st.payload)) {
					t.Fatalf("step %d: %v %#x %q; want %v %#x %q", i, ok, op, payload, st.ok, st.op, st.payload)
				}
			}
		})
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add([]byte("\x81\x0242"))
	f.Add([]byte{0x81, 0x82, 1, 2, 3, 4, 5, 6})
	f.Add(rawFrame(true, opText, nil, make([]byte, 300)))
	f.Add([]byte("\x01\x01a\x89\x00\x80\x01b"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a messageAssembler
		rest := bytes.Clone(b)
		for len(rest) > 0 {
			fr, n, err := parseFrame(rest)
			if err != nil || n == 0 {
				return
			}
			if n > len(rest) || len(fr.payload) > n {
				t.Fatalf("frame of %d bytes with %d payload bytes from %d", n, len(fr.payload), len(rest))
			}
			if _, _, _, err := a.add(fr); err != nil {
				return
			}
			rest = rest[n:]
		}
	})
}
