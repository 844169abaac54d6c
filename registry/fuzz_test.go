package registry

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// model is the registry's specification written as plainly as possible: one
// map, no shards, no locks. FuzzAgainstModel checks the Registry against it.
type model struct {
	ttl, now                      time.Duration
	maxPerUser, maxTotal, maxLive int
	entries                       map[[2]string]*modelEntry
	evicted, expired              uint64
}

type modelEntry struct {
	session Session
	expires time.Duration
}

func (m *model) count(user string, bound bool) int {
	n := 0
	for k, e := range m.entries {
		if k[0] == user && (!bound || e.session != nil) {
			n++
		}
	}
	return n
}

func (m *model) register(u, c string) error {
	if e := m.entries[[2]string{u, c}]; e != nil {
		e.expires = m.now + m.ttl
		return nil
	}
	if m.count(u, false) >= m.maxPerUser {
		var victim *[2]string
		for k, e := range m.entries {
			if k[0] == u && e.session == nil && (victim == nil || e.expires < m.entries[*victim].expires) {
				k := k
				victim = &k
			}
		}
		if victim == nil {
			return ErrTooManyPending
		}
		delete(m.entries, *victim)
		m.evicted++
	} else if len(m.entries) >= m.maxTotal {
		return ErrTooManyPending
	}
	m.entries[[2]string{u, c}] = &modelEntry{expires: m.now + m.ttl}
	return nil
}

func (m *model) bind(u, c string, s Session) error {
	k := [2]string{u, c}
	e := m.entries[k]
	switch {
	case e == nil:
		return ErrNotRegistered
	case e.session == nil && e.expires <= m.now:
		delete(m.entries, k)
		m.expired++
		return ErrNotRegistered
	case e.session == s:
		return nil
	}
	// A session is live at most once per user: binding it with another id
	// of the same user moves it.
	var from *modelEntry
	for k, o := range m.entries {
		if k[0] == u && o.session == s {
			from = o
		}
	}
	if e.session == nil && from == nil && m.count(u, true) >= m.maxLive {
		return ErrTooManySessions
	}
	if from != nil {
		from.session, from.expires = nil, m.now+m.ttl
	}
	e.session = s
	return nil
}

func (m *model) unbind(u, c string, s Session) bool {
	e := m.entries[[2]string{u, c}]
	if e == nil || e.session == nil || e.session != s {
		return false
	}
	e.session, e.expires = nil, m.now+m.ttl
	return true
}

func (m *model) expire() {
	for k, e := range m.entries {
		if e.session == nil && e.expires <= m.now {
			delete(m.entries, k)
			m.expired++
		}
	}
}

func (m *model) stats() Stats {
	s := Stats{Evicted: m.evicted, Expired: m.expired}
	users := map[string]bool{}
	for k, e := range m.entries {
		s.Pending++
		if e.session != nil {
			s.Sessions++
			users[k[0]] = true
		}
	}
	s.Users = int64(len(users))
	return s
}

// FuzzAgainstModel runs a sequence of operations, decoded from the input,
// on a Registry and on the model, and fails at the first difference. Every
// operation advances the clock, so no two expiry times are equal and the
// least recently used id is always well defined.
func FuzzAgainstModel(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 3, 0, 2, 5, 1, 0})
	f.Add([]byte("\x00\x01\x00\x02\x00\x03\x00\x04\x00\x05\x01\x01\x01\x02\x05\xff\x04\x00\x01\x01"))
	f.Add([]byte{0, 0, 1, 0, 1, 1, 2, 0, 1, 4, 5, 200, 6, 0, 1, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const ttl = time.Minute
		now := time.Duration(0)
		base := time.Unix(0, 0)
		r, err := New(&Options{
			Shards: 2, TTL: ttl, MaxPendingPerUser: 3, MaxPending: 6, MaxSessionsPerUser: 2,
			JanitorInterval: time.Hour, Now: func() time.Time { return base.Add(now) },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		m := &model{ttl: ttl, maxPerUser: 3, maxTotal: 6, maxLive: 2, entries: map[[2]string]*modelEntry{}}
		sessions := []*fakeSession{{}, {}, {}}
		for i := 0; i+1 < len(ops); i += 2 {
			now += time.Millisecond
			m.now = now
			op, arg := ops[i]%7, ops[i+1]
			u := fmt.Sprint("u", arg%3)
			c := fmt.Sprint("c", (arg/3)%4)
			s := sessions[(arg/12)%3]
			step := fmt.Sprintf("step %d (op %d, %s %s session %d)", i/2, op, u, c, (arg/12)%3)
			switch op {
			case 0:
				if got, want := r.Register(u, c), m.register(u, c); !errors.Is(got, want) {
					t.Fatalf("%s: Register = %v, model %v", step, got, want)
				}
			case 1:
				if got, want := r.Bind(u, c, s), m.bind(u, c, s); !errors.Is(got, want) {
					t.Fatalf("%s: Bind = %v, model %v", step, got, want)
				}
			case 2:
				if got, want := r.Unbind(u, c, s), m.unbind(u, c, s); got != want {
					t.Fatalf("%s: Unbind = %v, model %v", step, got, want)
				}
			case 3:
				if got, want := r.Push(u, []byte("p")), m.count(u, true); got != want {
					t.Fatalf("%s: Push = %d, model %d", step, got, want)
				}
			case 4:
				r.Expire()
				m.expire()
			case 5:
				now += time.Duration(arg) * time.Second
				m.now = now
			case 6:
				if got, want := r.Sessions(u), m.count(u, true); got != want {
					t.Fatalf("%s: Sessions = %d, model %d", step, got, want)
				}
			}
			if got, want := r.Stats(), m.stats(); got != want {
				t.Fatalf("%s: Stats = %+v, model %+v", step, got, want)
			}
		}
		got, want := r.Stats(), r.count()
		if got.Users != want.Users || got.Sessions != want.Sessions || got.Pending != want.Pending {
			t.Fatalf("counters %+v, shards %+v", got, want)
		}
	})
}
