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

// readPoller waits for idle WebSocket connections to have something to
// read, all of them with one epoll instance and one goroutine, so that an
// idle session holds no goroutine, and no goroutine stack, of its own. A
// connection's reading is handed to the poller when it has nothing left to
// read (arm), and the poller runs it again, on a new goroutine, once the
// kernel has data, an end of file or an error for it.
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
	waits   map[uint64]*wsConn // armed waits by token
	next    uint64             // the last token given
	running bool               // run is looping
}

// polls is the process's read poller.
var polls readPoller

// usable reports whether the poller could be set up.
func (p *readPoller) usable() bool {
	p.once.Do(func() {
		p.epfd, p.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		p.waits = make(map[uint64]*wsConn)
	})
	return p.err == nil && !p.broken.Load()
}

// pollIdle is how long the poller's goroutine waits for events before it
// looks whether any wait is left; with none, it ends.
const pollIdle = 1000 // milliseconds

// arm asks the poller to run s.readLoop(ws, true) once ws has something to
// read. The wait is armed with p.mu held, so that run, which dispatches
// under p.mu, cannot start the reading before arm is done with ws.
func (p *readPoller) arm(s *session, ws *wsConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ws.readStopped {
		// The connection is closing: a wait armed now would never be
		// withdrawn, since closing the descriptor ends its events silently.
		return fmt.Errorf("engineio: wait for websocket data: %w", net.ErrClosed)
	}
	p.next++
	tok := p.next
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(tok)),
		Pad:    int32(uint32(tok >> 32)),
	}
	var ctlErr error
	err := ws.raw.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_MOD
		if !ws.polled {
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
		return fmt.Errorf("engineio: wait for websocket data: %w", err)
	}
	ws.polled = true
	p.waits[tok] = ws
	ws.reader, ws.pollToken = s, tok
	if !p.running {
		p.running = true
		go p.run()
	}
	return nil
}

// cancel withdraws ws's armed wait and reports whether there was one: then
// the wait will not run, and the reading of ws is over. Either way no wait
// can be armed for ws afterwards: a reader still running when its
// connection is closed would otherwise arm one that nothing ever ends.
func (p *readPoller) cancel(ws *wsConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ws.readStopped = true
	tok := ws.pollToken
	if tok == 0 || p.waits[tok] != ws {
		return false
	}
	delete(p.waits, tok)
	ws.pollToken = 0
	return true
}

// run waits for events and starts the reading of each ready connection on
// a goroutine of its own. It ends when a wait of pollIdle finds nothing
// armed; arm starts it again.
func (p *readPoller) run() {
	events := make([]syscall.EpollEvent, 128)
	var ready []*wsConn
	for {
		n, err := syscall.EpollWait(p.epfd, events, pollIdle)
		if err != nil && err != syscall.EINTR {
			// Nothing but a bug makes epoll_wait fail; hand every waiting
			// connection back to a goroutine, whose read then waits itself.
			p.mu.Lock()
			for tok, ws := range p.waits {
				ready = append(ready, ws)
				delete(p.waits, tok)
				ws.pollToken = 0
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
			if ws := p.waits[tok]; ws != nil {
				delete(p.waits, tok)
				ws.pollToken = 0
				ready = append(ready, ws)
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

// start runs the reading of each connection in ready on its own goroutine,
// and returns ready emptied for reuse.
func (p *readPoller) start(ready []*wsConn) []*wsConn {
	for i, ws := range ready {
		go ws.reader.readLoop(ws, true)
		ready[i] = nil
	}
	return ready[:0]
}
