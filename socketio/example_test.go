package socketio_test

import (
	"encoding/json"
	"fmt"
	"net/http"

	"notification-server/socketio"
)

func ExampleEncodeEvent() {
	// Encode once, then hand the same bytes to every socket with SendPacket.
	pkt, err := socketio.EncodeEvent("/", "message", json.RawMessage(`{"text":"hi"}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(pkt))
	// Output: 2["message",{"text":"hi"}]
}

func ExampleNewServer() {
	srv := socketio.NewServer(nil)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("register", func(args []json.RawMessage, ack socketio.AckFunc) {
			if ack != nil {
				_ = ack(map[string]bool{"ok": len(args) == 2})
			}
		})
		s.OnDisconnect(func(reason string) {})
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	_ = mux // serve it with an http.Server
}

func ExampleSocket_Attachments() {
	srv := socketio.NewServer(nil)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("upload", func(args []json.RawMessage, ack socketio.AckFunc) {
			atts := s.Attachments() // valid while the handler runs
			for _, a := range args {
				if k, ok := socketio.Placeholder(a); ok {
					// Send the bytes back as a binary argument.
					_ = s.Emit("uploaded", socketio.Binary(atts[k]))
				}
			}
		})
	})
}
