//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// A reactor reads every session's socket from a few goroutines (loops), each
// with its own epoll instance, instead of one goroutine per session reading
// through Go's network poller. Per delivery that saves a goroutine wake-up
// and the read that finds the socket empty before parking: a loop learns
// from epoll which sockets have data, reads each once into a large buffer
// (a burst of frames costs one read) and parses the frames in place. The
// load generator shares the machine with the server it measures, so what it
// saves goes to the server.
//
// A loop's epoll descriptor is itself registered with Go's network poller,
// so an idle loop parks like any goroutine waiting for a socket (no thread
// blocked in epoll_wait holding a P), and epoll_wait is only ever called
// with a zero timeout.

// reactorHandler receives what the loops read. Both calls are made on a
// loop's goroutine, for sessions of that loop only.
type reactorHandler struct {
	// message is called for each `message` event with the pushed JSON (valid
	// during the call only) and the time its read returned.
	message func(s *session, msg []byte, now int64)
	// end is called once when a session ended, after its socket is closed.
	end func(s *session, err error)
}

// readBufSize is each loop's read buffer: one read takes every frame a
// socket holds, up to this much.
const readBufSize = 64 << 10

type reactor struct {
	loops []*loop
	next  atomic.Uint32
	wg    sync.WaitGroup
}

// loop is one goroutine reading the sessions added to it.
type loop struct {
	h    reactorHandler
	file *os.File // the epoll descriptor, registered with Go's poller
	epfd int

	// mu is held while a batch of events is handled, and to add a session;
	// it guards slots and free.
	mu     sync.Mutex
	slots  []*session // by the slot number carried in each epoll event
	free   []int32
	events [256]syscall.EpollEvent
	buf    []byte
}

// newReactor starts n loops.
func newReactor(n int, h reactorHandler) (*reactor, error) {
	r := &reactor{}
	for range max(1, n) {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("epoll_create: %w", err)
		}
		if err := syscall.SetNonblock(epfd, true); err != nil {
			syscall.Close(epfd)
			r.close()
			return nil, fmt.Errorf("epoll descriptor: %w", err)
		}
		file := os.NewFile(uintptr(epfd), "epoll")
		rc, err := file.SyscallConn()
		if err != nil {
			file.Close()
			r.close()
			return nil, fmt.Errorf("epoll descriptor: %w", err)
		}
		l := &loop{h: h, file: file, epfd: epfd, buf: make([]byte, readBufSize)}
		r.loops = append(r.loops, l)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			// Read returns when the file is closed; poll never ends it.
			_ = rc.Read(func(uintptr) bool { return l.poll() })
		}()
	}
	return r, nil
}

// close stops the loops; call it once every session has ended.
func (r *reactor) close() {
	for _, l := range r.loops {
		l.file.Close()
	}
	r.wg.Wait()
}

// add hands a connected session to one of the loops, which reads it from
// then on until it ends. Safe to call from any goroutine.
func (r *reactor) add(s *session) error {
	l := r.loops[int(r.next.Add(1))%len(r.loops)]
	l.mu.Lock()
	defer l.mu.Unlock()
	var slot int32
	if n := len(l.free); n > 0 {
		slot, l.free = l.free[n-1], l.free[:n-1]
		l.slots[slot] = s
	} else {
		slot = int32(len(l.slots))
		l.slots = append(l.slots, s)
	}
	s.lp, s.slot = l, slot
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: slot}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		l.slots[slot] = nil
		l.free = append(l.free, slot)
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	return nil
}

// poll handles every event epoll has ready, batch after batch, and returns
// false (wait for the epoll descriptor to become readable) when a batch
// leaves nothing behind.
func (l *loop) poll() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		n, errno := epollPoll(l.epfd, l.events[:])
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 || n <= 0 {
			return false
		}
		more := n == len(l.events)
		for _, ev := range l.events[:n] {
			if s := l.slots[ev.Fd]; s != nil && l.readable(s) {
				more = true
			}
		}
		if !more {
			return false
		}
	}
}

// readable reads once from s and handles every whole frame. It reports
// whether the read filled its buffer, so more may be waiting.
func (l *loop) readable(s *session) bool {
	buf, held := l.buf, len(s.pending)
	if held > 0 {
		if cap(s.pending)-held < 4096 {
			s.pending = append(s.pending, make([]byte, max(held, 4096))...)[:held]
		}
		buf = s.pending[held:cap(s.pending)]
	}
	n, errno := readNow(s.fd, buf)
	switch {
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
		return false
	case errno != 0:
		l.finish(s, fmt.Errorf("read: %w", errno))
		return false
	case n == 0:
		l.finish(s, io.EOF)
		return false
	}
	now := time.Now().UnixNano()
	data := buf[:n]
	if held > 0 {
		data = s.pending[:held+n]
	}
	used, err := l.consume(s, data, now)
	if err != nil {
		l.finish(s, err)
		return false
	}
	switch rest := data[used:]; {
	case len(rest) == 0:
		s.pending = nil // an idle session holds no buffer
	case held > 0:
		s.pending = append(s.pending[:0], rest...)
	default:
		s.pending = append(make([]byte, 0, max(2*len(rest), 4096)), rest...)
	}
	return n == len(buf)
}

// consume handles the whole frames at the start of data and returns how
// many bytes they took.
func (l *loop) consume(s *session, data []byte, now int64) (int, error) {
	used := 0
	for {
		fr, n, err := parseFrame(data[used:])
		if err != nil || n == 0 {
			return used, err
		}
		used += n
		op, payload, ok, err := s.asm.add(fr)
		if err != nil {
			return used, err
		}
		if !ok {
			continue
		}
		switch op {
		case opText:
			switch kind, msg := classify(payload); kind {
			case frameMessage:
				l.h.message(s, msg, now)
			case framePing:
				if err := s.send(opText, []byte("3")); err != nil {
					return used, fmt.Errorf("send pong: %w", err)
				}
			case frameClose:
				return used, errServerClosed
			}
		case opPing:
			if err := s.send(opPong, payload); err != nil {
				return used, fmt.Errorf("send WebSocket pong: %w", err)
			}
		case opClose:
			s.wmu.Lock()
			answer := !s.closeSent
			s.wmu.Unlock()
			if answer {
				_ = s.send(opClose, payload[:min(2, len(payload))])
				return used, fmt.Errorf("%w: WebSocket close %x", errServerClosed, payload[:min(2, len(payload))])
			}
			return used, errClosedByClient
		}
	}
}

var errClosedByClient = errors.New("closed by the client")

// finish closes an ended session's socket and reports the end.
func (l *loop) finish(s *session, err error) {
	s.wmu.Lock()
	s.closed = true
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
	syscall.Close(s.fd)
	s.wmu.Unlock()
	l.slots[s.slot] = nil
	l.free = append(l.free, s.slot)
	s.pending, s.asm = nil, messageAssembler{}
	s.err = err
	l.h.end(s, err)
	close(s.done)
}

// The loops' system calls never block (non-blocking sockets, epoll_wait
// with a zero timeout), so they are made as raw system calls, without the
// scheduler's bookkeeping around calls that may block.

// readNow reads from a non-blocking socket.
func readNow(fd int, b []byte) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(r), errno
}

// epollPoll collects the ready events without waiting.
func epollPoll(epfd int, events []syscall.EpollEvent) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	return int(r), errno
}
