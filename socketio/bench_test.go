package socketio

import (
	"encoding/json"
	"testing"
)

var benchMessage = json.RawMessage(`{"title":"New message","body":"You have a new message from Alice","id":12345,"tags":["a","b"]}`)

func BenchmarkEncodeEvent(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeEvent("/", "message", benchMessage); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEventStruct(b *testing.B) {
	msg := struct {
		Title string `json:"title"`
		ID    int    `json:"id"`
	}{"New message", 12345}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeEvent("/", "message", msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendPacket(b *testing.B) {
	buf := make([]byte, 0, 256)
	data := []byte(`["message",{"a":1}]`)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPacket(buf[:0], PacketEvent, "/admin", 0, 42, true, data)
	}
}

func BenchmarkEncodeAck(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := encodeMessage("/", "", false, 7, true, []any{true, "ok"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePacket(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"register", `21["register","user-42","c0nnecti0n-id-0123456789"]`},
		{"message", `2["message",` + string(benchMessage) + `]`},
		{"binary", `51-/admin,["upload",{"_placeholder":true,"num":0}]`},
	} {
		in := []byte(bc.in)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := decodePacket(in, testLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSplitArray(b *testing.B) {
	in := []byte(`["register","user-42","c0nnecti0n-id-0123456789"]`)
	b.ReportAllocs()
	for b.Loop() {
		_ = splitArray(in, 0)
	}
}

// BenchmarkReceiveEvent measures the receive path of a client event up to
// its handler: decode, namespace lookup, argument split, handler call.
func BenchmarkReceiveEvent(b *testing.B) {
	srv := NewServer(nil)
	defer srv.Shutdown(b.Context())
	c := &client{server: srv, protocol: 5}
	sock := &Socket{client: c, nsp: srv.Of("/")}
	var got int
	sock.On("register", func(args []json.RawMessage, _ AckFunc) { got += len(args) })
	c.sockets = []*Socket{sock}
	in := []byte(`2["register","user-42","c0nnecti0n-id-0123456789"]`)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.receive(in, false); err != nil {
			b.Fatal(err)
		}
	}
	if got == 0 {
		b.Fatal("handler not called")
	}
}
