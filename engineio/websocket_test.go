package engineio

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPipelinedFirstMessage sends the upgrade request and a first message
// in one write, as a client need not wait for the 101: the message is
// already in net/http's reader when the connection is hijacked, and must be
// read (and echoed) without the client sending anything more.
func TestPipelinedFirstMessage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	addr := strings.TrimSuffix(strings.TrimPrefix(ts.base, "http://"), "/engine.io/")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	mask := [4]byte{1, 2, 3, 4}
	frame := []byte{0x81, 0x80 | 6, mask[0], mask[1], mask[2], mask[3]}
	for i, b := range []byte("4hello") {
		frame = append(frame, b^mask[i%4])
	}
	if _, err := nc.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %d", res.StatusCode)
	}
	var got []string
	for range 2 { // the open packet, then the echo
		f, err := readFrame(br)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(f.payload))
	}
	if !strings.HasPrefix(got[0], "0{") || got[1] != "4hello" {
		t.Errorf("got %q, want the open packet and the echo of 4hello", got)
	}
}
