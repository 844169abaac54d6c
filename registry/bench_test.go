package registry

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// nopSession accepts every packet and does nothing, so benchmarks measure
// the registry alone. It is a Queuer, as the product's sessions are.
type nopSession struct{ n int }

func (s *nopSession) Emit([]byte) error  { s.n++; return nil }
func (s *nopSession) Queue([]byte) error { s.n++; return nil }
func (s *nopSession) Flush()             {}
func (s *nopSession) Close(string)       {}

func BenchmarkPushOneSession(b *testing.B) {
	r := newRegistry(b, Options{})
	for i := range 10_000 {
		user := fmt.Sprint("user", i)
		mustRegister(b, r, user, "c")
		mustBind(b, r, user, "c", &nopSession{})
	}
	users := make([]string, 10_000)
	for i := range users {
		users[i] = fmt.Sprint("user", i)
	}
	packet := []byte(`42["message",{"title":"hello"}]`)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Push(users[i%len(users)], packet)
			i++
		}
	})
}

func BenchmarkPushFanOut(b *testing.B) {
	for _, n := range []int{1, 10, 64, 5000} {
		b.Run(fmt.Sprint(n, "sessions"), func(b *testing.B) {
			r := newRegistry(b, Options{MaxPendingPerUser: n, MaxSessionsPerUser: n})
			for i := range n {
				id := fmt.Sprint("c", i)
				mustRegister(b, r, "u", id)
				mustBind(b, r, "u", id, &nopSession{})
			}
			packet := []byte(`42["message",{"title":"hello"}]`)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if r.Push("u", packet) != n {
					b.Fatal("lost sessions")
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "enqueues/s")
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	r := newRegistry(b, Options{})
	users := make([]string, 10_000)
	for i := range users {
		users[i] = fmt.Sprint("user", i)
		mustRegister(b, r, users[i], "c")
		mustBind(b, r, users[i], "c", &nopSession{})
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Sessions(users[i%len(users)])
			i++
		}
	})
}

func BenchmarkRegisterBindUnbind(b *testing.B) {
	r := newRegistry(b, Options{})
	s := &nopSession{}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		user := "user" + string(rune('a'+i%26))
		_ = r.Register(user, "c")
		_ = r.Bind(user, "c", s)
		r.Unbind(user, "c", s)
		i++
	}
}

// spinSession stands in for a session whose Emit writes its frame inline:
// each Emit busy-waits for d, as a non-blocking write syscall would take.
type spinSession struct{ d time.Duration }

func (s *spinSession) Emit([]byte) error {
	for start := time.Now(); time.Since(start) < s.d; {
	}
	return nil
}

func (s *spinSession) Close(string) {}

// BenchmarkRegisterDuringFanOut measures Register on a shard where another
// goroutine keeps fanning out to a user with 5,000 sessions whose Emit takes
// about a microsecond each: how long a connection id registration waits
// behind a slow fan-out to another user of the same shard.
func BenchmarkRegisterDuringFanOut(b *testing.B) {
	const n = 5000
	r := newRegistry(b, Options{Shards: 1, MaxPendingPerUser: n, MaxSessionsPerUser: n})
	for i := range n {
		id := fmt.Sprint("c", i)
		mustRegister(b, r, "crowd", id)
		mustBind(b, r, "crowd", id, &spinSession{d: time.Microsecond})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		packet := []byte(`42["message",{"title":"hello"}]`)
		for {
			select {
			case <-stop:
				return
			default:
				r.Push("crowd", packet)
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = fmt.Sprint("c", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = r.Register("other", ids[i%len(ids)])
		i++
	}
}
