package hostile

import (
	"testing"
	"time"
)

// TestHugeDeclaredFrameClosedAtOnce sends a WebSocket frame whose header
// declares 1 TiB, far beyond MAX_PAYLOAD, and a few bytes of it: the
// header alone shows the message is too large, so the session should be
// closed at once instead of waiting for bytes that never come.
func TestHugeDeclaredFrameClosedAtOnce(t *testing.T) {
	t.Skip("known bug: engineio reads a WebSocket message up to MAX_PAYLOAD+1 bytes before judging its size, so a frame declaring 1 TiB holds its session until the heartbeat closes it")
	t.Parallel()
	s := startServer(t, hostileEnv...)
	w, err := dialRawWS(t, s.addr, "", "/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.writeFrame(0x1, "40")
	w.Write(append(frameHeader(0x1, true, 1<<40), "4aaaa"...))
	if !w.waitClosed(time.Second) {
		t.Errorf("session still open 1s after a frame declaring 1 TiB (MAX_PAYLOAD=%d)", maxPayload)
	}
}
