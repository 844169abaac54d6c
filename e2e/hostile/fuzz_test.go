package hostile

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// panicLog is a slog.Handler that remembers every record mentioning a
// panic: the server recovers panics in a session and logs them, so a
// recovered panic would otherwise go unnoticed.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (h *panicLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *panicLog) Handle(_ context.Context, r slog.Record) error {
	text := r.Message
	r.Attrs(func(a slog.Attr) bool {
		text += " " + a.String()
		return true
	})
	if strings.Contains(text, "panic") {
		h.mu.Lock()
		h.panics = append(h.panics, text)
		h.mu.Unlock()
	}
	return nil
}

func (h *panicLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicLog) WithGroup(string) slog.Handler      { return h }

func (h *panicLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.panics
	h.panics = nil
	return p
}

// splitFrames turns fuzz input into WebSocket messages: messages are
// separated by NUL; one starting with 0x01 is binary (without that byte),
// any other is text.
func splitFrames(data []byte) []frame {
	var out []frame
	for part := range bytes.SplitSeq(data, []byte{0}) {
		if len(part) > 0 && part[0] == 1 {
			out = append(out, frame{websocket.MessageBinary, string(part[1:])})
		} else {
			out = append(out, frame{websocket.MessageText, string(part)})
		}
	}
	return out
}

// FuzzSessionFrames sends a sequence of arbitrary WebSocket messages on a
// new session of the server main builds (in process), then a legitimate
// register. The server must never panic, even a recovered panic that
// closes only that session, and must answer the register unless it closed
// the session for what came before.
func FuzzSessionFrames(f *testing.F) {
	for _, seed := range []string{
		"40\x0042[\"register\",\"u\",\"c\"]",
		"40\x00451-[\"x\",{\"_placeholder\":true,\"num\":0}]\x00\x01abc",
		"40\x00452-[\"x\",{\"_placeholder\":true,\"num\":1}]\x00\x01a\x00\x01b",
		"40\x00461-[{\"_placeholder\":true,\"num\":0}]\x00\x01a",
		"40\x004317[1]\x0041\x0040",
		"40/x,\x0040\x0044{}",
		"2probe\x005\x006\x003",
		"40\x0042[\"register\",1e999,{}]",
		"40\x0042[\"register\",\"u\",\"c\"\x00\x01\xff",
	} {
		f.Add([]byte(seed))
	}
	logs := &panicLog{}
	s := startInProcessLogger(f, 25*time.Second, slog.New(logs))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		c, err := dialWS(wsURL(s, ""))
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, open, err := c.Read(ctx); err != nil || !bytes.HasPrefix(open, []byte("0{")) {
			t.Fatalf("open packet %q: %v", open, err)
		}
		closed := false
		for _, fr := range splitFrames(data) {
			if err := c.Write(ctx, fr.typ, []byte(fr.data)); err != nil {
				closed = true
				break
			}
		}
		if !closed {
			// A register with an ack, answered unless the session is gone.
			c.Write(ctx, websocket.MessageText, []byte(`40`))
			c.Write(ctx, websocket.MessageText, []byte(`42999["register","u","c"]`))
			for {
				_, msg, err := c.Read(ctx)
				if err != nil {
					if ctx.Err() != nil {
						t.Fatalf("no answer to register and no close within 5s")
					}
					break // closed for what came before
				}
				if bytes.HasPrefix(msg, []byte("43999[")) {
					break
				}
			}
		}
		if p := logs.take(); len(p) > 0 {
			t.Fatalf("server panicked: %q", p)
		}
	})
}
