package engineio

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A typical push: the Socket.IO event a notification becomes.
var benchMessage = []byte(`2["message",{"title":"Build finished","body":"héllo wörld, 3 tests passed","id":12345}]`)

func benchBatch(n int) []packet {
	pkts := make([]packet, n)
	for i := range pkts {
		pkts[i] = packet{typ: packetMessage, data: benchMessage}
	}
	return pkts
}

func BenchmarkAppendPayloadV4(b *testing.B) {
	pkts := benchBatch(8)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendPayloadV4(buf[:0], pkts)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendPayloadV3(b *testing.B) {
	pkts := benchBatch(8)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendPayloadV3(buf[:0], pkts)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendBinaryPayloadV3(b *testing.B) {
	pkts := benchBatch(8)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendBinaryPayloadV3(buf[:0], pkts)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeTextPacket(b *testing.B) {
	msg := append([]byte{'4'}, benchMessage...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeTextPacket(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePayloadV4(b *testing.B) {
	body := appendPayloadV4(nil, benchBatch(8))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := decodePayloadV4(body, func(packet) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePayloadV3(b *testing.B) {
	body := appendPayloadV3(nil, benchBatch(8))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := decodePayloadV3(body, func(packet) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSend measures Conn.Send on a polling session, the fan-out
// enqueue: the queue is drained as a poll or the writer would, every 4
// messages.
func BenchmarkSend(b *testing.B) {
	srv := NewServer(&Options{OnConnection: func(*Conn) {}, MaxQueue: 1 << 20})
	s := &session{srv: srv, id: "bench", protocol: 4, notify: make(chan struct{}, 1), hbIndex: -1}
	s.conn.s = s
	c := &s.conn
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := c.Send(benchMessage, false); err != nil {
			b.Fatal(err)
		}
		if i++; i%4 == 0 {
			s.mu.Lock()
			q := s.takeQueueLocked()
			s.mu.Unlock()
			s.recycle(q)
		}
	}
}

// BenchmarkScheduler measures rescheduling a heartbeat, as every pong does.
func BenchmarkScheduler(b *testing.B) {
	sc := newScheduler(func(*session, time.Time) {})
	sessions := make([]*session, 1024)
	now := time.Now().Add(time.Hour)
	for i := range sessions {
		sessions[i] = &session{hbIndex: -1}
		sc.schedule(sessions[i], now.Add(time.Duration(i)*time.Millisecond))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sc.schedule(sessions[i%len(sessions)], now.Add(time.Duration(i)*time.Microsecond))
		i++
	}
	b.StopTimer()
	for _, s := range sessions {
		sc.remove(s)
	}
}

// BenchmarkWebSocketFanout sends each message to 100 WebSocket sessions on
// loopback, with their clients reading in this process; one op is one
// message delivered to all 100.
func BenchmarkWebSocketFanout(b *testing.B) {
	const sessions = 100
	conns := make(chan *Conn, sessions)
	srv := NewServer(&Options{MaxQueue: 1 << 20, OnConnection: func(c *Conn) { conns <- c }})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	var received atomic.Int64
	var wg sync.WaitGroup
	targets := make([]*Conn, 0, sessions)
	for i := 0; i < sessions; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/?EIO=4&transport=websocket", nil)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		defer c.CloseNow()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
				received.Add(1)
			}
		}()
		targets = append(targets, <-conns)
	}
	for received.Load() < sessions { // the open packets
		time.Sleep(time.Millisecond)
	}
	received.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	n := int64(0)
	for b.Loop() {
		for _, c := range targets {
			c.Send(benchMessage, false)
		}
		n++
		// Keep at most a few hundred messages in flight per session.
		for n*sessions-received.Load() > 256*sessions {
			time.Sleep(100 * time.Microsecond)
		}
	}
	for received.Load() < n*sessions {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(n*sessions)/b.Elapsed().Seconds(), "deliveries/s")
	for _, c := range targets {
		c.Close()
	}
	wg.Wait()
}
