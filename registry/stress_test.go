package registry

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// count walks every shard and returns what the counters should say.
func (r *Registry) count() Stats {
	var s Stats
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, u := range sh.users {
			live := u.sessions()
			s.Pending += int64(len(u.ids))
			s.Sessions += int64(len(live))
			if len(live) > 0 {
				s.Users++
			}
			bound := 0
			for _, c := range u.ids {
				if c.session != nil {
					bound++
				}
			}
			if bound != len(live) {
				panic(fmt.Sprintf("user has %d bound ids but %d live sessions", bound, len(live)))
			}
			seen := make(map[Session]bool, len(live))
			for _, b := range live {
				if c := u.ids[b.connID]; c == nil || c.session != b.session {
					panic(fmt.Sprintf("live session of id %q is not the one bound with it", b.connID))
				}
				if seen[b.session] {
					panic("a session is live twice for one user")
				}
				seen[b.session] = true
			}
		}
		sh.mu.RUnlock()
	}
	return s
}

// orderedSession checks that the pushes of every pusher arrive in the order
// they were made (a session bound midway sees a suffix, never a reordering).
type orderedSession struct {
	mu   sync.Mutex
	last map[string]int
	bad  string
}

func (s *orderedSession) Emit(p []byte) error {
	pusher, seq, _ := strings.Cut(string(p), ":")
	n, _ := strconv.Atoi(seq)
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.last[pusher]; ok && n <= prev && s.bad == "" {
		s.bad = fmt.Sprintf("pusher %s: %d after %d", pusher, n, prev)
	}
	s.last[pusher] = n
	return nil
}

func (s *orderedSession) Close(string) {}

func TestConcurrentStress(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, Options{Shards: 8, MaxPendingPerUser: 8, MaxSessionsPerUser: 6, JanitorInterval: time.Millisecond})
	const (
		workers = 16
		ops     = 3000
		users   = 20
	)
	type bound struct {
		user, conn string
		s          *orderedSession
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []*orderedSession
		leftover []bound
	)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			var mine []bound
			seq := 0
			for range ops {
				user := fmt.Sprint("user", rng.IntN(users))
				conn := fmt.Sprint("c", rng.IntN(10))
				switch op := rng.IntN(10); {
				case op < 2:
					_ = r.Register(user, conn)
				case op < 4:
					s := &orderedSession{last: map[string]int{}}
					if r.Bind(user, conn, s) == nil {
						mine = append(mine, bound{user, conn, s})
						mu.Lock()
						all = append(all, s)
						mu.Unlock()
					}
				case op < 6 && len(mine) > 0:
					i := rng.IntN(len(mine))
					r.Unbind(mine[i].user, mine[i].conn, mine[i].s)
					mine = append(mine[:i], mine[i+1:]...)
				case op == 6:
					_ = r.Stats()
					_ = r.Sessions(user)
				default:
					seq++
					r.Push(user, fmt.Appendf(nil, "w%d:%d", w, seq))
				}
			}
			mu.Lock()
			leftover = append(leftover, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	got, want := r.Stats(), r.count()
	if got.Users != want.Users || got.Sessions != want.Sessions || got.Pending != want.Pending {
		t.Fatalf("counters %+v, but the shards hold %+v", got, want)
	}
	for _, b := range leftover {
		r.Unbind(b.user, b.conn, b.s)
	}
	if got := r.Stats(); got.Sessions != 0 || got.Users != 0 {
		t.Fatalf("after unbinding everything: %+v, want no sessions or users", got)
	}
	for _, s := range all {
		if s.bad != "" {
			t.Fatalf("out of order delivery: %s", s.bad)
		}
	}
}
