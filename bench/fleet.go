//go:build linux

package main

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// fleet is a set of client sessions and the accounting of what they
// received. Session i belongs to user i/perUser.
type fleet struct {
	t        *target
	sources  int
	perUser  int
	sessions []*session // nil where the connect failed
	perUserN []uint32   // live sessions per user, after connect

	delivered atomic.Uint64
	// wakeAt is the delivery count at which the closed loop, waiting for its
	// window, wants a byte on wakeFd (MaxUint64: nobody is waiting).
	wakeAt      atomic.Uint64
	wakeFd      atomic.Int64 // write end of wakePipe; -1: none
	wakeOnce    sync.Once
	wakePipe    [2]int // made by the first closed loop, closed by teardown
	wakeErr     error
	lastArrival atomic.Int64 // Unix ns of the latest delivery
	badMessages atomic.Uint64
	misrouted   atomic.Uint64 // messages pushed to another user than the session's
	measureFrom atomic.Int64  // stamps sent before this are not timed; none until set
	latency     histogram

	closing  atomic.Bool
	readErrs atomic.Uint64
	firstErr atomic.Pointer[error]
	readers  sync.WaitGroup // one per session being read

	rxOnce sync.Once
	rx     *reactor // reads every session; started by the first start
	rxErr  error
}

// connectStats describes how a fleet came up.
type connectStats struct {
	Sessions      int            `json:"sessions"`
	Users         int            `json:"users"`
	PerUser       int            `json:"sessions_per_user"`
	ConnectErrors int            `json:"connect_errors"`
	FirstError    string         `json:"first_connect_error,omitempty"`
	ConnectSecs   float64        `json:"connect_seconds"`
	ConnectRate   float64        `json:"connects_per_second"`
	Handshake     latencySummary `json:"handshake"`
}

// newFleet connects n sessions, perUser per user, with conc connects in
// flight, and starts one read goroutine per session.
func newFleet(ctx context.Context, t *target, n, perUser, conc, sources int, runID string) (*fleet, connectStats) {
	f := emptyFleet(t, n, perUser, sources)
	users := len(f.perUserN)
	var (
		next      atomic.Int64
		errs      atomic.Int64
		firstErr  atomic.Pointer[error]
		handshake histogram
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				s, hs, err := t.connect(ctx, i/perUser, fmt.Sprintf("c%d-%s", i, runID), i%sources)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				handshake.record(hs)
				f.sessions[i] = s
				f.start(s)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	st := connectStats{
		Sessions:      n - int(errs.Load()),
		Users:         users,
		PerUser:       perUser,
		ConnectErrors: int(errs.Load()),
		ConnectSecs:   elapsed.Seconds(),
		ConnectRate:   float64(n-int(errs.Load())) / elapsed.Seconds(),
		Handshake:     handshake.summary(),
	}
	if p := firstErr.Load(); p != nil {
		st.FirstError = (*p).Error()
	}
	for i, s := range f.sessions {
		if s != nil {
			f.perUserN[i/perUser]++
		}
	}
	return f, st
}

// emptyFleet has room for n sessions and times nothing yet.
func emptyFleet(t *target, n, perUser, sources int) *fleet {
	users := (n + perUser - 1) / perUser
	f := &fleet{t: t, sources: sources, perUser: perUser, sessions: make([]*session, n), perUserN: make([]uint32, users)}
	f.measureFrom.Store(math.MaxInt64)
	f.wakeAt.Store(math.MaxUint64)
	f.wakeFd.Store(-1)
	return f
}

// start hands s to the fleet's reactor, which reads it until it ends. If
// that fails, s is closed and counted as a session that ended.
func (f *fleet) start(s *session) {
	if s.poll != nil {
		f.readers.Add(1)
		go readPolling(s, reactorHandler{message: f.deliver, end: f.ended})
		return
	}
	f.rxOnce.Do(func() {
		f.rx, f.rxErr = newReactor(runtime.GOMAXPROCS(0), reactorHandler{message: f.deliver, end: f.ended})
	})
	f.readers.Add(1)
	err := f.rxErr
	if err == nil {
		err = f.rx.add(s)
	}
	if err != nil {
		syscall.Close(s.fd)
		s.closed, s.err = true, err
		f.ended(s, err)
		close(s.done)
	}
}

// ended accounts a session whose reading stopped.
func (f *fleet) ended(_ *session, err error) {
	if !f.closing.Load() {
		f.readErrs.Add(1)
		f.firstErr.CompareAndSwap(nil, &err)
	}
	f.readers.Done()
}

// deliver accounts one `message` event received by s at now (Unix ns).
func (f *fleet) deliver(s *session, msg []byte, now int64) {
	st, err := parseStamp(msg)
	if err != nil {
		f.badMessages.Add(1)
		return
	}
	if st.User >= 0 && st.User != int(s.user) {
		f.misrouted.Add(1)
		return
	}
	s.track.observe(st.Seq)
	if d := f.delivered.Add(1); d >= f.wakeAt.Load() && f.wakeAt.Swap(math.MaxUint64) != math.MaxUint64 {
		if fd := f.wakeFd.Load(); fd >= 0 {
			_, _ = syscall.Write(int(fd), []byte{1})
		}
	}
	f.lastArrival.Store(now)
	if st.Sent > 0 && st.Sent >= f.measureFrom.Load() {
		f.latency.record(time.Duration(now - st.Sent))
	}
}

// wakeReader returns the read end of the pipe through which deliveries
// wake a closed loop waiting for its window (see wakeAt).
func (f *fleet) wakeReader() (int, error) {
	f.wakeOnce.Do(func() {
		f.wakeErr = syscall.Pipe2(f.wakePipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC)
		if f.wakeErr == nil {
			f.wakeFd.Store(int64(f.wakePipe[1]))
		}
	})
	if f.wakeErr != nil {
		return -1, fmt.Errorf("wake pipe: %w", f.wakeErr)
	}
	return f.wakePipe[0], nil
}

// waitDelivered waits until at least want deliveries arrived, the timeout
// passes or ctx ends; it reports whether want was reached.
func (f *fleet) waitDelivered(ctx context.Context, want uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for f.delivered.Load() < want {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// readError describes the first session that ended on its own, if any.
func (f *fleet) readError() string {
	if p := f.firstErr.Load(); p != nil && *p != nil {
		return (*p).Error()
	}
	return ""
}

// teardown drops every connection and waits for the read goroutines, after
// which the trackers may be read. It reports false if some reader did not
// end within a minute (a session the fleet lost track of).
func (f *fleet) teardown() bool {
	f.closing.Store(true)
	for _, s := range f.sessions {
		if s != nil {
			s.shutdown()
		}
	}
	done := make(chan struct{})
	go func() {
		f.readers.Wait()
		close(done)
	}()
	select {
	case <-done:
		if f.rx != nil {
			f.rx.close()
		}
		// No delivery can write to the wake pipe any more.
		if f.wakeFd.Swap(-1) >= 0 {
			syscall.Close(f.wakePipe[0])
			syscall.Close(f.wakePipe[1])
		}
		return true
	case <-time.After(time.Minute):
		return false
	}
}

// counts sums every session's tracker against sent[user], the pushes each
// user was sent. Call after teardown.
func (f *fleet) counts(sent []uint32) deliveryCounts {
	var c deliveryCounts
	for i, s := range f.sessions {
		if s != nil {
			c.add(&s.track, sent[i/f.perUser])
		}
	}
	c.Misrouted = f.misrouted.Load()
	return c
}
