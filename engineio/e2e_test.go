package engineio

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"notification-server/internal/nodetest"
)

// clientResult is what e2e/node/engineio/client.js prints.
type clientResult struct {
	OK         bool                `json:"ok"`
	Why        string              `json:"why"`
	Transports []string            `json:"transports"`
	Got        []map[string]string `json:"got"`
}

// TestRealClients runs the npm Engine.IO clients of three generations over
// polling only, WebSocket only, and polling then upgrade, against an echo
// server, sending non-ASCII text and binary both ways.
func TestRealClients(t *testing.T) {
	t.Parallel()
	nodetest.Dir(t)
	const text = "héllo wörld € 😀 \u2028 \"quoted\" \\ end"
	binary := hex.EncodeToString([]byte{0, 1, 2, 250, 255})
	tests := []struct {
		variant, mode string
		transports    []string
	}{
		{"v6", "polling", []string{"polling"}},
		{"v6", "websocket", []string{"websocket"}},
		{"v6", "upgrade", []string{"polling", "websocket"}},
		{"v3", "polling", []string{"polling"}},
		{"v3", "websocket", []string{"websocket"}},
		{"v3", "upgrade", []string{"polling", "websocket"}},
		{"v1", "polling", []string{"polling"}},
		{"v1", "websocket", []string{"websocket"}},
		{"v1", "upgrade", []string{"polling", "websocket"}},
	}
	for _, tt := range tests {
		t.Run(tt.variant+"/"+tt.mode, func(t *testing.T) {
			t.Parallel()
			received := make(chan string, 16)
			ts := newTestServer(t, &Options{OnConnection: func(c *Conn) {
				c.OnMessage(func(data []byte, binary bool) {
					if !binary {
						received <- string(data)
					}
					c.Send(data, binary)
				})
			}})
			url := strings.TrimSuffix(ts.base, "/engine.io/")
			res := nodetest.Run(t, 20*time.Second, nil, "engineio/client.js", tt.variant, url, tt.mode)
			var got clientResult
			if err := json.Unmarshal([]byte(strings.TrimSpace(res.Stdout)), &got); err != nil || res.Err != nil || !got.OK {
				t.Fatalf("client failed: %v\nstdout: %s\nstderr: %s", res.Err, res.Stdout, res.Stderr)
			}
			if strings.Join(got.Transports, ",") != strings.Join(tt.transports, ",") {
				t.Errorf("transports %v, want %v", got.Transports, tt.transports)
			}
			want := []map[string]string{{"text": text}, {"binary": binary}}
			if tt.mode == "upgrade" {
				want = append([]map[string]string{{"text": "before upgrade"}}, want...)
			}
			if len(got.Got) != len(want) {
				t.Fatalf("got %v, want %v", got.Got, want)
			}
			for i := range want {
				for k, v := range want[i] {
					if got.Got[i][k] != v {
						t.Errorf("message %d: got %v, want %v", i, got.Got[i], want[i])
					}
				}
			}
			// What the server received must be the text itself, except for
			// the known limit of socket.io-client 1.x in base64 polling mode
			// (see doc.go): it encodes text as UTF-8 twice, so the server
			// sees each UTF-8 byte as a character.
			wantText := text
			if tt.variant == "v1" && tt.mode == "polling" {
				wantText = latin1ToUTF8(text)
			}
			var last string
			for len(received) > 0 {
				last = <-received
			}
			if last != wantText {
				t.Errorf("server received %q, want %q", last, wantText)
			}
		})
	}
}

// latin1ToUTF8 returns the UTF-8 bytes of s read as Latin-1 characters and
// encoded as UTF-8 again: the double encoding of old clients.
func latin1ToUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}
