//go:build linux

package main

import (
	"errors"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		frame string
		kind  frameKind
		msg   string
	}{
		{`42["message",{"s":1,"t":2}]`, frameMessage, `{"s":1,"t":2}`},
		{`42["message","text"]`, frameMessage, `"text"`},
		{`42["message",[1,2]]`, frameMessage, `[1,2]`},
		{`42["other",{}]`, frameOther, ""},
		{`42["message"`, frameOther, ""}, // truncated
		{`2`, framePing, ""},
		{`2probe`, frameOther, ""},
		{`3`, frameOther, ""},
		{`6`, frameOther, ""},
		{`1`, frameClose, ""},
		{`41`, frameClose, ""},
		{`40{"sid":"abc"}`, frameConnect, ""},
		{`40`, frameConnect, ""},
		{`44{"message":"no"}`, frameConnectErr, ""},
		{``, frameOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.frame, func(t *testing.T) {
			t.Parallel()
			kind, msg := classify([]byte(tt.frame))
			if kind != tt.kind || string(msg) != tt.msg {
				t.Errorf("classify(%q) = %d, %q; want %d, %q", tt.frame, kind, msg, tt.kind, tt.msg)
			}
		})
	}
}

func TestParseStamp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msg     string
		want    stamp
		wantErr bool
	}{
		{"as pushed", `{"s":7,"t":1700000000123456789,"p":"xx"}`, stamp{7, 1700000000123456789, -1}, false},
		{"untimed", `{"s":1,"t":0,"p":""}`, stamp{1, 0, -1}, false},
		{"no padding", `{"s":3,"t":5}`, stamp{3, 5, -1}, false},
		{"keys reordered", `{"t":5,"p":"x","s":3}`, stamp{3, 5, -1}, false},
		{"whitespace", `{ "s" : 3 , "t" : 5 }`, stamp{3, 5, -1}, false},
		{"largest sequence", `{"s":4294967295,"t":1}`, stamp{4294967295, 1, -1}, false},
		{"sequence too large", `{"s":4294967296,"t":1}`, stamp{}, true},
		{"no sequence", `{"t":5}`, stamp{}, true},
		{"not an object", `"hello"`, stamp{}, true},
		{"negative sequence", `{"s":-1,"t":5}`, stamp{}, true},
		{"truncated", `{"s":3,"t":`, stamp{}, true},
		{"fast path prefix of a longer number key", `{"s":3,"t":5x}`, stamp{}, true},
		{"with its user", `{"s":3,"t":5,"u":9,"p":""}`, stamp{3, 5, 9}, false},
		{"user, keys reordered", `{"u":9,"t":5,"s":3}`, stamp{3, 5, 9}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStamp([]byte(tt.msg))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStamp(%q) error = %v, want error: %v", tt.msg, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseStamp(%q) = %+v, want %+v", tt.msg, got, tt.want)
			}
		})
	}
	if _, err := parseStamp([]byte(`{"t":5}`)); !errors.Is(err, errNoStamp) {
		t.Errorf("missing sequence: error %v, want errNoStamp", err)
	}
}

func TestPushBodyRoundTrip(t *testing.T) {
	t.Parallel()
	body := pushBody(nil, 7, 42, 1234567890123, "pad")
	want := `{"message":{"s":42,"t":1234567890123,"u":7,"p":"pad"}}`
	if string(body) != want {
		t.Fatalf("pushBody = %s, want %s", body, want)
	}
	// What a server emits is `42["message",<message>]`.
	frame := append([]byte(`42["message",`), body[len(`{"message":`):len(body)-1]...)
	frame = append(frame, ']')
	kind, msg := classify(frame)
	if kind != frameMessage {
		t.Fatalf("classify(%s) = %d, want a message", frame, kind)
	}
	st, err := parseStamp(msg)
	if err != nil || st != (stamp{42, 1234567890123, 7}) {
		t.Errorf("parseStamp(%s) = %+v, %v; want user 7", msg, st, err)
	}
}

func TestScanStampDoesNotAllocate(t *testing.T) {
	msg := []byte(`{"s":7,"t":1700000000123456789,"u":12,"p":"xx"}`)
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := scanStamp(msg); !ok {
			t.Fatal("fast path failed")
		}
	})
	if allocs != 0 {
		t.Errorf("scanStamp allocates %.0f times per call", allocs)
	}
}

func TestSessionCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		answer string
		n      int
		ok     bool
	}{
		{`{"sessions":3}`, 3, true},
		{`{"sessions": 10, "id": "x"}`, 10, true},
		{`{"id":"x","sessions":0}`, 0, true},
		{``, 0, false},
		{`{"sessions":"3"}`, 0, false},
		{`{}`, 0, false},
	}
	for _, tt := range tests {
		n, ok := sessionCount([]byte(tt.answer))
		if n != tt.n || ok != tt.ok {
			t.Errorf("sessionCount(%q) = %d, %v; want %d, %v", tt.answer, n, ok, tt.n, tt.ok)
		}
	}
}
