package socketio

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var testLimits = decodeLimits{maxAttachments: 10, maxDepth: 32}

// The expected values come from the examples of the socket.io-protocol
// specification ("Packet encoding"), not from our encoder.
func TestDecodePacket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Packet
	}{
		{`0`, Packet{Type: PacketConnect, Namespace: "/"}},
		{`0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`, Packet{Type: PacketConnect, Namespace: "/admin", Data: json.RawMessage(`{"sid":"oSO0OpakMV_3jnilAAAA"}`)}},
		{`0/admin,`, Packet{Type: PacketConnect, Namespace: "/admin"}},
		{`0/random`, Packet{Type: PacketConnect, Namespace: "/random"}},
		{`0{"token":"123"}`, Packet{Type: PacketConnect, Namespace: "/", Data: json.RawMessage(`{"token":"123"}`)}},
		{`0/chat?x=y`, Packet{Type: PacketConnect, Namespace: "/chat?x=y"}},
		{`1`, Packet{Type: PacketDisconnect, Namespace: "/"}},
		{`1/admin,`, Packet{Type: PacketDisconnect, Namespace: "/admin"}},
		{`1/custom`, Packet{Type: PacketDisconnect, Namespace: "/custom"}},
		{`2["foo"]`, Packet{Type: PacketEvent, Namespace: "/", Data: json.RawMessage(`["foo"]`)}},
		{`2/admin,["bar"]`, Packet{Type: PacketEvent, Namespace: "/admin", Data: json.RawMessage(`["bar"]`)}},
		{`212["foo"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 12, HasID: true, Data: json.RawMessage(`["foo"]`)}},
		{`2/admin,0["foo"]`, Packet{Type: PacketEvent, Namespace: "/admin", ID: 0, HasID: true, Data: json.RawMessage(`["foo"]`)}},
		{`3/admin,13["bar"]`, Packet{Type: PacketAck, Namespace: "/admin", ID: 13, HasID: true, Data: json.RawMessage(`["bar"]`)}},
		{`3456[]`, Packet{Type: PacketAck, Namespace: "/", ID: 456, HasID: true, Data: json.RawMessage(`[]`)}},
		{`4{"message":"Not authorized"}`, Packet{Type: PacketConnectError, Namespace: "/", Data: json.RawMessage(`{"message":"Not authorized"}`)}},
		{`4/random,"Invalid namespace"`, Packet{Type: PacketConnectError, Namespace: "/random", Data: json.RawMessage(`"Invalid namespace"`)}},
		{`51-["baz",{"_placeholder":true,"num":0}]`, Packet{Type: PacketBinaryEvent, Namespace: "/", Attachments: 1, Data: json.RawMessage(`["baz",{"_placeholder":true,"num":0}]`)}},
		{`52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, Packet{Type: PacketBinaryEvent, Namespace: "/admin", Attachments: 2, Data: json.RawMessage(`["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)}},
		{`61-15["bar",{"_placeholder":true,"num":0}]`, Packet{Type: PacketBinaryAck, Namespace: "/", Attachments: 1, ID: 15, HasID: true, Data: json.RawMessage(`["bar",{"_placeholder":true,"num":0}]`)}},
		{`2[ "spaced" , 1 ]`, Packet{Type: PacketEvent, Namespace: "/", Data: json.RawMessage(`[ "spaced" , 1 ]`)}},
		{`2["é",{"k":"\u00e9"}]`, Packet{Type: PacketEvent, Namespace: "/", Data: json.RawMessage(`["é",{"k":"\u00e9"}]`)}},
		{`29007199254740991["max"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 9007199254740991, HasID: true, Data: json.RawMessage(`["max"]`)}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := decodePacket([]byte(tt.in), testLimits)
			if err != nil {
				t.Fatalf("decodePacket(%q): %v", tt.in, err)
			}
			if got.Type != tt.want.Type || got.Namespace != tt.want.Namespace || got.ID != tt.want.ID ||
				got.HasID != tt.want.HasID || got.Attachments != tt.want.Attachments || string(got.Data) != string(tt.want.Data) {
				t.Errorf("decodePacket(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodePacketRejects(t *testing.T) {
	t.Parallel()
	deep := "2[\"e\"," + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "]"
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", ``, ErrInvalidPacket},
		{"unknown type", `7`, ErrInvalidPacket},
		{"letter type", `abc`, ErrInvalidPacket},
		{"event object payload", `2{}`, ErrInvalidPayload},
		{"event no payload", `2`, ErrInvalidPayload},
		{"event empty array", `2[]`, ErrInvalidPayload},
		{"event name neither string nor number", `2[true]`, ErrInvalidPayload},
		{"event reserved name", `2["disconnect"]`, ErrInvalidPayload},
		{"event bad json", `2["a"`, ErrInvalidPayload},
		{"event trailing garbage", `2["a"]x`, ErrInvalidPayload},
		{"ack id letters", `2abc["message-with-ack",1]`, ErrInvalidPayload},
		{"ack id overflow", `299999999999999999999["a"]`, ErrInvalidPacket},
		{"ack id above 2^53", `29007199254740992["a"]`, ErrInvalidPacket},
		{"ack object payload", `31{}`, ErrInvalidPayload},
		{"ack no payload", `31`, ErrInvalidPayload},
		{"connect array payload", `0["a"]`, ErrInvalidPayload},
		{"connect string payload", `0"a"`, ErrInvalidPayload},
		{"disconnect payload", `1{}`, ErrInvalidPayload},
		{"error array payload", `4[]`, ErrInvalidPayload},
		{"binary no dash", `51["a",{"_placeholder":true,"num":0}]`, ErrInvalidPacket},
		{"binary zero attachments", `50-["a"]`, ErrInvalidAttachments},
		{"binary too many attachments", `511-["a"]`, ErrInvalidAttachments},
		{"binary huge count", `599999999-["a"]`, ErrInvalidPacket},
		{"binary missing count", `5-["a"]`, ErrInvalidPacket},
		{"too deep", deep, ErrTooDeep},
		{"invalid utf8", "2[\"\xff\"]", ErrInvalidPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodePacket([]byte(tt.in), testLimits)
			if !errors.Is(err, tt.want) {
				t.Errorf("decodePacket(%q) error = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestAppendPacket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ         PacketType
		nsp         string
		attachments int
		id          int64
		hasID       bool
		data        string
		want        string
	}{
		{PacketConnect, "/", 0, 0, false, ``, `0`},
		{PacketConnect, "/admin", 0, 0, false, `{"sid":"oSO0OpakMV_3jnilAAAA"}`, `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`},
		{PacketConnectError, "/", 0, 0, false, `{"message":"Not authorized"}`, `4{"message":"Not authorized"}`},
		{PacketEvent, "/", 0, 0, false, `["foo"]`, `2["foo"]`},
		{PacketEvent, "/admin", 0, 0, false, `["bar"]`, `2/admin,["bar"]`},
		{PacketEvent, "/", 0, 12, true, `["foo"]`, `212["foo"]`},
		{PacketAck, "/admin", 0, 13, true, `["bar"]`, `3/admin,13["bar"]`},
		{PacketBinaryEvent, "/", 1, 0, false, `["baz",{"_placeholder":true,"num":0}]`, `51-["baz",{"_placeholder":true,"num":0}]`},
		{PacketBinaryAck, "/", 1, 15, true, `["bar",{"_placeholder":true,"num":0}]`, `61-15["bar",{"_placeholder":true,"num":0}]`},
		{PacketBinaryAck, "/admin", 1, 1, true, `[{"_placeholder":true,"num":0}]`, `61-/admin,1[{"_placeholder":true,"num":0}]`},
		{PacketDisconnect, "/", 0, 0, false, ``, `1`},
		{PacketDisconnect, "/admin", 0, 0, false, ``, `1/admin,`},
		{PacketEvent, "", 0, 0, false, `["x"]`, `2["x"]`},
	}
	for _, tt := range tests {
		got := string(AppendPacket(nil, tt.typ, tt.nsp, tt.attachments, tt.id, tt.hasID, []byte(tt.data)))
		if got != tt.want {
			t.Errorf("AppendPacket(%d, %q, ...) = %q, want %q", tt.typ, tt.nsp, got, tt.want)
		}
	}
}

func TestEncodeEvent(t *testing.T) {
	t.Parallel()
	type obj struct {
		A int    `json:"a"`
		B string `json:"b,omitempty"`
	}
	tests := []struct {
		name  string
		nsp   string
		event string
		args  []any
		want  string
	}{
		{"no args", "/", "ping", nil, `2["ping"]`},
		{"raw", "/", "message", []any{json.RawMessage(`{"x":[1,2]}`)}, `2["message",{"x":[1,2]}]`},
		{"namespace", "/admin", "bar", nil, `2/admin,["bar"]`},
		{"scalars", "/", "m", []any{1, int64(-2), true, nil, "s", 1.5}, `2["m",1,-2,true,null,"s",1.5]`},
		{"struct", "/", "m", []any{obj{A: 1}}, `2["m",{"a":1}]`},
		{"no html escaping", "/", "m", []any{"<a&b>", map[string]string{"k": "<&>"}}, `2["m","<a&b>",{"k":"<&>"}]`},
		{"escapes", "/", "q\"\\", []any{"line\nfeed\ttab\x01"}, `2["q\"\\","line\nfeed\ttab\u0001"]`},
		{"unicode", "/", "é", []any{"日本"}, `2["é","日本"]`},
		{"invalid utf8", "/", "m", []any{"a\xffb"}, `2["m","a\ufffdb"]`},
		{"empty raw", "/", "m", []any{json.RawMessage(nil)}, `2["m",null]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := EncodeEvent(tt.nsp, tt.event, tt.args...)
			if err != nil {
				t.Fatalf("EncodeEvent: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("EncodeEvent = %s, want %s", got, tt.want)
			}
			// What we encode must decode to itself.
			if _, err := decodePacket(got, testLimits); err != nil {
				t.Errorf("decodePacket(EncodeEvent) = %v", err)
			}
		})
	}
	if _, err := EncodeEvent("/", "m", Binary{1}); !errors.Is(err, ErrBinaryArgs) {
		t.Errorf("EncodeEvent with Binary: err = %v, want ErrBinaryArgs", err)
	}
	if _, err := EncodeEvent("/", "m", make(chan int)); err == nil {
		t.Error("EncodeEvent with a channel: no error")
	}
}

func TestEncodeMessageBinary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		nsp      string
		event    string
		withName bool
		id       int64
		hasID    bool
		args     []any
		want     string
		atts     int
	}{
		{"binary event", "/", "baz", true, 0, false, []any{Binary{1, 2, 3, 4}}, `51-["baz",{"_placeholder":true,"num":0}]`, 1},
		{"two attachments", "/admin", "baz", true, 0, false, []any{Binary{1, 2}, Binary{3, 4}}, `52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, 2},
		{"binary ack", "/", "", false, 15, true, []any{"bar", Binary{1}}, `61-15["bar",{"_placeholder":true,"num":0}]`, 1},
		{"plain ack", "/", "", false, 456, true, []any{1, "2"}, `3456[1,"2"]`, 0},
		{"empty ack", "/x", "", false, 0, true, nil, `3/x,0[]`, 0},
		{"event with ack id", "/", "foo", true, 12, true, nil, `212["foo"]`, 0},
	}
	for _, tt := range tests {
		pkt, atts, err := encodeMessage(tt.nsp, tt.event, tt.withName, tt.id, tt.hasID, tt.args)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if string(pkt) != tt.want || len(atts) != tt.atts {
			t.Errorf("%s: got %s with %d attachments, want %s with %d", tt.name, pkt, len(atts), tt.want, tt.atts)
		}
	}
}

func TestSplitArray(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{`[]`, nil},
		{`["a"]`, []string{`"a"`}},
		{`["a",1,{"b":[1,2]},"c,]"]`, []string{`"a"`, `1`, `{"b":[1,2]}`, `"c,]"`}},
		{` [ "a" , "\"]" , [ ] ] `, []string{`"a"`, `"\"]"`, `[ ]`}},
	}
	for _, tt := range tests {
		got := splitArray([]byte(tt.in), 0)
		if len(got) != len(tt.want) {
			t.Errorf("splitArray(%s) = %q, want %q", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if string(got[i]) != tt.want[i] {
				t.Errorf("splitArray(%s)[%d] = %s, want %s", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestReassembler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		packet  string
		atts    int
		wantErr error
	}{
		{"ok", `52-["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, 2, nil},
		{"nested ok", `51-["m",{"a":[{"_placeholder":true,"num":0}]}]`, 1, nil},
		{"num out of range", `51-["m",{"_placeholder":true,"num":1}]`, 1, ErrInvalidAttachments},
		{"negative num", `51-["m",{"_placeholder":true,"num":-1}]`, 1, ErrInvalidAttachments},
		{"fractional num", `51-["m",{"_placeholder":true,"num":0.5}]`, 1, ErrInvalidAttachments},
		{"string num", `51-["m",{"_placeholder":true,"num":"0"}]`, 1, ErrInvalidAttachments},
		{"unused attachment", `52-["m",{"_placeholder":true,"num":0}]`, 2, ErrInvalidAttachments},
		{"no placeholder", `51-["m"]`, 1, ErrInvalidAttachments},
	}
	for _, tt := range tests {
		p, err := decodePacket([]byte(tt.packet), testLimits)
		if err != nil {
			t.Fatalf("%s: decode: %v", tt.name, err)
		}
		var r reassembler
		r.start(p)
		var done bool
		for i := 0; i < tt.atts; i++ {
			var got [][]byte
			_, got, done, err = r.add([]byte{byte(i)})
			if err != nil {
				break
			}
			if done && len(got) != tt.atts {
				t.Errorf("%s: %d attachments, want %d", tt.name, len(got), tt.atts)
			}
		}
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
		}
		if tt.wantErr == nil && !done {
			t.Errorf("%s: not done after %d attachments", tt.name, tt.atts)
		}
	}
	var r reassembler
	if _, _, _, err := r.add([]byte{1}); !errors.Is(err, ErrInvalidAttachments) {
		t.Errorf("attachment without packet: err = %v", err)
	}
}

func TestPlaceholder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		num  int
		isPh bool
	}{
		{`{"_placeholder":true,"num":3}`, 3, true},
		{`{"num":0,"_placeholder":true}`, 0, true},
		{`{"_placeholder":false,"num":0}`, 0, false},
		{`{"_placeholder":true}`, 0, false},
		{`"x"`, 0, false},
		{`{"a":1}`, 0, false},
	}
	for _, tt := range tests {
		num, ok := Placeholder(json.RawMessage(tt.in))
		if num != tt.num || ok != tt.isPh {
			t.Errorf("Placeholder(%s) = %d, %v; want %d, %v", tt.in, num, ok, tt.num, tt.isPh)
		}
	}
}

// TestNumericEventNameForm checks that a numeric event name becomes the
// listener name JavaScript's String(Number(s)) gives.
func TestNumericEventNameForm(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"42": "42", "4.20": "4.2", "1e2": "100", "-0": "0", "1e21": "1e+21",
		"1.5e-7": "1.5e-7", "0.000001": "0.000001", "-3": "-3", "1e400": "Infinity",
	} {
		if got, ok := eventName(json.RawMessage("[" + in + "]")); !ok || got != want {
			t.Errorf("eventName([%s]) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
