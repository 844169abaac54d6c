package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSIO checks the sio mode's reference behaviours over a raw WebSocket.
// The official suite itself (socket.io-protocol's test-suite/, which expects
// the server on localhost:3000) is run by hand:
//
//	go run ./internal/conformance -mode=sio -addr=127.0.0.1:3000 &
//	cd <socket.io-protocol>/test-suite && npm ci && npm test
func TestSIO(t *testing.T) {
	t.Parallel()
	srv := newSIOServer(slog.New(slog.NewTextHandler(io.Discard, nil)))
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := startParking(mux, srv.Engine())
	defer hs.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(hs.URL, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	read := func() string {
		t.Helper()
		for {
			typ, data, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if typ == websocket.MessageText && string(data) == "2" {
				_ = conn.Write(ctx, websocket.MessageText, []byte("3"))
				continue
			}
			if typ == websocket.MessageBinary {
				return "bin:" + string(data)
			}
			return string(data)
		}
	}
	write := func(typ websocket.MessageType, s string) {
		t.Helper()
		if err := conn.Write(ctx, typ, []byte(s)); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	if got := read(); !strings.HasPrefix(got, "0{") || !strings.Contains(got, `"pingInterval":300,"pingTimeout":200,"maxPayload":1000000`) {
		t.Fatalf("open packet %q", got)
	}
	steps := []struct {
		send []string // "bin:" prefix for binary
		want []string
	}{
		{[]string{`40{"token":"123"}`}, []string{`40{"sid":`, `42["auth",{"token":"123"}]`}},
		{[]string{`42["message",1,"2",{"3":[true]}]`}, []string{`42["message-back",1,"2",{"3":[true]}]`}},
		{[]string{`42456["message-with-ack",1,"2",{"3":[false]}]`}, []string{`43456[1,"2",{"3":[false]}]`}},
		{[]string{`452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, "bin:\x01\x02\x03", "bin:\x04\x05\x06"},
			[]string{`462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, "bin:\x01\x02\x03", "bin:\x04\x05\x06"}},
		{[]string{`40/custom,`}, []string{`40/custom,{"sid":`, `42/custom,["auth",{}]`}},
		{[]string{`40/random`}, []string{`44/random,{"message":"Invalid namespace"}`}},
	}
	for _, st := range steps {
		for _, s := range st.send {
			if b, ok := strings.CutPrefix(s, "bin:"); ok {
				write(websocket.MessageBinary, b)
			} else {
				write(websocket.MessageText, s)
			}
		}
		for _, w := range st.want {
			if got := read(); !strings.HasPrefix(got, w) {
				t.Fatalf("after %q: got %q, want %q", st.send, got, w)
			}
		}
	}
}
