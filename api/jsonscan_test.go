package api

import (
	"bytes"
	"strings"
	"testing"
)

// scanMessageCases are bodies with what scanMessage must answer; a body it
// passes on (ok false) is decided by encoding/json instead.
var scanMessageCases = []struct {
	body string
	msg  string
	ok   bool
}{
	{`{"message":{"title":"t","body":"b","params":{}}}`, `{"title":"t","body":"b","params":{}}`, true},
	{` { "message" : [1, -2.5e+3, 0, 0.0, 1E-2, true, false, null, "x\"\\\/\b\f\n\r\tA"] } `, `[1, -2.5e+3, 0, 0.0, 1E-2, true, false, null, "x\"\\\/\b\f\n\r\tA"]`, true},
	{`{"Message":1,"MESSAGE":2,"x":{"message":3}}`, ``, true}, // names match exactly, as in JSON.parse
	{`{"message":1,"MESSAGE":2}`, `1`, true},
	{`{"message":1,"message":null}`, `null`, true},
	{`{}`, ``, true},
	{`{"a":"` + "\xff\xfe" + `"}`, ``, true}, // json.Valid does not check UTF-8
	{"{\"message\":\"caf\u00e9\"}\n", `"café"`, true},
	{`{"message":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`, strings.Repeat("[", 63) + strings.Repeat("]", 63), true},

	// Passed on to encoding/json: valid but unusual, or invalid.
	{`{"message":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, ``, false},
	{`{"m\u0065ssage":1}`, ``, false},
	{`{"meſsage":1}`, ``, false},
	{`null`, ``, false},
	{`[1]`, ``, false},
	{``, ``, false},
	{`{`, ``, false},
	{`{"message":1`, ``, false},
	{`{"message":1,}`, ``, false},
	{`{"message" 1}`, ``, false},
	{`{"message":1} {}`, ``, false},
	{`{"message":01}`, ``, false},
	{`{"message":-}`, ``, false},
	{`{"message":1.}`, ``, false},
	{`{"message":.5}`, ``, false},
	{`{"message":1e}`, ``, false},
	{`{"message":+1}`, ``, false},
	{`{"message":tru}`, ``, false},
	{`{"message":nul}`, ``, false},
	{`{"message":"\x"}`, ``, false},
	{`{"message":"\u12G4"}`, ``, false},
	{`{"message":"\u123"}`, ``, false},
	{"{\"message\":\"a\tb\"}", ``, false},
	{`{"message":"abc}`, ``, false},
	{`{"message":[1,]}`, ``, false},
	{`{"message":[1 2]}`, ``, false},
	{`{"message":{"a"}}`, ``, false},
	{`{"message":{1:2}}`, ``, false},
	{`{"message":1]`, ``, false},
	{"\xef\xbb\xbf{}", ``, false},
}

func TestScanMessage(t *testing.T) {
	t.Parallel()
	for _, tt := range scanMessageCases {
		msg, ok := scanMessage([]byte(tt.body))
		if ok != tt.ok || !bytes.Equal(msg, []byte(tt.msg)) {
			t.Errorf("scanMessage(%q) = %q, %v; want %q, %v", tt.body, msg, ok, tt.msg, tt.ok)
		}
	}
}
