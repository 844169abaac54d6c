package registry

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gateSession blocks in its first Emit until release is closed, after
// telling entered, so a test can act while a fan-out is in progress.
type gateSession struct {
	fakeSession
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newGateSession() *gateSession {
	return &gateSession{entered: make(chan struct{}), release: make(chan struct{})}
}

func (s *gateSession) Emit(p []byte) error {
	s.once.Do(func() {
		close(s.entered)
		<-s.release
	})
	return s.fakeSession.Emit(p)
}

// finishes runs f and fails the test if it has not returned within a
// generous bound: the operation would be waiting for the blocked fan-out.
func finishes(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not return while a fan-out was in progress", what)
	}
}

// TestWritersDoNotWaitForFanOut blocks a fan-out inside Emit and checks that
// every other operation on the same shard, and on the same user, completes
// meanwhile; then that the blocked push and the next one reach exactly the
// sessions they should.
func TestWritersDoNotWaitForFanOut(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, Options{Shards: 1}) // every user on the one shard
	gate, early, leaving, late, other := newGateSession(), &fakeSession{}, &fakeSession{}, &fakeSession{}, &fakeSession{}
	for id, s := range map[string]Session{"gate": gate, "early": early, "leaving": leaving} {
		mustRegister(t, r, "crowd", id)
		mustBind(t, r, "crowd", id, s)
	}
	pushed := make(chan int, 1)
	go func() { pushed <- r.Push("crowd", []byte("first")) }()
	<-gate.entered

	steps := []struct {
		name string
		f    func() error
	}{
		{"Register of another user", func() error { return r.Register("other", "o") }},
		{"Bind of another user", func() error { return r.Bind("other", "o", other) }},
		{"Push to another user", func() error {
			if n := r.Push("other", []byte("hello")); n != 1 {
				return fmt.Errorf("Push = %d, want 1", n)
			}
			return nil
		}},
		{"Register of the same user", func() error { return r.Register("crowd", "late") }},
		{"Bind of the same user", func() error { return r.Bind("crowd", "late", late) }},
		{"Unbind of the same user", func() error {
			if !r.Unbind("crowd", "leaving", leaving) {
				return fmt.Errorf("Unbind = false, want true")
			}
			return nil
		}},
		{"Sessions", func() error {
			if n := r.Sessions("crowd"); n != 3 {
				return fmt.Errorf("Sessions = %d, want 3 (gate, early, late)", n)
			}
			return nil
		}},
		{"Expire", func() error { r.Expire(); return nil }},
	}
	for _, st := range steps {
		var err error
		finishes(t, st.name, func() { err = st.f() })
		if err != nil {
			t.Errorf("%s: %v", st.name, err)
		}
	}
	close(gate.release)
	// The blocked push took its snapshot before late was bound and
	// leaving was unbound: it reaches gate, early and leaving.
	if n := <-pushed; n != 3 {
		t.Errorf("blocked Push = %d, want 3", n)
	}
	if n := r.Push("crowd", []byte("second")); n != 3 {
		t.Errorf("next Push = %d, want 3", n)
	}
	for _, tt := range []struct {
		name string
		s    *fakeSession
		want string
	}{
		{"gate", &gate.fakeSession, "[first second]"},
		{"early", early, "[first second]"},
		{"leaving", leaving, "[first]"},
		{"late", late, "[second]"},
		{"other", other, "[hello]"},
	} {
		if got := fmt.Sprint(tt.s.received()); got != tt.want {
			t.Errorf("%s received %s, want %s", tt.name, got, tt.want)
		}
	}
}

// clockTick is a logical clock shared by the goroutines of
// TestFanOutAgainstWriters: one tick per event, so that an event whose tick
// is greater than another's did not happen before it.
type clockTick struct{ atomic.Int64 }

func (c *clockTick) tick() int64 { return c.Add(1) }

// traceSession records the push ids it receives and when it was live. It is
// a Queuer: Queue receives like Emit, and Flush records how much of what it
// received was flushed.
type traceSession struct {
	clock *clockTick

	mu       sync.Mutex
	got      []int64
	flushed  int   // len(got) at the last Flush
	boundAt  int64 // tick after its first Bind returned
	unbindAt int64 // tick before the Unbind that removed it was called
	goneAt   int64 // tick after it stopped being live (Unbind returned or replaced)
}

func (s *traceSession) Emit(p []byte) error {
	var id int64
	if _, err := fmt.Sscan(string(p), &id); err != nil {
		return fmt.Errorf("bad packet %q: %w", p, err)
	}
	s.mu.Lock()
	s.got = append(s.got, id)
	s.mu.Unlock()
	runtime.Gosched() // let writers land in the middle of the fan-out
	return nil
}

func (s *traceSession) Queue(p []byte) error { return s.Emit(p) }

func (s *traceSession) Flush() {
	s.mu.Lock()
	s.flushed = len(s.got)
	s.mu.Unlock()
}

// unflushed returns how many received pushes no Flush has followed; only
// meaningful for a session fanned out to by Queue.
func (s *traceSession) unflushed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got) - s.flushed
}

func (s *traceSession) Close(reason string) {
	if reason != ReasonReplaced {
		panic("unexpected close: " + reason)
	}
	at := s.clock.tick()
	s.mu.Lock()
	s.goneAt = at
	s.mu.Unlock()
}

// pushRecord is one Push of TestFanOutAgainstWriters.
type pushRecord struct {
	start, end int64 // ticks before the call and after it returned
	n          int
}

// TestFanOutAgainstWriters hammers pushes to one user, whose sessions yield
// in Emit (or Queue), against concurrent Register, Bind (new, replacing and
// moving sessions) and Unbind on the same shard, and checks afterwards that
//   - every session received every push at most once;
//   - the sessions' sequences fit one order of the pushes;
//   - a push that started after a session's Bind returned and ended before
//     its Unbind was called reached it;
//   - no push that started after a session stopped being live reached it;
//   - the counts Push returned add up to what the sessions received;
//   - with a crowd large enough for the flusher, every push a session
//     received was flushed, including in sessions unbound meanwhile.
func TestFanOutAgainstWriters(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ crowd, pushes int }{{16, 300}, {parallelFanOut, 60}} {
		t.Run(fmt.Sprint(tt.crowd, " sessions"), func(t *testing.T) {
			t.Parallel()
			testFanOutAgainstWriters(t, tt.crowd, tt.pushes)
		})
	}
}

func testFanOutAgainstWriters(t *testing.T, crowd, pushes int) {
	const (
		pushers         = 3
		binders, cycles = 4, 100
	)
	r := newRegistry(t, Options{Shards: 1, MaxSessionsPerUser: crowd + 8, MaxPendingPerUser: crowd + 32})
	clock := &clockTick{}
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		records     = map[int64]pushRecord{}
		sessions    []*traceSession
		pushersDone atomic.Bool
	)
	// A crowd of sessions live throughout, so every push fans out to many.
	for i := range crowd {
		id := fmt.Sprint("crowd", i)
		s := &traceSession{clock: clock}
		mustRegister(t, r, "u", id)
		mustBind(t, r, "u", id, s)
		s.boundAt = clock.tick()
		sessions = append(sessions, s)
	}
	var pushing sync.WaitGroup
	for range pushers {
		pushing.Add(1)
		wg.Go(func() {
			defer pushing.Done()
			for range pushes {
				start := clock.tick()
				n := r.Push("u", fmt.Append(nil, start))
				end := clock.tick()
				mu.Lock()
				records[start] = pushRecord{start: start, end: end, n: n}
				mu.Unlock()
			}
		})
	}
	for b := range binders {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(b), 7))
			// Even binders share their ids, so their sessions replace
			// each other; odd binders move their sessions between
			// ids of their own (a replaced session that moved would
			// be bound afresh, which this test does not track).
			moves := b%2 == 1
			conn := func() string { return fmt.Sprint("shared", rng.IntN(4)) }
			if moves {
				conn = func() string { return fmt.Sprint("own", b, "-", rng.IntN(3)) }
			}
			for c := 0; c < cycles || !pushersDone.Load(); c++ {
				// Writers on the same shard that do not touch u.
				if err := r.Register("v", fmt.Sprint("c", b)); err != nil {
					t.Errorf("Register(v): %v", err)
					return
				}
				id := conn()
				if err := r.Register("u", id); err != nil {
					t.Errorf("Register(u, %s): %v", id, err)
					return
				}
				s := &traceSession{clock: clock}
				if err := r.Bind("u", id, s); err != nil {
					t.Errorf("Bind(u, %s): %v", id, err)
					return
				}
				at := clock.tick()
				s.mu.Lock()
				s.boundAt = at
				s.mu.Unlock()
				mu.Lock()
				sessions = append(sessions, s)
				mu.Unlock()
				for range rng.IntN(200) {
					runtime.Gosched()
				}
				if moves {
					// Move to another id: s stays live throughout.
					to := conn()
					if err := r.Register("u", to); err != nil {
						t.Errorf("Register(u, %s): %v", to, err)
						return
					}
					if err := r.Bind("u", to, s); err != nil {
						t.Errorf("Bind(u, %s) moving: %v", to, err)
						return
					}
					id = to
					for range rng.IntN(200) {
						runtime.Gosched()
					}
				}
				call := clock.tick()
				if r.Unbind("u", id, s) {
					at := clock.tick()
					s.mu.Lock()
					s.unbindAt, s.goneAt = call, at
					s.mu.Unlock()
				}
			}
		})
	}
	pushing.Wait()
	pushersDone.Store(true)
	wg.Wait()
	for i := range crowd {
		if !r.Unbind("u", fmt.Sprint("crowd", i), sessions[i]) {
			t.Fatalf("crowd session %d was not live at the end", i)
		}
	}

	// Sessions still live never stop.
	for _, s := range sessions {
		if s.goneAt == 0 {
			s.goneAt = clock.Load() + 1
			s.unbindAt = s.goneAt
		}
	}
	received := 0
	for i, s := range sessions {
		seen := map[int64]bool{}
		for _, id := range s.got {
			if seen[id] {
				t.Fatalf("session %d received push %d twice", i, id)
			}
			seen[id] = true
			if id > s.goneAt {
				t.Fatalf("session %d received push %d, which started after it stopped being live at %d", i, id, s.goneAt)
			}
		}
		received += len(s.got)
		for _, p := range records {
			if p.start > s.boundAt && p.end < s.unbindAt && !seen[p.start] {
				t.Fatalf("session %d, live from %d to %d, missed push %d (%d to %d)",
					i, s.boundAt, s.unbindAt, p.start, p.start, p.end)
			}
		}
	}
	accepted := 0
	for _, p := range records {
		accepted += p.n
	}
	if accepted != received {
		t.Fatalf("Push counted %d sessions accepting, the sessions received %d", accepted, received)
	}
	if cycle := orderCycle(sessions); cycle != "" {
		t.Fatalf("the sessions received the pushes in conflicting orders: %s", cycle)
	}
	if got := r.Stats(); got.Sessions != 0 || got.Users != 0 {
		t.Fatalf("after unbinding everything: %+v, want no sessions or users", got)
	}
	if crowd >= parallelFanOut {
		// The flusher may still be on its last pass.
		for _, s := range sessions {
			waitFlushed(t, s)
		}
	}
	t.Logf("%d pushes, %d sessions, %d deliveries", len(records), len(sessions), received)
}

// orderCycle reports, if the sequences received by the sessions do not fit
// one total order of the pushes, two pushes that some sessions received in
// opposite orders; "" if they fit. Each session's consecutive pair is an
// edge; the sequences fit one order exactly when those edges have no cycle.
func orderCycle(sessions []*traceSession) string {
	next := map[int64][]int64{}
	indegree := map[int64]int{}
	for _, s := range sessions {
		for i, id := range s.got {
			if _, ok := indegree[id]; !ok {
				indegree[id] = 0
			}
			if i > 0 {
				prev := s.got[i-1]
				next[prev] = append(next[prev], id)
				indegree[id]++
			}
		}
	}
	var ready []int64
	for id, d := range indegree {
		if d == 0 {
			ready = append(ready, id)
		}
	}
	sorted := 0
	for len(ready) > 0 {
		id := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		sorted++
		for _, n := range next[id] {
			if indegree[n]--; indegree[n] == 0 {
				ready = append(ready, n)
			}
		}
	}
	if sorted == len(indegree) {
		return ""
	}
	for id, d := range indegree {
		if d > 0 {
			return fmt.Sprintf("%d of %d pushes are in a cycle, push %d among them", len(indegree)-sorted, len(indegree), id)
		}
	}
	return "cycle"
}

// TestEmitFailureDuringChange checks what a push does with a session whose
// Emit fails after the session moved or was unbound during the fan-out.
func TestEmitFailureDuringChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		change     func(r *Registry, s Session) error
		wantClosed string
	}{
		{"moved to another id: dropped and closed", func(r *Registry, s Session) error {
			return r.Bind("u", "moved", s)
		}, fmt.Sprint([]string{ReasonEmitError})},
		{"unbound: left to whoever unbound it", func(r *Registry, s Session) error {
			if !r.Unbind("u", "bad", s) {
				return fmt.Errorf("Unbind = false")
			}
			return nil
		}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t, Options{})
			gate, bad := newGateSession(), &fakeSession{fail: true}
			for _, id := range []string{"gate", "bad", "moved"} {
				mustRegister(t, r, "u", id)
			}
			mustBind(t, r, "u", "gate", gate)
			mustBind(t, r, "u", "bad", bad)
			pushed := make(chan int, 1)
			go func() { pushed <- r.Push("u", []byte("x")) }()
			<-gate.entered
			err := tt.change(r, bad)
			close(gate.release)
			if err != nil {
				t.Fatal(err)
			}
			if n := <-pushed; n != 1 {
				t.Errorf("Push = %d, want 1", n)
			}
			if got := fmt.Sprint(bad.closeReasons()); got != tt.wantClosed {
				t.Errorf("failing session closed with %s, want %s", got, tt.wantClosed)
			}
			wantStats(t, r, Stats{Users: 1, Sessions: 1, Pending: 3})
		})
	}
}

// TestUserKeptWhileFanningOut checks that a user left with no connection id
// stays in its shard while a push still fans out to a snapshot of its
// sessions, so a session bound again meanwhile shares that push's lock.
func TestUserKeptWhileFanningOut(t *testing.T) {
	t.Parallel()
	c := newClock()
	r := newRegistry(t, Options{Shards: 1, Now: c.Now})
	gate := newGateSession()
	mustRegister(t, r, "u", "c")
	mustBind(t, r, "u", "c", gate)
	sh := r.shardFor("u")
	sh.mu.RLock()
	before := sh.users["u"]
	sh.mu.RUnlock()

	pushed := make(chan int, 1)
	go func() { pushed <- r.Push("u", []byte("x")) }()
	<-gate.entered
	r.Unbind("u", "c", gate)
	c.Advance(2 * time.Hour)
	r.Expire()
	wantStats(t, r, Stats{Expired: 1})
	mustRegister(t, r, "u", "c")
	sh.mu.RLock()
	during := sh.users["u"]
	sh.mu.RUnlock()
	close(gate.release)
	if n := <-pushed; n != 1 {
		t.Errorf("Push = %d, want 1", n)
	}
	if during != before {
		t.Fatal("the user was removed and made anew while a push was fanning out to it")
	}

	// With no push running, an empty user is removed.
	c.Advance(2 * time.Hour)
	r.Expire()
	sh.mu.RLock()
	after := sh.users["u"]
	sh.mu.RUnlock()
	if after != nil {
		t.Fatal("an empty user stayed in its shard")
	}
}
