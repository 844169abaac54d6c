//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"syscall"
	"time"
)

// The closed loop's workers run on one goroutine (pushLoop) over raw
// non-blocking sockets and an epoll descriptor registered with Go's poller,
// like the reactor that reads the sessions: a worker's answer is read when
// epoll says it is there (no read that finds the socket empty, no goroutine
// wake-up per push) and its next request goes out from the same goroutine.
// Each worker still has one request in flight on its own keep-alive
// connection and pushes to its own users in turn, exactly as pusher.run's
// goroutine workers do, which remain for the open loop and single rounds.

// requestTimeout bounds the wait for one push's answer.
const requestTimeout = 30 * time.Second

// loopWorker is one keep-alive connection of the pushLoop.
type loopWorker struct {
	fd    int // -1 while not connected
	mine  []int
	k     int
	busy  bool // a request is out
	user  int
	begin time.Time
	req   []byte
	in    []byte // answer bytes read so far
	body  []byte
	rd    bytes.Reader
	br    *bufio.Reader
}

// pushLoop is one closed-loop phase on a single goroutine.
type pushLoop struct {
	p        *pusher
	ctx      context.Context
	deadline time.Time
	window   uint64 // deliveries beyond those done; 0 = no bound
	timed    bool
	epfd     int
	file     *os.File
	wake     int // read end of the fleet's wake pipe
	workers  []*loopWorker
	blocked  []*loopWorker // answered, waiting for the window to open
	events   [64]syscall.EpollEvent
	body     []byte
	scratch  [64]byte
}

// wakeSlot marks the wake pipe's events.
const wakeSlot = -1

// runClosedLoop runs a closed-loop phase on one goroutine. It returns an
// error only if it could not start, before any push was sent.
func (p *pusher) runClosedLoop(ctx context.Context, ph phase, windowDeliveries uint64) error {
	pl := &pushLoop{p: p, ctx: ctx, deadline: time.Now().Add(ph.Duration), window: windowDeliveries, timed: ph.Timed, epfd: -1}
	defer pl.close()
	if err := pl.open(); err != nil {
		return err
	}
	pl.run()
	return nil
}

func (pl *pushLoop) open() error {
	p := pl.p
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create: %w", err)
	}
	pl.epfd = epfd
	if pl.wake, err = p.f.wakeReader(); err != nil {
		return err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: wakeSlot}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pl.wake, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	for w := range p.workers {
		lw := &loopWorker{fd: -1}
		for u := w; u < len(p.sent); u += p.workers {
			if p.f.perUserN[u] > 0 {
				lw.mine = append(lw.mine, u)
			}
		}
		if len(lw.mine) == 0 {
			continue
		}
		lw.br = bufio.NewReaderSize(&lw.rd, 4096)
		pl.workers = append(pl.workers, lw)
		if err := pl.dial(len(pl.workers)-1, lw); err != nil {
			return err
		}
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		return fmt.Errorf("epoll descriptor: %w", err)
	}
	// The file owns epfd from now on. (Its Fd method would make the
	// descriptor blocking, so epfd is kept aside.)
	pl.file = os.NewFile(uintptr(epfd), "epoll")
	return nil
}

// dial connects worker i's keep-alive connection.
func (pl *pushLoop) dial(i int, lw *loopWorker) error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(pl.ctx, 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", pl.p.f.t.host)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	fd, err := detach(c)
	if err != nil {
		c.Close()
		return err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(i)}
	if err := syscall.EpollCtl(pl.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		syscall.Close(fd)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	lw.fd, lw.in = fd, lw.in[:0]
	return nil
}

func (pl *pushLoop) close() {
	pl.p.f.wakeAt.Store(math.MaxUint64)
	for _, lw := range pl.workers {
		if lw.fd >= 0 {
			syscall.Close(lw.fd)
		}
	}
	if pl.file != nil {
		pl.file.Close()
	} else if pl.epfd >= 0 {
		syscall.Close(pl.epfd)
	}
}

// run sends the first requests, then handles answers and wake-ups until
// the phase is over and every answer is in.
func (pl *pushLoop) run() {
	rc, err := pl.file.SyscallConn()
	if err != nil {
		pl.fail(nil, fmt.Errorf("epoll descriptor: %w", err))
		return
	}
	for _, lw := range pl.workers {
		pl.next(lw)
	}
	for !pl.finished() {
		// Wake up at least every 100 ms to notice the end of the phase, a
		// cancelled run or an answer that is overdue.
		pl.file.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		err := rc.Read(func(uintptr) bool {
			pl.poll()
			return pl.finished()
		})
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			pl.fail(nil, fmt.Errorf("wait for answers: %w", err))
			return
		}
		pl.tick()
	}
}

// sending reports whether the phase still sends new pushes.
func (pl *pushLoop) sending() bool {
	return pl.ctx.Err() == nil && time.Now().Before(pl.deadline)
}

// finished reports whether nothing is left to send or wait for.
func (pl *pushLoop) finished() bool {
	for _, lw := range pl.workers {
		if lw.busy {
			return false
		}
	}
	return !pl.sending() || len(pl.workers) == 0
}

// tick retries the workers waiting for the window and fails answers that
// are overdue.
func (pl *pushLoop) tick() {
	pl.unblock()
	now := time.Now()
	for i, lw := range pl.workers {
		if lw.busy && now.Sub(lw.begin) > requestTimeout {
			pl.fail(lw, fmt.Errorf("push to %s: no answer within %s", userName(lw.user), requestTimeout))
			pl.redial(i, lw)
			pl.next(lw)
		}
	}
}

// poll handles every ready event without waiting.
func (pl *pushLoop) poll() {
	for {
		n, errno := epollPoll(pl.epfd, pl.events[:])
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 || n <= 0 {
			return
		}
		for _, ev := range pl.events[:n] {
			if ev.Fd == wakeSlot {
				for {
					if m, _ := readNow(pl.wake, pl.scratch[:]); m <= 0 {
						break
					}
				}
				pl.unblock()
				continue
			}
			pl.readable(int(ev.Fd), pl.workers[ev.Fd])
		}
		if n < len(pl.events) {
			return
		}
	}
}

// readable reads worker i's socket and handles a complete answer.
func (pl *pushLoop) readable(i int, lw *loopWorker) {
	if lw.fd < 0 {
		return
	}
	if cap(lw.in)-len(lw.in) < 2048 {
		lw.in = append(lw.in, make([]byte, 4096)...)[:len(lw.in)]
	}
	n, errno := readNow(lw.fd, lw.in[len(lw.in):cap(lw.in)])
	switch {
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
		return
	case errno != 0 || n == 0:
		err := error(io.ErrUnexpectedEOF)
		if errno != 0 {
			err = errno
		}
		if lw.busy {
			pl.fail(lw, fmt.Errorf("push to %s: read answer: %w", userName(lw.user), err))
		}
		pl.redial(i, lw)
		pl.next(lw)
		return
	}
	lw.in = lw.in[:len(lw.in)+n]
	lw.rd.Reset(lw.in)
	lw.br.Reset(&lw.rd)
	status, body, keep, err := readResponse(lw.br, lw.body[:0], maxBody)
	lw.body = body[:0]
	if errors.Is(err, io.ErrUnexpectedEOF) && len(lw.in) < 1<<20 {
		return // the rest of the answer is still on its way
	}
	if !lw.busy || lw.br.Buffered()+lw.rd.Len() > 0 {
		pl.fail(lw, errors.New("worker connection: bytes beyond the answer to the one request sent"))
		pl.redial(i, lw)
		pl.next(lw)
		return
	}
	lw.busy = false
	lw.in = lw.in[:0]
	p := pl.p
	if err == nil && status != 200 {
		err = fmt.Errorf("status %d: %.200s", status, body)
	}
	if err != nil {
		pl.fail(nil, fmt.Errorf("push to %s: %w", userName(lw.user), err))
		keep = false
	} else {
		p.httpLat.record(time.Since(lw.begin))
		if n, ok := sessionCount(body); ok && p.checkCount && n != int(p.f.perUserN[lw.user]) {
			p.miscounts.Add(1)
		}
		p.pushes.Add(1)
	}
	if !keep {
		pl.redial(i, lw)
	}
	pl.next(lw)
}

// fail counts a failed push (lw set: its request is abandoned).
func (pl *pushLoop) fail(lw *loopWorker, err error) {
	if lw != nil {
		lw.busy = false
	}
	pl.p.errors.Add(1)
	pl.p.firstErr.CompareAndSwap(nil, &err)
}

// redial replaces worker i's connection; a worker that cannot reconnect
// stops.
func (pl *pushLoop) redial(i int, lw *loopWorker) {
	if lw.fd >= 0 {
		_ = syscall.EpollCtl(pl.epfd, syscall.EPOLL_CTL_DEL, lw.fd, nil)
		syscall.Close(lw.fd)
		lw.fd = -1
	}
	lw.busy = false
	if !pl.sending() {
		return
	}
	if err := pl.dial(i, lw); err != nil {
		pl.fail(nil, err)
	}
}

// next sends lw's next push if the phase goes on and the window allows;
// otherwise the worker waits for the window.
func (pl *pushLoop) next(lw *loopWorker) {
	if lw.fd < 0 || lw.busy || !pl.sending() {
		return
	}
	p := pl.p
	if pl.window > 0 {
		want := p.expected.Load() // deliveries must reach want-window
		if want > pl.window && p.f.delivered.Load() < want-pl.window {
			pl.blocked = append(pl.blocked, lw)
			p.f.wakeAt.Store(want - pl.window)
			if p.f.delivered.Load() < want-pl.window {
				return
			}
			pl.blocked = pl.blocked[:len(pl.blocked)-1]
		}
	}
	u := lw.mine[lw.k%len(lw.mine)]
	lw.k++
	seq := p.sent[u] + 1
	now := time.Now()
	var sentAt int64
	if pl.timed {
		sentAt = now.UnixNano()
	}
	pl.body = pushBody(pl.body, u, seq, sentAt, p.pad)
	p.expected.Add(uint64(p.f.perUserN[u]))
	p.sent[u] = seq
	lw.req = appendRequest(lw.req[:0], "POST", p.paths[u], p.f.t.host, p.f.t.token, "application/json", pl.body)
	lw.busy, lw.user, lw.begin = true, u, now
	if err := writeAll(lw.fd, lw.req); err != nil {
		pl.fail(lw, fmt.Errorf("push to %s: send request: %w", userName(u), err))
		i := 0
		for j, w := range pl.workers {
			if w == lw {
				i = j
			}
		}
		pl.redial(i, lw)
	}
}

// unblock sends from the workers waiting for the window, as far as it is
// open now.
func (pl *pushLoop) unblock() {
	waiting := pl.blocked
	pl.blocked = nil
	for k, lw := range waiting {
		pl.next(lw)
		if len(pl.blocked) > 0 {
			// The window closed again: the rest keep waiting, in order.
			pl.blocked = append(pl.blocked, waiting[k+1:]...)
			return
		}
	}
}

// writeAll writes b to a non-blocking socket; requests are small, so a
// full socket buffer is waited out briefly.
func writeAll(fd int, b []byte) error {
	deadline := time.Now().Add(requestTimeout)
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			if time.Now().After(deadline) {
				return errors.New("socket buffer full")
			}
			time.Sleep(100 * time.Microsecond)
		case err != nil:
			return err
		default:
			b = b[n:]
		}
	}
	return nil
}
