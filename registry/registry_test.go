package registry

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"notification-server/internal/leakcheck"
)

// TestMain fails the package if a janitor or other goroutine of the module
// outlives its test.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// fakeSession records what it is sent. It fails Emit when fail is set. It
// is a Queuer: Queue receives like Emit, and Flush records how much of what
// it received was flushed.
type fakeSession struct {
	mu      sync.Mutex
	got     []string
	closed  []string
	fail    bool
	flushed int // len(got) at the last Flush
}

func (s *fakeSession) Emit(p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("queue full")
	}
	s.got = append(s.got, string(p))
	return nil
}

func (s *fakeSession) Queue(p []byte) error { return s.Emit(p) }

func (s *fakeSession) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushed = len(s.got)
}

// unflushed returns how many received packets no Flush has followed; only
// meaningful for a session fanned out to by Queue.
func (s *fakeSession) unflushed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got) - s.flushed
}

func (s *fakeSession) Close(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = append(s.closed, reason)
}

func (s *fakeSession) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func (s *fakeSession) closeReasons() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.closed...)
}

// clock is a settable time source for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newRegistry(t testing.TB, o Options) *Registry {
	t.Helper()
	r, err := New(&o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

func mustRegister(t testing.TB, r *Registry, userID, connID string) {
	t.Helper()
	if err := r.Register(userID, connID); err != nil {
		t.Fatalf("Register(%q, %q): %v", userID, connID, err)
	}
}

func mustBind(t testing.TB, r *Registry, userID, connID string, s Session) {
	t.Helper()
	if err := r.Bind(userID, connID, s); err != nil {
		t.Fatalf("Bind(%q, %q): %v", userID, connID, err)
	}
}

func wantStats(t *testing.T, r *Registry, want Stats) {
	t.Helper()
	if got := r.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         Options
		wantShards int
		wantErr    bool
	}{
		{in: Options{}, wantShards: 64},
		{in: Options{Shards: 1}, wantShards: 1},
		{in: Options{Shards: 5}, wantShards: 8},
		{in: Options{Shards: 64}, wantShards: 64},
		{in: Options{Shards: -1}, wantErr: true},
		{in: Options{TTL: -time.Second}, wantErr: true},
		{in: Options{MaxPending: -1}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := tt.in.withDefaults()
		if (err != nil) != tt.wantErr {
			t.Errorf("withDefaults(%+v) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got.Shards != tt.wantShards {
			t.Errorf("withDefaults(%+v).Shards = %d, want %d", tt.in, got.Shards, tt.wantShards)
		}
		if got.TTL != time.Hour || got.MaxPendingPerUser != 64 || got.MaxPending != 1_000_000 ||
			got.MaxSessionsPerUser != 64 || got.JanitorInterval != time.Minute || got.Now == nil {
			t.Errorf("withDefaults(%+v) = %+v, want the documented defaults", tt.in, got)
		}
	}
	var nilOpts *Options
	if got, err := nilOpts.withDefaults(); err != nil || got.Shards != 64 {
		t.Errorf("nil options: %+v, %v", got, err)
	}
}

func TestRegisterBindPush(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, Options{})
	s := &fakeSession{}
	mustRegister(t, r, "alice", "c1")
	wantStats(t, r, Stats{Pending: 1})
	mustBind(t, r, "alice", "c1", s)
	wantStats(t, r, Stats{Users: 1, Sessions: 1, Pending: 1})
	if n := r.Push("alice", []byte("p1")); n != 1 {
		t.Fatalf("Push = %d, want 1", n)
	}
	if n := r.Push("bob", []byte("p2")); n != 0 {
		t.Fatalf("Push to a user without sessions = %d, want 0", n)
	}
	if got := s.received(); len(got) != 1 || got[0] != "p1" {
		t.Fatalf("session received %q, want [p1]", got)
	}
	if !r.Unbind("alice", "c1", s) {
		t.Fatal("Unbind of the bound session = false")
	}
	if r.Unbind("alice", "c1", s) {
		t.Fatal("second Unbind = true")
	}
	wantStats(t, r, Stats{Pending: 1})
	if n := r.Push("alice", []byte("p3")); n != 0 {
		t.Fatalf("Push after Unbind = %d, want 0", n)
	}
	// The id stays registered: a reconnecting client binds again.
	mustBind(t, r, "alice", "c1", s)
	if n := r.Push("alice", []byte("p4")); n != 1 {
		t.Fatalf("Push after rebinding = %d, want 1", n)
	}
	if got := s.closeReasons(); len(got) != 0 {
		t.Fatalf("session closed with %q, want never closed", got)
	}
}

func TestBindNeedsExactPair(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, Options{})
	mustRegister(t, r, "alice", "c1")
	mustRegister(t, r, "bob", "c2")
	tests := []struct {
		user, conn string
		want       error
	}{
		{"alice", "c2", ErrNotRegistered},
		{"bob", "c1", ErrNotRegistered},
		{"carol", "c1", ErrNotRegistered},
		{"alice", "C1", ErrNotRegistered},
		{"alice", "", ErrInvalid},
		{"", "c1", ErrInvalid},
	}
	for _, tt := range tests {
		if err := r.Bind(tt.user, tt.conn, &fakeSession{}); !errors.Is(err, tt.want) {
			t.Errorf("Bind(%q, %q) = %v, want %v", tt.user, tt.conn, err, tt.want)
		}
	}
	wantStats(t, r, Stats{Pending: 2})
	for _, tt := range []struct{ user, conn string }{{"", "x"}, {"x", ""}} {
		if err := r.Register(tt.user, tt.conn); !errors.Is(err, ErrInvalid) {
			t.Errorf("Register(%q, %q) = %v, want ErrInvalid", tt.user, tt.conn, err)
		}
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps func(t *testing.T, r *Registry, c *clock) error // returns the final Bind's error
		want  error
	}{
		{"fresh id binds", func(t *testing.T, r *Registry, c *clock) error {
			mustRegister(t, r, "u", "c")
			c.Advance(59 * time.Minute)
			return r.Bind("u", "c", &fakeSession{})
		}, nil},
		{"expired id does not bind", func(t *testing.T, r *Registry, c *clock) error {
			mustRegister(t, r, "u", "c")
			c.Advance(time.Hour)
			return r.Bind("u", "c", &fakeSession{})
		}, ErrNotRegistered},
		{"registering again refreshes", func(t *testing.T, r *Registry, c *clock) error {
			mustRegister(t, r, "u", "c")
			c.Advance(50 * time.Minute)
			mustRegister(t, r, "u", "c")
			c.Advance(50 * time.Minute)
			return r.Bind("u", "c", &fakeSession{})
		}, nil},
		{"bound id never expires, unbind refreshes", func(t *testing.T, r *Registry, c *clock) error {
			s := &fakeSession{}
			mustRegister(t, r, "u", "c")
			mustBind(t, r, "u", "c", s)
			c.Advance(3 * time.Hour)
			r.Expire()
			r.Unbind("u", "c", s)
			c.Advance(59 * time.Minute)
			r.Expire()
			return r.Bind("u", "c", s)
		}, nil},
		{"unbound id expires TTL after unbind", func(t *testing.T, r *Registry, c *clock) error {
			s := &fakeSession{}
			mustRegister(t, r, "u", "c")
			mustBind(t, r, "u", "c", s)
			r.Unbind("u", "c", s)
			c.Advance(61 * time.Minute)
			return r.Bind("u", "c", s)
		}, ErrNotRegistered},
		{"janitor pass removes expired ids", func(t *testing.T, r *Registry, c *clock) error {
			mustRegister(t, r, "u", "c")
			c.Advance(2 * time.Hour)
			r.Expire()
			if got := r.Stats(); got.Pending != 0 || got.Expired != 1 {
				t.Errorf("after Expire: %+v, want no pending id and one expired", got)
			}
			return r.Bind("u", "c", &fakeSession{})
		}, ErrNotRegistered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			r := newRegistry(t, Options{Now: c.Now})
			if err := tt.steps(t, r, c); !errors.Is(err, tt.want) {
				t.Fatalf("final Bind = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestJanitorRuns(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, Options{TTL: time.Millisecond, JanitorInterval: 5 * time.Millisecond})
	for i := range 100 {
		mustRegister(t, r, fmt.Sprint("u", i), "c")
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Pending != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d pending ids", r.Stats().Pending)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.Close()
	r.Close() // idempotent
}

func TestReplaceSameConnectionID(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, Options{})
	older, newer := &fakeSession{}, &fakeSession{}
	mustRegister(t, r, "u", "c")
	mustBind(t, r, "u", "c", older)
	mustBind(t, r, "u", "c", newer)
	if got := older.closeReasons(); len(got) != 1 || got[0] != ReasonReplaced {
		t.Fatalf("older session closed with %q, want [%q]", got, ReasonReplaced)
	}
	wantStats(t, r, Stats{Users: 1, Sessions: 1, Pending: 1})
	if n := r.Push("u", []byte("x")); n != 1 {
		t.Fatalf("Push = %d, want 1", n)
	}
	if len(older.received()) != 0 || len(newer.received()) != 1 {
		t.Fatalf("older got %q, newer got %q; want only newer", older.received(), newer.received())
	}
	// The replaced session's late disconnect must not unbind the newer one.
	if r.Unbind("u", "c", older) {
		t.Fatal("Unbind of the replaced session = true")
	}
	// Binding the same session again is a no-op and closes nothing.
	mustBind(t, r, "u", "c", newer)
	if got := newer.closeReasons(); len(got) != 0 {
		t.Fatalf("rebinding closed the session: %q", got)
	}
	wantStats(t, r, Stats{Users: 1, Sessions: 1, Pending: 1})
}

func TestPendingPerUserEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := newClock()
	r := newRegistry(t, Options{MaxPendingPerUser: 3, Now: c.Now})
	for _, id := range []string{"a", "b", "c"} {
		mustRegister(t, r, "u", id)
		c.Advance(time.Minute)
	}
	mustRegister(t, r, "u", "a") // refresh: now b is the least recently used
	mustRegister(t, r, "u", "d")
	wantStats(t, r, Stats{Pending: 3, Evicted: 1})
	for id, want := range map[string]error{"a": nil, "b": ErrNotRegistered, "c": nil, "d": nil} {
		if err := r.Bind("u", id, &fakeSession{}); !errors.Is(err, want) {
			t.Errorf("Bind(u, %q) = %v, want %v", id, err, want)
		}
	}
	// a, c and d are now bound: nothing can be evicted.
	if err := r.Register("u", "e"); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("Register with every id bound = %v, want ErrTooManyPending", err)
	}
	// Other users are not affected.
	mustRegister(t, r, "v", "a")
}

func TestPendingTotal(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, Options{MaxPending: 2})
	mustRegister(t, r, "u1", "a")
	mustRegister(t, r, "u2", "b")
	if err := r.Register("u3", "c"); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("Register beyond MaxPending = %v, want ErrTooManyPending", err)
	}
	mustRegister(t, r, "u1", "a") // refreshing an existing id is always allowed
	wantStats(t, r, Stats{Pending: 2})
}

func TestMaxSessionsPerUser(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, Options{MaxSessionsPerUser: 2})
	for _, id := range []string{"a", "b", "c"} {
		mustRegister(t, r, "u", id)
	}
	mustBind(t, r, "u", "a", &fakeSession{})
	mustBind(t, r, "u", "b", &fakeSession{})
	if err := r.Bind("u", "c", &fakeSession{}); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("third Bind = %v, want ErrTooManySessions", err)
	}
	// Replacing a bound session does not count as one more.
	mustBind(t, r, "u", "a", &fakeSession{})
	wantStats(t, r, Stats{Users: 1, Sessions: 2, Pending: 3})
}

func TestEmitFailureDropsSession(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, Options{})
	good, bad := &fakeSession{}, &fakeSession{fail: true}
	mustRegister(t, r, "u", "good")
	mustRegister(t, r, "u", "bad")
	mustBind(t, r, "u", "good", good)
	mustBind(t, r, "u", "bad", bad)
	if n := r.Push("u", []byte("x")); n != 1 {
		t.Fatalf("Push = %d, want 1", n)
	}
	if got := bad.closeReasons(); len(got) != 1 || got[0] != ReasonEmitError {
		t.Fatalf("failing session closed with %q, want [%q]", got, ReasonEmitError)
	}
	wantStats(t, r, Stats{Users: 1, Sessions: 1, Pending: 2})
	if n := r.Push("u", []byte("y")); n != 1 {
		t.Fatalf("second Push = %d, want 1", n)
	}
	if got := good.received(); strings.Join(got, ",") != "x,y" {
		t.Fatalf("good session received %q, want [x y]", got)
	}
}

// TestConcurrentPushOrder checks that concurrent pushes to one user reach all
// its sessions in one and the same order.
func TestConcurrentPushOrder(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, Options{})
	sessions := make([]*fakeSession, 4)
	for i := range sessions {
		id := fmt.Sprint("c", i)
		sessions[i] = &fakeSession{}
		mustRegister(t, r, "u", id)
		mustBind(t, r, "u", id, sessions[i])
	}
	const pushers, each = 8, 200
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Go(func() {
			for i := range each {
				if n := r.Push("u", fmt.Appendf(nil, "%d-%d", p, i)); n != len(sessions) {
					t.Errorf("Push = %d, want %d", n, len(sessions))
					return
				}
			}
		})
	}
	wg.Wait()
	first := sessions[0].received()
	if len(first) != pushers*each {
		t.Fatalf("session 0 received %d messages, want %d", len(first), pushers*each)
	}
	for i, s := range sessions[1:] {
		if got := s.received(); strings.Join(got, ",") != strings.Join(first, ",") {
			t.Fatalf("session %d received another order than session 0", i+1)
		}
	}
}

// TestBindMovesSession checks that binding a live session with another id of
// the same user moves it in one step, as a socket that registers again does.
func TestBindMovesSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		maxSessions  int
		occupied     bool // "to" already has another session bound
		wantSessions int64
	}{
		{name: "to a free id", maxSessions: 4, wantSessions: 2},
		{name: "at the session limit", maxSessions: 2, wantSessions: 2},
		{name: "onto an id bound by another session", maxSessions: 4, occupied: true, wantSessions: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			r := newRegistry(t, Options{MaxSessionsPerUser: tt.maxSessions, Now: c.Now})
			s, other, occupant := &fakeSession{}, &fakeSession{}, &fakeSession{}
			for _, id := range []string{"from", "to", "other"} {
				mustRegister(t, r, "u", id)
			}
			mustBind(t, r, "u", "from", s)
			mustBind(t, r, "u", "other", other)
			if tt.occupied {
				mustBind(t, r, "u", "to", occupant)
			}
			mustRegister(t, r, "v", "x")
			mustBind(t, r, "v", "x", s) // another user's binding is left alone
			c.Advance(50 * time.Minute)
			mustBind(t, r, "u", "to", s)
			wantStats(t, r, Stats{Users: 2, Sessions: tt.wantSessions + 1, Pending: 4})
			if n := r.Push("u", []byte("once")); n != int(tt.wantSessions) {
				t.Fatalf("Push = %d, want %d", n, tt.wantSessions)
			}
			if got := fmt.Sprint(s.received()); got != "[once]" {
				t.Fatalf("moved session received %s, want [once]", got)
			}
			if r.Unbind("u", "from", s) {
				t.Fatal("Unbind of the id the session left = true")
			}
			wantClosed := "[]"
			if tt.occupied {
				wantClosed = fmt.Sprint([]string{ReasonReplaced})
			}
			if got := fmt.Sprint(occupant.closeReasons()); got != wantClosed {
				t.Fatalf("occupant closed with %s, want %s", got, wantClosed)
			}
			if got := s.closeReasons(); len(got) != 0 {
				t.Fatalf("moved session closed with %q", got)
			}
			// The id it left stays registered, for TTL from the move.
			c.Advance(50 * time.Minute)
			r.Unbind("u", "other", other) // room under the session limit
			if err := r.Bind("u", "from", &fakeSession{}); err != nil {
				t.Fatalf("Bind with the id the session left: %v", err)
			}
		})
	}
}

// TestPushLargeFanOut pushes to a user with enough sessions for the
// fan-out to be queued and flushed by the user's flusher, its writes shared
// among goroutines: every session gets every push once and in order, and
// has it flushed; failing sessions are dropped and closed, and Push counts
// the rest.
func TestPushLargeFanOut(t *testing.T) {
	// Not parallel: it sets GOMAXPROCS.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	r := newRegistry(t, Options{MaxSessionsPerUser: 4 * parallelFanOut, MaxPendingPerUser: 4 * parallelFanOut})
	const n = 3*parallelFanOut + 7
	sessions := make([]*fakeSession, n)
	for i := range sessions {
		id := fmt.Sprint(i)
		if err := r.Register("u", id); err != nil {
			t.Fatal(err)
		}
		sessions[i] = &fakeSession{fail: i%100 == 99}
		if err := r.Bind("u", id, sessions[i]); err != nil {
			t.Fatal(err)
		}
	}
	failing := n / 100
	for p := range 20 {
		// The failing sessions fail the first push and are gone after it.
		want := n - failing
		if got := r.Push("u", []byte(fmt.Sprint(p))); got != want {
			t.Fatalf("push %d reached %d sessions, want %d", p, got, want)
		}
	}
	if got := r.Sessions("u"); got != n-failing {
		t.Errorf("%d sessions left, want %d", got, n-failing)
	}
	for i, s := range sessions {
		if i%100 == 99 {
			if reasons := s.closeReasons(); len(reasons) != 1 || reasons[0] != ReasonEmitError {
				t.Errorf("failing session %d closed with %q", i, reasons)
			}
			continue
		}
		got := s.received()
		if len(got) != 20 {
			t.Fatalf("session %d got %d pushes, want 20", i, len(got))
		}
		for p, m := range got {
			if m != fmt.Sprint(p) {
				t.Fatalf("session %d: push %d is %q", i, p, m)
			}
		}
		waitFlushed(t, s)
	}
}

// panicSession panics in Emit.
type panicSession struct{}

func (panicSession) Emit([]byte) error { panic("emit failed badly") }
func (panicSession) Close(string)      {}

// countSession counts its Emit calls.
type countSession struct{ n atomic.Int64 }

func (s *countSession) Emit([]byte) error { s.n.Add(1); return nil }
func (s *countSession) Close(string)      {}

// TestPanickingEmitReleasesPushLock checks that a panic in Emit, recovered
// by the caller as net/http recovers a handler's, leaves the user's push
// lock free, on the plain fan-out and the one that queues for the flusher.
func TestPanickingEmitReleasesPushLock(t *testing.T) {
	// Not parallel: it sets GOMAXPROCS.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, n := range []int{3, 2 * parallelFanOut} {
		r := newRegistry(t, Options{MaxSessionsPerUser: n, MaxPendingPerUser: n})
		counts := make([]*countSession, n)
		for i := range n {
			id := fmt.Sprint(i)
			if err := r.Register("u", id); err != nil {
				t.Fatal(err)
			}
			var s Session = panicSession{}
			if i != n/2 {
				counts[i] = &countSession{}
				s = counts[i]
			}
			if err := r.Bind("u", id, s); err != nil {
				t.Fatal(err)
			}
		}
		push := func() (panicked bool) {
			defer func() { panicked = recover() != nil }()
			r.Push("u", []byte("x"))
			return false
		}
		if !push() {
			t.Fatalf("%d sessions: the panic in Emit did not reach the caller", n)
		}
		emitted := int64(0)
		for _, c := range counts {
			if c != nil {
				emitted += c.n.Load()
			}
		}
		done := make(chan bool, 1)
		go func() { done <- push() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d sessions: the next push still waits for the push lock", n)
		}
		after := int64(0)
		for _, c := range counts {
			if c != nil {
				after += c.n.Load()
			}
		}
		if after > 2*emitted || (n > parallelFanOut && after == emitted) {
			t.Errorf("%d sessions: %d emits after the first push, %d after the second", n, emitted, after)
		}
	}
}

// TestLongTTLDoesNotExpireAtOnce: a TTL that takes now past 2262 (the end
// of int64 Unix nanoseconds) must not wrap the expiry into the past. The
// server accepts such a TTL: CONNECTION_TTL takes any Go duration or number
// of seconds, e.g. 2562047h or 9000000000, as "effectively forever".
func TestLongTTLDoesNotExpireAtOnce(t *testing.T) {
	t.Parallel()
	for _, ttl := range []time.Duration{250 * 365 * 24 * time.Hour, 2562047 * time.Hour, 9000000000 * time.Second} {
		r := newRegistry(t, Options{TTL: ttl})
		mustRegister(t, r, "u", "c")
		if err := r.Bind("u", "c", &fakeSession{}); err != nil {
			t.Errorf("TTL %v: Bind right after Register: %v", ttl, err)
		}
		mustRegister(t, r, "u", "d")
		r.Expire()
		if err := r.Bind("u", "d", &fakeSession{}); err != nil {
			t.Errorf("TTL %v: Bind after Expire: %v", ttl, err)
		}
	}
}
