package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
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
	for _, seed := range []string{
		`{"Message":1,"message":2}`, `{"MESSAGE":[{"a":"}"}] , "x":null}`, `{"m\u0065ssage":3}`,
		`{"meſsage":4}`, `{"message":1,"message":null}`, `null`, ` "s" `, `{}`, `{"a":{"message":1}}`,
		`{"message":"\"}\\"}`, `{"message":-1.5e3 }`, `{"message":true,"b":false}`, "{\"message\":\"\xff\"}",
	} {
		f.Add("application/json", []byte(seed))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		msg, err := parseMessage(ct, body)
		wantMsg, wantErr := parseMessageByUnmarshal(ct, body)
		if !errors.Is(err, wantErr) || !bytes.Equal(msg, wantMsg) {
			t.Fatalf("parseMessage(%q, %q) = %q, %v; encoding/json gives %q, %v", ct, body, msg, err, wantMsg, wantErr)
		}
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
		if got := encodeMessageEvent(msg); !bytes.Equal(got, pkt) {
			t.Fatalf("encodeMessageEvent(%q) = %q, EncodeEvent gives %q", msg, got, pkt)
		}
		var args []json.RawMessage
		if len(pkt) == 0 || pkt[0] != '2' || json.Unmarshal(pkt[1:], &args) != nil || len(args) != 2 {
			t.Fatalf("encoded event %q is not 2[\"message\",...]", pkt)
		}
	})
}

// parseMessageByUnmarshal is parseMessage decoding the body with
// encoding/json into a map, which, like the original's JSON.parse, matches
// member names exactly once decoded and keeps the last of duplicates: the
// scanner must agree with it on every body.
func parseMessageByUnmarshal(contentType string, body []byte) (json.RawMessage, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" && !startsWithBrace(body) {
		return parseMessage(contentType, body)
	}
	msg, err := messageByMap(body)
	if err != nil {
		return nil, err
	}
	if len(msg) == 0 || string(msg) == "null" {
		return nil, errNoMessage
	}
	if !utf8.Valid(msg) {
		return nil, errNotUTF8
	}
	return msg, nil
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

// FuzzScanMessage checks scanMessage against encoding/json: it may pass a
// body on, but whatever it accepts json.Valid accepts, with the message
// encoding/json finds.
func FuzzScanMessage(f *testing.F) {
	for _, seed := range scanMessageCases {
		f.Add([]byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, ok := scanMessage(body)
		if !ok {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("scanMessage accepts %q, which json.Valid refuses", body)
		}
		want, err := messageByMap(body)
		if err != nil || !bytes.Equal(msg, want) {
			t.Fatalf("scanMessage(%q) = %q; encoding/json gives %q, %v", body, msg, want, err)
		}
	})
}

// messageByMap is jsonMessage by encoding/json: the "message" member of an
// object body decoded into a map, nil for a null body or none.
func messageByMap(body []byte) ([]byte, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, errNotObject
		}
		return nil, errNotJSON
	}
	return members["message"], nil
}
