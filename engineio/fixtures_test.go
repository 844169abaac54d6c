package engineio

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fixtureStep is one recorded step (see e2e/node/engineio/record.js).
type fixtureStep struct {
	Do             string `json:"do"` // get, post, ws-open, ws-send, ws-recv
	Query          string `json:"query"`
	ContentType    string `json:"contentType"`
	Body           string `json:"body"`
	BodyHex        string `json:"bodyHex"`
	Status         int    `json:"status"`
	ResContentType string `json:"resContentType"`
	ResBody        string `json:"resBody"`
	ResBodyHex     string `json:"resBodyHex"`
	Text           string `json:"text"`
	BinaryHex      string `json:"binaryHex"`
}

type fixtureExchange struct {
	Name  string        `json:"name"`
	Steps []fixtureStep `json:"steps"`
}

// sidPattern finds the session id in an open packet, also in the JSONP
// form where the quotes are escaped.
var sidPattern = regexp.MustCompile(`\\?"sid\\?":\\?"([^"\\]+)`)

// TestFixtures replays the exchanges recorded from the reference servers
// (engine.io 6 for protocol 4, engine.io 3 for protocol 3) against ours and
// compares status, Content-Type and body byte for byte, the session id
// aside.
func TestFixtures(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"eio4.json", "eio3.json"} {
		raw, err := os.ReadFile(filepath.Join("..", "testdata", "engineio", file))
		if err != nil {
			t.Fatal(err)
		}
		var exchanges []fixtureExchange
		if err := json.Unmarshal(raw, &exchanges); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(exchanges) < 8 {
			t.Fatalf("%s: only %d exchanges", file, len(exchanges))
		}
		for _, ex := range exchanges {
			t.Run(strings.TrimSuffix(file, ".json")+"/"+ex.Name, func(t *testing.T) {
				t.Parallel()
				replay(t, ex.Steps)
			})
		}
	}
}

func replay(t *testing.T, steps []fixtureStep) {
	ts := newTestServer(t, &Options{PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second, MaxPayload: 1e6})
	sid := ""
	var ws *websocket.Conn
	learn := func(s string) {
		if m := sidPattern.FindStringSubmatch(s); m != nil {
			sid = m[1]
		}
	}
	expand := func(s string) string { return strings.ReplaceAll(s, "{sid}", sid) }
	for i, st := range steps {
		where := fmt.Sprintf("step %d (%s %s)", i, st.Do, st.Query)
		switch st.Do {
		case "get", "post":
			var body *strings.Reader
			if st.Do == "post" {
				b := []byte(st.Body)
				if st.BodyHex != "" {
					b = mustHex(t, st.BodyHex)
				}
				body = strings.NewReader(string(b))
			}
			method := http.MethodGet
			if st.Do == "post" {
				method = http.MethodPost
			}
			var status int
			var hdr http.Header
			var got string
			if body != nil {
				status, hdr, got = ts.do(method, expand(st.Query), st.ContentType, body)
			} else {
				status, hdr, got = ts.do(method, expand(st.Query), st.ContentType, nil)
			}
			learn(got)
			want := st.ResBody
			if st.ResBodyHex != "" {
				want = string(mustHex(t, st.ResBodyHex))
			}
			if status != st.Status || hdr.Get("Content-Type") != st.ResContentType || got != expand(want) {
				t.Fatalf("%s: got %d %q %q\nwant %d %q %q", where, status, hdr.Get("Content-Type"), got, st.Status, st.ResContentType, expand(want))
			}
		case "ws-open":
			var err error
			if ws, err = ts.dial(expand(st.Query)); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		case "ws-send":
			if st.BinaryHex != "" {
				writeWS(t, ws, websocket.MessageBinary, string(mustHex(t, st.BinaryHex)))
			} else {
				writeWS(t, ws, websocket.MessageText, st.Text)
			}
		case "ws-recv":
			typ, got := readWS(t, ws)
			learn(got)
			wantTyp, want := websocket.MessageText, st.Text
			if st.BinaryHex != "" {
				wantTyp, want = websocket.MessageBinary, string(mustHex(t, st.BinaryHex))
			}
			if typ != wantTyp || got != expand(want) {
				t.Fatalf("%s: got %v %q, want %v %q", where, typ, got, wantTyp, expand(want))
			}
		default:
			t.Fatalf("%s: unknown step", where)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
