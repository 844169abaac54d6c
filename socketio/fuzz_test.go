package socketio

import (
	"testing"
)

// FuzzDecodePacket checks that no input panics the decoder and that every
// accepted packet survives a round trip through AppendPacket.
func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{
		`0`, `0/admin,{"token":"1"}`, `1/admin,`, `2["foo"]`, `212["foo",{"a":[1]}]`,
		`3/admin,13["bar"]`, `4{"message":"x"}`, `51-["baz",{"_placeholder":true,"num":0}]`,
		`61-15["bar",{"_placeholder":true,"num":0}]`, `2abc["x"]`, `42{}`, `2[[[[[[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := decodePacket(in, testLimits)
		if err != nil {
			return
		}
		if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
			if args := splitArray(p.Data, 0); len(args) == 0 {
				t.Fatalf("accepted event %q without arguments", in)
			}
		}
		out := AppendPacket(nil, p.Type, p.Namespace, p.Attachments, p.ID, p.HasID, p.Data)
		q, err := decodePacket(out, testLimits)
		if err != nil {
			t.Fatalf("re-encoded %q as %q, which fails: %v", in, out, err)
		}
		if q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID || q.HasID != p.HasID ||
			q.Attachments != p.Attachments || string(q.Data) != string(p.Data) {
			t.Fatalf("round trip of %q: %+v, then %+v", in, p, q)
		}
	})
}

// FuzzReassemble checks that binary packets with any number of attachments
// either complete with placeholders all in range or fail cleanly.
func FuzzReassemble(f *testing.F) {
	f.Add([]byte(`52-["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), uint8(2))
	f.Add([]byte(`51-["m",{"_placeholder":true,"num":7}]`), uint8(1))
	f.Add([]byte(`61-3[{"x":{"_placeholder":true,"num":0}}]`), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, n uint8) {
		p, err := decodePacket(in, testLimits)
		if err != nil || p.Attachments == 0 {
			return
		}
		var r reassembler
		r.start(p)
		for i := 0; i < int(n%12); i++ {
			_, atts, done, err := r.add([]byte{byte(i)})
			if err != nil {
				return
			}
			if done {
				if len(atts) != p.Attachments {
					t.Fatalf("completed with %d attachments, announced %d", len(atts), p.Attachments)
				}
				for _, a := range splitArray(p.Data, 0) {
					if k, ok := Placeholder(a); ok && k >= len(atts) {
						t.Fatalf("placeholder %d accepted with %d attachments", k, len(atts))
					}
				}
				return
			}
		}
	})
}

// FuzzEncodeEvent checks that any event name and string argument encode to
// a packet our decoder accepts with the same name.
func FuzzEncodeEvent(f *testing.F) {
	f.Add("message", "hello")
	f.Add("é\"\\", "\x00\xff<>&")
	f.Fuzz(func(t *testing.T, event, arg string) {
		pkt, err := EncodeEvent("/", event, arg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := decodePacket(pkt, testLimits)
		if err != nil {
			if reservedEvents[event] {
				return
			}
			t.Fatalf("EncodeEvent(%q, %q) = %q, which fails: %v", event, arg, pkt, err)
		}
		name, _ := eventName(p.Data)
		if name != event && !(name != "" && !isValidUTF8(event)) {
			t.Fatalf("event %q came back as %q", event, name)
		}
	})
}
