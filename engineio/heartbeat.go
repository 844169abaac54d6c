package engineio

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler runs the heartbeats of every session of a Server on one
// goroutine and one timer: a min-heap of sessions ordered by the time their
// next heartbeat step is due (send a ping, or give up waiting for one). The
// goroutine runs only while some session is scheduled.
type scheduler struct {
	fire func(s *session, due time.Time) // called without locks held

	mu      sync.Mutex
	h       sessionHeap
	running bool
	wake    chan struct{}
}

func newScheduler(fire func(*session, time.Time)) *scheduler {
	return &scheduler{fire: fire, wake: make(chan struct{}, 1)}
}

// schedule sets s's next heartbeat step to due, replacing any earlier one.
func (sc *scheduler) schedule(s *session, due time.Time) {
	sc.mu.Lock()
	s.hbDue = due
	if s.hbIndex >= 0 {
		heap.Fix(&sc.h, s.hbIndex)
	} else {
		heap.Push(&sc.h, s)
	}
	first := s.hbIndex == 0
	start := !sc.running
	sc.running = true
	sc.mu.Unlock()
	if start {
		go sc.run()
	} else if first {
		sc.poke()
	}
}

// due returns when s's next heartbeat step is due, and false if none is
// scheduled.
func (sc *scheduler) due(s *session) (time.Time, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return s.hbDue, s.hbIndex >= 0
}

// remove unschedules s.
func (sc *scheduler) remove(s *session) {
	sc.mu.Lock()
	if s.hbIndex >= 0 {
		heap.Remove(&sc.h, s.hbIndex)
	}
	empty := len(sc.h) == 0
	sc.mu.Unlock()
	if empty {
		sc.poke() // let the goroutine see the empty heap and exit
	}
}

func (sc *scheduler) poke() {
	select {
	case sc.wake <- struct{}{}:
	default:
	}
}

func (sc *scheduler) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var fired []*session
	var dues []time.Time
	for {
		sc.mu.Lock()
		if len(sc.h) == 0 {
			sc.running = false
			sc.mu.Unlock()
			return
		}
		now := time.Now()
		fired, dues = fired[:0], dues[:0]
		for len(sc.h) > 0 && !sc.h[0].hbDue.After(now) {
			s := heap.Pop(&sc.h).(*session)
			fired = append(fired, s)
			dues = append(dues, s.hbDue)
		}
		var wait time.Duration
		if len(sc.h) > 0 {
			wait = sc.h[0].hbDue.Sub(now)
		}
		sc.mu.Unlock()
		if len(fired) > 0 {
			for i, s := range fired {
				sc.fire(s, dues[i])
				fired[i] = nil
			}
			continue
		}
		if wait <= 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-sc.wake:
		}
	}
}

// sessionHeap is a min-heap of sessions by hbDue; each session knows its
// index so it can be moved or removed in O(log n).
type sessionHeap []*session

func (h sessionHeap) Len() int           { return len(h) }
func (h sessionHeap) Less(i, j int) bool { return h[i].hbDue.Before(h[j].hbDue) }
func (h sessionHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hbIndex = i
	h[j].hbIndex = j
}
func (h *sessionHeap) Push(x any) {
	s := x.(*session)
	s.hbIndex = len(*h)
	*h = append(*h, s)
}
func (h *sessionHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	s.hbIndex = -1
	*h = old[:len(old)-1]
	return s
}
