package registry

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFlushed fails the test unless every packet s received is flushed
// within a generous bound: the flusher writes after Push has returned.
func waitFlushed(t *testing.T, s interface{ unflushed() int }) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.unflushed() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d received packets were never flushed", s.unflushed())
		}
		time.Sleep(time.Millisecond)
	}
}

// holdSession is a fakeSession whose first Flush takes what is queued,
// tells entered and then waits until release is closed, so a test can push
// while a flush pass is under way. It records what each Flush found
// unflushed.
type holdSession struct {
	fakeSession
	once    sync.Once
	entered chan struct{}
	release chan struct{}
	writes  []int // per Flush that found something: how many packets
}

func newHoldSession() *holdSession {
	return &holdSession{entered: make(chan struct{}), release: make(chan struct{})}
}

// Flush takes what is unflushed, then (the first time) holds, as a slow
// write would.
func (s *holdSession) Flush() {
	s.mu.Lock()
	if n := len(s.got) - s.flushed; n > 0 {
		s.writes = append(s.writes, n)
	}
	s.flushed = len(s.got)
	s.mu.Unlock()
	s.once.Do(func() {
		close(s.entered)
		<-s.release
	})
}

func (s *holdSession) flushes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.writes...)
}

// emitOnly is a Session that is not a Queuer.
type emitOnly struct{ rec fakeSession }

func (s *emitOnly) Emit(p []byte) error { return s.rec.Emit(p) }
func (s *emitOnly) Close(reason string) { s.rec.Close(reason) }

// large binds n sessions to user "u" of a new registry, which allows one
// more: firsts first, then holdSessions that never hold (their once is
// spent), so every session records its writes.
func large(t *testing.T, opts Options, n int, firsts ...Session) (*Registry, []*holdSession) {
	t.Helper()
	opts.MaxSessionsPerUser, opts.MaxPendingPerUser = n+1, n+1
	r := newRegistry(t, opts)
	var rest []*holdSession
	for i := range n {
		var s Session
		if i < len(firsts) {
			s = firsts[i]
		} else {
			h := newHoldSession()
			h.once.Do(func() {})
			rest = append(rest, h)
			s = h
		}
		id := fmt.Sprint(i)
		mustRegister(t, r, "u", id)
		mustBind(t, r, "u", id, s)
	}
	return r, rest
}

// TestFlusherBatchesPushesDuringAPass holds the flusher on the first
// session of a large user and pushes three more meanwhile: the pushes
// return without waiting for the flush, and every other session then gets
// all four in one Flush, in order; the held session gets the first alone
// and the other three in the next pass. A session that is not a Queuer gets
// each push by Emit.
func TestFlusherBatchesPushesDuringAPass(t *testing.T) {
	// Not parallel: it sets GOMAXPROCS, so that one goroutine flushes the
	// sessions in bind order and the held one stops the whole pass.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	hold := newHoldSession()
	r, rest := large(t, Options{}, parallelFanOut, hold)
	plain := &emitOnly{}
	mustRegister(t, r, "u", "plain")
	mustBind(t, r, "u", "plain", plain)

	if n := r.Push("u", []byte("0")); n != parallelFanOut+1 {
		t.Fatalf("push 0 reached %d sessions", n)
	}
	<-hold.entered
	for p := 1; p <= 3; p++ {
		finishes(t, fmt.Sprint("push ", p), func() { r.Push("u", []byte(fmt.Sprint(p))) })
	}
	if got := rest[0].flushes(); len(got) != 0 {
		t.Fatalf("a session after the held one was flushed during the held pass: %v", got)
	}
	close(hold.release)
	want := "[0 1 2 3]"
	waitFlushed(t, &hold.fakeSession)
	if got := fmt.Sprint(hold.flushes()); got != "[1 3]" {
		t.Errorf("held session's flushes wrote %s packets, want [1 3]", got)
	}
	for i, s := range rest {
		waitFlushed(t, &s.fakeSession)
		if got := fmt.Sprint(s.flushes()); got != "[4]" {
			t.Fatalf("session %d: flushes wrote %s packets, want [4]", i+1, got)
		}
		if got := fmt.Sprint(s.received()); got != want {
			t.Fatalf("session %d received %s, want %s", i+1, got, want)
		}
	}
	if got := fmt.Sprint(plain.rec.received()); got != want {
		t.Errorf("the session that is not a Queuer received %s, want %s", got, want)
	}
}

// TestFlushBacklogMakesPushWait holds the flusher's first pass and checks
// that the pushes FlushBacklog allows return at once, that the one after
// waits for the next pass to start, and that everything arrives in order.
// The held pass takes push 0's first chunk only (the first session of the
// second chunk waits in Queue until the pass holds), so push 0's second
// chunk waits for the next pass too and counts: FlushBacklog-1 more pushes
// return at once.
func TestFlushBacklogMakesPushWait(t *testing.T) {
	t.Parallel()
	const backlog = 3
	hold := newHoldSession()
	waiter := &queueWaiter{until: hold.entered}
	firsts := make([]Session, queueChunk+1)
	firsts[0], firsts[queueChunk] = hold, waiter
	for i := 1; i < queueChunk; i++ {
		h := newHoldSession()
		h.once.Do(func() {})
		firsts[i] = h
	}
	r, rest := large(t, Options{FlushBacklog: backlog}, parallelFanOut, firsts...)
	r.Push("u", []byte("0")) // its first chunk is taken by the held pass
	<-hold.entered
	if waiter.late.Load() {
		t.Fatal("the first pass did not start while push 0 queued")
	}
	for p := 1; p < backlog; p++ {
		finishes(t, fmt.Sprint("push ", p), func() { r.Push("u", []byte(fmt.Sprint(p))) })
	}
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		r.Push("u", []byte(fmt.Sprint(backlog)))
	}()
	select {
	case <-waited:
		t.Fatalf("push %d returned with %d pushes waiting for a pass", backlog, backlog)
	case <-time.After(100 * time.Millisecond):
	}
	close(hold.release)
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting push did not return after the pass started")
	}
	want := "[0 1 2 3]"
	all := []*fakeSession{&hold.fakeSession, &waiter.fakeSession}
	for i := 1; i < queueChunk; i++ {
		all = append(all, &firsts[i].(*holdSession).fakeSession)
	}
	for _, s := range rest {
		all = append(all, &s.fakeSession)
	}
	for i, s := range all {
		waitFlushed(t, s)
		if got := fmt.Sprint(s.received()); got != want {
			t.Fatalf("session %d received %s, want %s", i, got, want)
		}
	}
}

// TestUnboundSessionIsStillFlushed queues a push to a session while a
// flush pass is under way, and unbinds the session before the next pass: that
// pass still flushes the packet, though the session is no longer in the
// user's list, and the push after the Unbind does not reach it.
func TestUnboundSessionIsStillFlushed(t *testing.T) {
	// Not parallel: it sets GOMAXPROCS, so that one goroutine flushes the
	// sessions in bind order: gone, then the held one.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	gone, hold := &fakeSession{}, newHoldSession()
	r, rest := large(t, Options{}, parallelFanOut+1, gone, hold)
	r.Push("u", []byte("0"))
	<-hold.entered // gone is flushed already
	r.Push("u", []byte("1"))
	if !r.Unbind("u", "0", gone) {
		t.Fatal("Unbind failed")
	}
	r.Push("u", []byte("2"))
	close(hold.release)
	waitFlushed(t, gone)
	if got := fmt.Sprint(gone.received()); got != "[0 1]" {
		t.Errorf("the unbound session received %s, want [0 1]", got)
	}
	waitFlushed(t, &rest[0].fakeSession)
	if got := fmt.Sprint(rest[0].received()); got != "[0 1 2]" {
		t.Errorf("a bound session received %s, want [0 1 2]", got)
	}
}

// panicFlush is a fakeSession whose Flush panics while armed.
type panicFlush struct {
	fakeSession
	armed atomic.Bool
}

func (s *panicFlush) Flush() {
	if s.armed.Load() {
		panic("flush failed badly")
	}
	s.fakeSession.Flush()
}

// lineWriter hands each write (a log line) to a channel.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// TestFlushPanicIsLogged checks that a panicking Flush is logged, does not
// take the process down, and does not stop later pushes to the user from
// being queued and flushed, even past the backlog bound.
func TestFlushPanicIsLogged(t *testing.T) {
	t.Parallel()
	bad := &panicFlush{}
	bad.armed.Store(true)
	logs := make(lineWriter, 10)
	logger := slog.New(slog.NewTextHandler(logs, nil))
	r, rest := large(t, Options{FlushBacklog: 2, Logger: logger}, parallelFanOut, bad)
	r.Push("u", []byte("0"))
	select {
	case line := <-logs:
		if !strings.Contains(line, "registry: flush panicked") || !strings.Contains(line, "flush failed badly") {
			t.Errorf("logged %q, want the panic", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no panic logged")
	}
	bad.armed.Store(false)
	for p := 1; p <= 4; p++ {
		finishes(t, fmt.Sprint("push ", p), func() { r.Push("u", []byte(fmt.Sprint(p))) })
	}
	waitFlushed(t, &bad.fakeSession)
	for i, s := range rest {
		waitFlushed(t, &s.fakeSession)
		if got := fmt.Sprint(s.received()); got != "[0 1 2 3 4]" {
			t.Fatalf("session %d received %s", i+1, got)
		}
	}
}

// TestFlushAllShares checks that the shares of a parallel flush cover every
// session once, however the number of sessions divides among the
// goroutines.
func TestFlushAllShares(t *testing.T) {
	// Not parallel: it sets GOMAXPROCS.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(300))
	for _, n := range []int{1, parallelFanOut, parallelFanOut + 1, 3*parallelFanOut - 1, 76_801} {
		sessions := make([]flushCount, n)
		bs := make([]binding, n)
		for i := range bs {
			bs[i] = binding{connID: fmt.Sprint(i), session: &sessions[i]}
		}
		flushAll(bs)
		for i := range sessions {
			if c := sessions[i].n.Load(); c != 1 {
				t.Fatalf("%d sessions: session %d flushed %d times", n, i, c)
			}
		}
	}
}

// flushCount counts its Flush calls.
type flushCount struct{ n atomic.Int64 }

func (s *flushCount) Emit([]byte) error  { return nil }
func (s *flushCount) Queue([]byte) error { return nil }
func (s *flushCount) Flush()             { s.n.Add(1) }
func (s *flushCount) Close(string)       {}

// flushSignal is a fakeSession that closes flushed at its first Flush.
type flushSignal struct {
	fakeSession
	once    sync.Once
	flushed chan struct{}
}

func (s *flushSignal) Flush() {
	s.fakeSession.Flush()
	s.once.Do(func() { close(s.flushed) })
}

// queueWaiter is a fakeSession whose Queue waits until until is closed, or
// gives up after a generous bound and says so in late.
type queueWaiter struct {
	fakeSession
	until <-chan struct{}
	late  atomic.Bool
}

func (s *queueWaiter) Queue(p []byte) error {
	select {
	case <-s.until:
	case <-time.After(10 * time.Second):
		s.late.Store(true)
	}
	return s.fakeSession.Queue(p)
}

// TestFlushStartsWhileQueueing checks that a large fan-out hands its
// sessions to the flusher chunk by chunk: the first session is flushed
// while the push is still queueing to the second chunk (whose first
// session waits in Queue for that flush).
func TestFlushStartsWhileQueueing(t *testing.T) {
	t.Parallel()
	n := 2 * queueChunk
	r := newRegistry(t, Options{MaxSessionsPerUser: n, MaxPendingPerUser: n})
	first := &flushSignal{flushed: make(chan struct{})}
	waiter := &queueWaiter{until: first.flushed}
	sessions := make([]*fakeSession, n)
	for i := range n {
		var s Session
		switch i {
		case 0:
			s, sessions[i] = first, &first.fakeSession
		case queueChunk:
			s, sessions[i] = waiter, &waiter.fakeSession
		default:
			f := &fakeSession{}
			s, sessions[i] = f, f
		}
		id := fmt.Sprint(i)
		mustRegister(t, r, "u", id)
		mustBind(t, r, "u", id, s)
	}
	if got := r.Push("u", []byte("x")); got != n {
		t.Fatalf("push reached %d sessions, want %d", got, n)
	}
	if waiter.late.Load() {
		t.Fatal("the first chunk was not flushed while the push queued the second")
	}
	for i, s := range sessions {
		waitFlushed(t, s)
		if got := fmt.Sprint(s.received()); got != "[x]" {
			t.Fatalf("session %d received %s", i, got)
		}
	}
}

// twoHold is a fakeSession whose first two Flushes each signal entered[k]
// and wait for release[k]: it holds two flush passes in turn.
type twoHold struct {
	fakeSession
	n       int
	entered [2]chan struct{}
	release [2]chan struct{}
}

func newTwoHold() *twoHold {
	h := &twoHold{}
	for k := range 2 {
		h.entered[k], h.release[k] = make(chan struct{}), make(chan struct{})
	}
	return h
}

func (s *twoHold) Flush() {
	s.mu.Lock()
	s.flushed = len(s.got)
	k := s.n
	s.n++
	s.mu.Unlock()
	if k < 2 {
		close(s.entered[k])
		<-s.release[k]
	}
}

// boundedQueue is a fakeSession whose queue holds at most limit unflushed
// packets, as an engineio session with MaxQueue = limit: one more fails, as
// a queue overflow does.
type boundedQueue struct {
	fakeSession
	limit int
}

func (s *boundedQueue) Queue(p []byte) error {
	s.mu.Lock()
	full := len(s.got)-s.flushed >= s.limit
	s.mu.Unlock()
	if full {
		return errors.New("queue overflow")
	}
	return s.fakeSession.Queue(p)
}

// TestFlushBacklogBoundsQueueWhenPassTakesPartOfPush: Options.FlushBacklog
// promises that a session's queue holds at most 2*FlushBacklog packets of
// large fan-outs (main sizes FlushBacklog = MAX_QUEUE/2 on that basis), so
// a busy flusher never gets a fast session closed. A flush pass that starts
// while a push is still queueing takes only that push's first chunk; the
// push's later chunks are then not counted in the backlog, and one more
// push than the bound allows gets queued to the sessions of those chunks.
func TestFlushBacklogBoundsQueueWhenPassTakesPartOfPush(t *testing.T) {
	// One flushing goroutine, so a held session holds the whole pass.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const backlog = 1
	n := 2 * queueChunk
	r := newRegistry(t, Options{FlushBacklog: backlog, MaxSessionsPerUser: n, MaxPendingPerUser: n})
	hold := newTwoHold()
	// The first session of the second chunk waits in Queue until the first
	// pass holds: that pass took the first chunk of push 1 only.
	waiter := &queueWaiter{until: hold.entered[0]}
	victim := &boundedQueue{limit: 2 * backlog} // in the second chunk
	for i := range n {
		var s Session
		switch i {
		case 0:
			s = hold
		case queueChunk:
			s = waiter
		case queueChunk + 1:
			s = victim
		default:
			s = &fakeSession{}
		}
		id := fmt.Sprint(i)
		mustRegister(t, r, "u", id)
		mustBind(t, r, "u", id, s)
	}
	r.Push("u", []byte("1")) // pass A holds on session 0 with chunk 0 only
	if waiter.late.Load() {
		t.Fatal("setup: the first pass did not start while push 1 queued")
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		r.Push("u", []byte("2"))
		r.Push("u", []byte("3"))
	})
	select { // let pushes go as far as the backlog allows
	case <-done:
	case <-time.After(100 * time.Millisecond):
	}
	close(hold.release[0]) // pass A ends; pass B starts and holds on session 0
	<-hold.entered[1]
	select {
	case <-done:
	case <-time.After(100 * time.Millisecond):
	}
	close(hold.release[1])
	wg.Wait()
	waitFlushed(t, victim)
	victim.mu.Lock()
	closed := victim.closed
	victim.mu.Unlock()
	if got := closed; len(got) != 0 {
		t.Errorf("a session whose queue holds 2*FlushBacklog = %d packets was closed as too slow (%v): "+
			"more than FlushBacklog pushes were queued while it waited for a pass", 2*backlog, got)
	}
	if got := fmt.Sprint(victim.received()); got != "[1 2 3]" {
		t.Errorf("victim received %s, want [1 2 3]", got)
	}
}
