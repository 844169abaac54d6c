package engineio_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"notification-server/engineio"
)

// An echo server: every message a client sends comes back to it.
func Example() {
	srv := engineio.NewServer(&engineio.Options{
		OnConnection: func(c *engineio.Conn) {
			c.OnMessage(func(data []byte, binary bool) { c.Send(data, binary) })
			c.OnClose(func(reason string) {})
		},
	})
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	hs := httptest.NewServer(mux)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) // closes the sessions
		http.DefaultClient.CloseIdleConnections()
		hs.Close()
	}()

	// The protocol by hand: handshake, send one message, poll the echo.
	res, _ := http.Get(hs.URL + "/engine.io/?EIO=4&transport=polling")
	open, _ := io.ReadAll(res.Body)
	res.Body.Close()
	sid := strings.Split(string(open), `"`)[3]
	q := hs.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	res, _ = http.Post(q, "text/plain;charset=UTF-8", strings.NewReader("4hello"))
	res.Body.Close()
	res, _ = http.Get(q)
	echo, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Printf("%s\n", echo)
	// Output: 4hello
}
