//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkSessionRead compares the ways of reading many sessions' `message`
// events, each arriving in its own write as in a push to one session per
// user: the reactor loops over raw sockets, and the goroutine per session
// reading through coder/websocket that the load generator used before. The
// writer runs in the same process, so cpu-ns/op (user and system time of
// the whole process per message) includes its share, the same in both.
func BenchmarkSessionRead(b *testing.B) {
	const sessions = 100
	frame := rawFrame(true, opText, nil, []byte(`42["message",{"s":1,"t":0,"p":"`+strings.Repeat("x", 64)+`"}]`))
	for _, way := range []string{"reactor", "reactor-1", "goroutine"} {
		b.Run(way, func(b *testing.B) {
			peers := make(chan *rawPeer, sessions)
			release := make(chan struct{})
			tgt := scriptedServer(b, func(p *rawPeer) {
				peers <- p
				<-release
			})
			var delivered atomic.Int64
			var stop func()
			switch way {
			case "reactor":
				stop = benchReactorSessions(b, tgt, sessions, runtime.GOMAXPROCS(0), &delivered)
			case "reactor-1":
				stop = benchReactorSessions(b, tgt, sessions, 1, &delivered)
			default:
				stop = benchGoroutineSessions(b, tgt, sessions, &delivered)
			}
			conns := make([]*rawPeer, sessions)
			for i := range conns {
				conns[i] = <-peers
			}
			// The writer stands for the server: its thread's CPU per message
			// shows what the way of reading costs the sending side (wake-ups,
			// epoll callbacks run in the sender's system call).
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var before, after, wBefore, wAfter syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			syscall.Getrusage(rusageThread, &wBefore)
			b.ResetTimer()
			for i := range b.N {
				if _, err := conns[i%sessions].conn.Write(frame); err != nil {
					b.Fatal(err)
				}
			}
			syscall.Getrusage(rusageThread, &wAfter)
			for deadline := time.Now().Add(time.Minute); delivered.Load() < int64(b.N); time.Sleep(50 * time.Microsecond) {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d messages read", delivered.Load(), b.N)
				}
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			wcpu := wAfter.Utime.Nano() + wAfter.Stime.Nano() - wBefore.Utime.Nano() - wBefore.Stime.Nano()
			b.ReportMetric(float64(wcpu)/float64(b.N), "writer-cpu-ns/op")
			close(release)
			stop()
		})
	}
}

// rusageThread is RUSAGE_THREAD: the calling thread's resource usage.
const rusageThread = 1

// benchReactorSessions opens n WebSockets read by a reactor of loops loops.
func benchReactorSessions(b *testing.B, tgt *target, n, loops int, delivered *atomic.Int64) (stop func()) {
	b.Helper()
	var ended sync.WaitGroup
	rx, err := newReactor(loops, reactorHandler{
		message: func(_ *session, msg []byte, _ int64) {
			if _, err := parseStamp(msg); err == nil {
				delivered.Add(1)
			}
		},
		end: func(*session, error) { ended.Done() },
	})
	if err != nil {
		b.Fatal(err)
	}
	var all []*session
	for range n {
		c, err := net.Dial("tcp", tgt.host)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := upgrade(c, tgt.host, wsPath); err != nil {
			b.Fatal(err)
		}
		fd, err := detach(c)
		if err != nil {
			b.Fatal(err)
		}
		s := &session{fd: fd, done: make(chan struct{})}
		ended.Add(1)
		if err := rx.add(s); err != nil {
			b.Fatal(err)
		}
		all = append(all, s)
	}
	return func() {
		for _, s := range all {
			s.shutdown()
		}
		ended.Wait()
		rx.close()
	}
}

// benchGoroutineSessions opens n WebSockets each read by its own goroutine
// through coder/websocket, as the load generator did before its reactor.
func benchGoroutineSessions(b *testing.B, tgt *target, n int, delivered *atomic.Int64) (stop func()) {
	b.Helper()
	var wg sync.WaitGroup
	var conns []*websocket.Conn
	pool := sync.Pool{New: func() any { buf := make([]byte, 0, 1024); return &buf }}
	for range n {
		c, _, err := websocket.Dial(context.Background(), "ws://"+tgt.host+wsPath, nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, r, err := c.Reader(context.Background())
				if err != nil {
					return
				}
				bp := pool.Get().(*[]byte)
				buf := (*bp)[:0]
				for {
					if len(buf) == cap(buf) {
						buf = append(buf, 0)[:len(buf)]
					}
					m, err := r.Read(buf[len(buf):cap(buf)])
					buf = buf[:len(buf)+m]
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						return
					}
				}
				if kind, msg := classify(buf); kind == frameMessage {
					if _, err := parseStamp(msg); err == nil {
						delivered.Add(1)
					}
				}
				*bp = buf[:0]
				pool.Put(bp)
			}
		}()
	}
	return func() {
		for _, c := range conns {
			c.CloseNow()
		}
		wg.Wait()
	}
}
