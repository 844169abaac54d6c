package engineio

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// The expected bytes below are written out by hand from the protocol
// specification, not produced by our encoder, so a bug shared by encoder and
// decoder cannot pass.

func TestDecodeTextPacket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		typ     byte
		data    string
		wantErr bool
	}{
		{in: "0", typ: packetOpen},
		{in: "1", typ: packetClose},
		{in: "2probe", typ: packetPing, data: "probe"},
		{in: "3", typ: packetPong},
		{in: "4hello", typ: packetMessage, data: "hello"},
		{in: "4", typ: packetMessage},
		{in: "4héllo 😀", typ: packetMessage, data: "héllo 😀"},
		{in: "5", typ: packetUpgrade},
		{in: "6", typ: packetNoop},
		{in: "", wantErr: true},
		{in: "7", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "/", wantErr: true},
	}
	for _, tt := range tests {
		p, err := decodeTextPacket([]byte(tt.in))
		if tt.wantErr {
			if !errors.Is(err, errParse) {
				t.Errorf("decodeTextPacket(%q) error = %v, want a parse error", tt.in, err)
			}
			continue
		}
		if err != nil || p.typ != tt.typ || string(p.data) != tt.data || p.binary {
			t.Errorf("decodeTextPacket(%q) = %+v, %v; want type %d data %q", tt.in, p, err, tt.typ, tt.data)
		}
	}
}

func TestDecodeWebSocketMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       []byte
		binary   bool
		protocol int
		want     packet
		wantErr  bool
	}{
		{name: "v4 text", in: []byte("4hi"), protocol: 4, want: packet{typ: packetMessage, data: []byte("hi")}},
		{name: "v4 binary is raw", in: []byte{4, 1, 2}, binary: true, protocol: 4, want: packet{typ: packetMessage, data: []byte{4, 1, 2}, binary: true}},
		{name: "v4 empty binary", in: []byte{}, binary: true, protocol: 4, want: packet{typ: packetMessage, data: []byte{}, binary: true}},
		{name: "v3 binary has a type byte", in: []byte{4, 1, 2}, binary: true, protocol: 3, want: packet{typ: packetMessage, data: []byte{1, 2}, binary: true}},
		{name: "v3 binary bad type", in: []byte{9, 1}, binary: true, protocol: 3, wantErr: true},
		{name: "v3 binary empty", in: []byte{}, binary: true, protocol: 3, wantErr: true},
		{name: "v3 text ping", in: []byte("2"), protocol: 3, want: packet{typ: packetPing, data: []byte{}}},
		{name: "bad text", in: []byte("x"), protocol: 4, wantErr: true},
	}
	for _, tt := range tests {
		p, err := decodeWebSocketMessage(tt.in, tt.binary, tt.protocol)
		if tt.wantErr {
			if !errors.Is(err, errParse) {
				t.Errorf("%s: error = %v, want a parse error", tt.name, err)
			}
			continue
		}
		if err != nil || !samePacket(p, tt.want) {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, p, err, tt.want)
		}
	}
}

func samePacket(a, b packet) bool {
	return a.typ == b.typ && a.binary == b.binary && bytes.Equal(a.data, b.data)
}

// collect decodes with fn and returns the packets.
func collect(decode func([]byte, func(packet) error) error, in []byte) ([]packet, error) {
	var out []packet
	err := decode(in, func(p packet) error {
		p.data = bytes.Clone(p.data)
		out = append(out, p)
		return nil
	})
	return out, err
}

func text(typ byte, s string) packet { return packet{typ: typ, data: []byte(s)} }
func bin(data ...byte) packet        { return packet{typ: packetMessage, data: data, binary: true} }

func TestPayloadV4(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		wire string
		pkts []packet
	}{
		{"one text", "4hello", []packet{text(4, "hello")}},
		{"three texts", "4test1\x1e4test2\x1e4test3", []packet{text(4, "test1"), text(4, "test2"), text(4, "test3")}},
		{"text and binary", "4hello\x1ebAQIDBA==", []packet{text(4, "hello"), bin(1, 2, 3, 4)}},
		{"ping", "2", []packet{text(2, "")}},
		{"multibyte", "4é€😀", []packet{text(4, "é€😀")}},
		{"empty binary", "b", []packet{bin()}},
		{"close and noop", "1\x1e6", []packet{text(1, ""), text(6, "")}},
	}
	for _, tt := range tests {
		got := appendPayloadV4(nil, tt.pkts)
		if string(got) != tt.wire {
			t.Errorf("%s: encode = %q, want %q", tt.name, got, tt.wire)
		}
		dec, err := collect(decodePayloadV4, []byte(tt.wire))
		if err != nil || len(dec) != len(tt.pkts) {
			t.Fatalf("%s: decode = %+v, %v", tt.name, dec, err)
		}
		for i := range dec {
			if !samePacket(dec[i], tt.pkts[i]) {
				t.Errorf("%s: packet %d = %+v, want %+v", tt.name, i, dec[i], tt.pkts[i])
			}
		}
	}
}

func TestDecodePayloadV4Errors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "abc", "4a\x1e", "\x1e4a", "4a\x1e\x1e4b", "b!!!", "bAQ", "9"} {
		if _, err := collect(decodePayloadV4, []byte(in)); !errors.Is(err, errParse) {
			t.Errorf("decodePayloadV4(%q) error = %v, want a parse error", in, err)
		}
	}
}

func TestPayloadV3(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		wire string
		pkts []packet
	}{
		{"one text", "6:4hello", []packet{text(4, "hello")}},
		{"two", "6:4hello1:2", []packet{text(4, "hello"), text(2, "")}},
		// é is one UTF-16 code unit (two UTF-8 bytes), € one (three bytes),
		// 😀 two (a surrogate pair; four bytes).
		{"latin", "2:4é", []packet{text(4, "é")}},
		{"euro", "2:4€", []packet{text(4, "€")}},
		{"emoji", "3:4😀", []packet{text(4, "😀")}},
		{"mixed", "9:4héllo 😀", []packet{text(4, "héllo 😀")}},
		{"ten", "10:4héllo😀😀", []packet{text(4, "héllo😀😀")}},
		{"binary base64", "10:b4AQIDBA==", []packet{bin(1, 2, 3, 4)}},
		{"text and binary", "2:4a10:b4AQIDBA==", []packet{text(4, "a"), bin(1, 2, 3, 4)}},
		{"open", "3:0{}", []packet{text(0, "{}")}},
	}
	for _, tt := range tests {
		got := appendPayloadV3(nil, tt.pkts)
		if string(got) != tt.wire {
			t.Errorf("%s: encode = %q, want %q", tt.name, got, tt.wire)
		}
		dec, err := collect(decodePayloadV3, []byte(tt.wire))
		if err != nil || len(dec) != len(tt.pkts) {
			t.Fatalf("%s: decode = %+v, %v", tt.name, dec, err)
		}
		for i := range dec {
			if !samePacket(dec[i], tt.pkts[i]) {
				t.Errorf("%s: packet %d = %+v, want %+v", tt.name, i, dec[i], tt.pkts[i])
			}
		}
	}
	if got := appendPayloadV3(nil, nil); string(got) != "0:" {
		t.Errorf("empty payload = %q, want %q", got, "0:")
	}
}

func TestDecodePayloadV3Errors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "6:4hell", "x:4", ":4", "2:4😀", // the length ends inside a surrogate pair
		"6:4hello1", "3:7ab", "-1:", "+2:4a", "99999999999:4", "2:b", "4:b4!!",
		"5:4héllo", // é counted as two units
	} {
		if _, err := collect(decodePayloadV3, []byte(in)); !errors.Is(err, errParse) {
			t.Errorf("decodePayloadV3(%q) error = %v, want a parse error", in, err)
		}
	}
	// An empty record is skipped, as the reference parser does.
	got, err := collect(decodePayloadV3, []byte("0:2:4a"))
	if err != nil || len(got) != 1 || string(got[0].data) != "a" {
		t.Errorf("decodePayloadV3 with an empty record = %+v, %v", got, err)
	}
}

func TestBinaryPayloadV3(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		wire []byte
		pkts []packet
	}{
		{"text", append([]byte{0, 6, 0xff}, "4hello"...), []packet{text(4, "hello")}},
		// Lengths count UTF-8 bytes here: "4héllo" is 7 bytes.
		{"multibyte text", append([]byte{0, 7, 0xff}, "4héllo"...), []packet{text(4, "héllo")}},
		{"emoji text", append([]byte{0, 5, 0xff}, "4😀"...), []packet{text(4, "😀")}},
		{"binary", []byte{1, 4, 0xff, 4, 1, 2, 3}, []packet{bin(1, 2, 3)}},
		{"two digit length", append([]byte{1, 1, 1, 0xff, 4}, "0123456789"...), []packet{bin([]byte("0123456789")...)}},
		{"text then binary", append(append([]byte{0, 2, 0xff}, "4a"...), 1, 2, 0xff, 4, 9), []packet{text(4, "a"), bin(9)}},
	}
	for _, tt := range tests {
		got := appendBinaryPayloadV3(nil, tt.pkts)
		if !bytes.Equal(got, tt.wire) {
			t.Errorf("%s: encode = %v, want %v", tt.name, got, tt.wire)
		}
		dec, err := collect(decodeBinaryPayloadV3, tt.wire)
		if err != nil || len(dec) != len(tt.pkts) {
			t.Fatalf("%s: decode = %+v, %v", tt.name, dec, err)
		}
		for i := range dec {
			if !samePacket(dec[i], tt.pkts[i]) {
				t.Errorf("%s: packet %d = %+v, want %+v", tt.name, i, dec[i], tt.pkts[i])
			}
		}
	}
	for _, in := range [][]byte{
		{}, {2, 1, 0xff, '4'}, {0, 0xff}, {0, 5, 0xff, '4'}, {0, 10, 0xff, '4'}, {0, 1}, {0, 0, 0xff},
		{1, 1, 0xff, 9}, {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0xff},
	} {
		if _, err := collect(decodeBinaryPayloadV3, in); !errors.Is(err, errParse) {
			t.Errorf("decodeBinaryPayloadV3(%v) error = %v, want a parse error", in, err)
		}
	}
}

func TestNeedsBinaryPayloadV3(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pkts []packet
		want bool
	}{
		{[]packet{text(4, "hello")}, false},
		{[]packet{text(4, "héllo")}, true},
		{[]packet{text(4, "a"), bin(1)}, true},
		{nil, false},
	}
	for _, tt := range tests {
		if got := needsBinaryPayloadV3(tt.pkts); got != tt.want {
			t.Errorf("needsBinaryPayloadV3(%+v) = %v, want %v", tt.pkts, got, tt.want)
		}
	}
}

func TestJSONP(t *testing.T) {
	t.Parallel()
	got := appendJSONP(nil, "3", []byte("6:4a\"b\\\n\u2028é\x01"))
	want := `___eio[3]("6:4a\"b\\\n\u2028é\u0001");`
	if string(got) != want {
		t.Errorf("appendJSONP = %s, want %s", got, want)
	}
	tests := []struct{ body, want string }{
		{"d=6%3A4hello", "6:4hello"},
		{"d=3%3A4a%5Cn", "3:4a\n"},     // backslash n from old clients is a newline
		{"d=4%3A4a%5C%5Cn", "4:4a\\n"}, // backslash, backslash, n is backslash, n
		{"d=2%3A4%C3%A9", "2:4é"},
	}
	for _, tt := range tests {
		got, err := decodeJSONPBody([]byte(tt.body))
		if err != nil || string(got) != tt.want {
			t.Errorf("decodeJSONPBody(%q) = %q, %v; want %q", tt.body, got, err, tt.want)
		}
	}
	// What engine.io-client 1.x to 3.x send: payloads with newlines and
	// with backslash-n (a JSON string's escaped newline) come back whole.
	clientEncode := func(s string) string {
		s = strings.ReplaceAll(s, `\n`, "\\\n")
		return strings.ReplaceAll(s, "\n", `\n`)
	}
	for _, payload := range []string{
		`14:42["x","a\nb"]`, "7:4a\nb\r\nc", `11:4a\\nb\n\\n`, `1:4`,
	} {
		body := "d=" + url.QueryEscape(clientEncode(payload))
		got, err := decodeJSONPBody([]byte(body))
		if err != nil || string(got) != payload {
			t.Errorf("decodeJSONPBody of the client's encoding of %q = %q, %v", payload, got, err)
		}
	}
	for _, body := range []string{"", "x=1", "d=%zz"} {
		if _, err := decodeJSONPBody([]byte(body)); !errors.Is(err, errParse) {
			t.Errorf("decodeJSONPBody(%q) error = %v, want a parse error", body, err)
		}
	}
}

func TestUTF16Len(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{"", 0}, {"abc", 3}, {"é", 1}, {"€", 1}, {"😀", 2}, {"a😀b", 4}, {"\xff", 1},
	}
	for _, tt := range tests {
		if got := utf16Len([]byte(tt.in)); got != tt.want {
			t.Errorf("utf16Len(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestUTF16LenLong checks the eight-bytes-at-a-time path against counting
// runes, with non-ASCII at every offset.
func TestUTF16LenLong(t *testing.T) {
	t.Parallel()
	for _, insert := range []string{"é", "€", "😀", "a"} {
		for pos := 0; pos < 20; pos++ {
			s := strings.Repeat("a", pos) + insert + strings.Repeat("b", 20-pos) + insert
			want := 0
			for _, r := range s {
				want++
				if r >= 0x10000 {
					want++
				}
			}
			if got := utf16Len([]byte(s)); got != want {
				t.Errorf("utf16Len(%q) = %d, want %d", s, got, want)
			}
		}
	}
}
