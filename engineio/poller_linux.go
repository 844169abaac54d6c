package engineio

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// canPoll tells whether the read poller works here.
const canPoll = true

// readPoller waits for idle connections to have something to read, all of
// them with one epoll instance and one goroutine, so that an idle session
// holds no goroutine, and no goroutine stack, of its own. A WebSocket
// session's reading is handed to the poller when it has nothing left to
// read, and so is a parked HTTP connection (park.go); the poller runs the
// waiter again, on a new goroutine, once the kernel has data, an end of
// file or an error for it.
//
// Each wait is one-shot (EPOLLONESHOT) and carries a token, never reused,
// that maps back to the connection: an event for a wait that was cancelled,
// or for a descriptor that was closed and reused meanwhile, finds no token
// and is ignored. epoll_ctl runs inside RawConn.Control, so the descriptor
// cannot be closed and reused while it is being armed.
type readPoller struct {
	once   sync.Once
	epfd   int
	err    error
	broken atomic.Bool // epoll_wait failed: no more arming

	mu      sync.Mutex
	waits   map[uint64]pollWaiter // armed waits by token
	next    uint64                // the last token given
	running bool                  // run is looping
}

// polls is the process's read poller.
var polls readPoller

// usable reports whether the poller could be set up.
func (p *readPoller) usable() bool {
	p.once.Do(func() {
		p.epfd, p.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		p.waits = make(map[uint64]pollWaiter)
	})
	return p.err == nil && !p.broken.Load()
}

// pollIdle is how long the poller's goroutine waits for events before it
// looks whether any wait is left; with none, it ends.
const pollIdle = 1000 // milliseconds

// arm asks the poller to run w.pollReady once raw has something to read.
// The wait is armed with p.mu held, so that run, which dispatches under
// p.mu, cannot start w before arm is done with it.
func (p *readPoller) arm(w pollWaiter, raw syscall.RawConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := w.waitState()
	if st.stopped {
		// The connection is closing: a wait armed now would never be
		// withdrawn, since closing the descriptor ends its events silently.
		return fmt.Errorf("engineio: wait for data: %w", net.ErrClosed)
	}
	p.next++
	tok := p.next
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(tok)),
		Pad:    int32(uint32(tok >> 32)),
	}
	var ctlErr error
	err := raw.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_MOD
		if !st.polled {
			op = syscall.EPOLL_CTL_ADD
		}
		ctlErr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
		switch {
		case ctlErr == syscall.EEXIST:
			ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		case ctlErr == syscall.ENOENT:
			ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		return fmt.Errorf("engineio: wait for data: %w", err)
	}
	st.polled = true
	p.waits[tok] = w
	st.token = tok
	if !p.running {
		p.running = true
		go p.run()
	}
	return nil
}

// cancel withdraws w's armed wait and reports whether there was one: then
// the wait will not run. Either way no wait can be armed for w afterwards:
// a reader still running when its connection is closed would otherwise arm
// one that nothing ever ends.
func (p *readPoller) cancel(w pollWaiter) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := w.waitState()
	st.stopped = true
	tok := st.token
	if tok == 0 || p.waits[tok] != w {
		return false
	}
	delete(p.waits, tok)
	st.token = 0
	return true
}

// run waits for events and starts the reading of each ready connection on
// a goroutine of its own. It ends when a wait of pollIdle finds nothing
// armed; arm starts it again.
func (p *readPoller) run() {
	events := make([]syscall.EpollEvent, 128)
	var ready []pollWaiter
	for {
		n, err := syscall.EpollWait(p.epfd, events, pollIdle)
		if err != nil && err != syscall.EINTR {
			// Nothing but a bug makes epoll_wait fail; hand every waiting
			// connection back to a goroutine, whose read then waits itself.
			p.mu.Lock()
			for tok, w := range p.waits {
				ready = append(ready, w)
				delete(p.waits, tok)
				w.waitState().token = 0
			}
			p.broken.Store(true)
			p.running = false
			p.mu.Unlock()
			p.start(ready)
			return
		}
		p.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			tok := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if w := p.waits[tok]; w != nil {
				delete(p.waits, tok)
				w.waitState().token = 0
				ready = append(ready, w)
			}
		}
		if n <= 0 && len(p.waits) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		ready = p.start(ready)
	}
}

// start runs each waiter in ready on its own goroutine, and returns ready
// emptied for reuse.
func (p *readPoller) start(ready []pollWaiter) []pollWaiter {
	for i, w := range ready {
		go w.pollReady()
		ready[i] = nil
	}
	return ready[:0]
}
