package api

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"notification-server/socketio"
)

// FuzzParseMessage checks that whatever a push body holds, parseMessage
// either refuses it or returns a valid UTF-8 JSON value that encodes into a
// valid Socket.IO event.
func FuzzParseMessage(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{"application/json", `{"message":{"title":"t","body":"b","params":{}}}`},
		{"application/json", `{"message":null}`},
		{"application/json", `{"message":"\u0000"}`},
		{"application/json", `[1]`},
		{"", `{"message":1} {}`},
		{"application/x-www-form-urlencoded", `message=a%20b&x=1`},
		{"application/x-www-form-urlencoded", ` {"message":[1,2]}`},
		{"application/x-www-form-urlencoded; charset=utf-8", `message=%ff`},
	} {
		f.Add(seed.ct, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		msg, err := parseMessage(ct, body)
		if err != nil {
			return
		}
		if !json.Valid(msg) || !utf8.Valid(msg) {
			t.Fatalf("parseMessage(%q, %q) = %q: not valid UTF-8 JSON", ct, body, msg)
		}
		pkt, err := socketio.EncodeEvent("/", "message", msg)
		if err != nil {
			t.Fatalf("EncodeEvent(%q): %v", msg, err)
		}
		var args []json.RawMessage
		if len(pkt) == 0 || pkt[0] != '2' || json.Unmarshal(pkt[1:], &args) != nil || len(args) != 2 {
			t.Fatalf("encoded event %q is not 2[\"message\",...]", pkt)
		}
	})
}

// FuzzIDArg checks that idArg never panics and only returns non-empty,
// bounded, valid UTF-8 ids.
func FuzzIDArg(f *testing.F) {
	for _, seed := range []string{`"a"`, `42`, `-0`, `1.5`, `1e400`, `null`, `"\ud800"`, `00`, `-`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, err := idArg(raw)
		if err != nil {
			return
		}
		if id == "" || len(id) > MaxIDLength || !utf8.ValidString(id) {
			t.Fatalf("idArg(%q) = %q", raw, id)
		}
	})
}
