//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pusher sends pushes from W workers. Worker w owns the users u with
// u%W == w and pushes to them in turn, one request at a time, so each
// user's sequence numbers are sent in order and any reordering seen by a
// session is the server's.
type pusher struct {
	f       *fleet
	workers int
	pad     string
	sent    []uint32 // pushes sent per user; sent[u] is written by u's worker only
	paths   []string // request path per user

	expected atomic.Uint64 // deliveries expected from pushes sent so far
	pushes   atomic.Uint64
	errors   atomic.Uint64
	firstErr atomic.Pointer[error]
	httpLat  histogram
	// miscounts are answers whose {"sessions": n} differs from the sessions
	// the user has connected (only judged when checkCount is set).
	miscounts  atomic.Uint64
	checkCount bool
}

func newPusher(f *fleet, workers, padBytes int) *pusher {
	p := &pusher{
		f:       f,
		workers: max(1, min(workers, len(f.perUserN))),
		pad:     strings.Repeat("x", padBytes),
		sent:    make([]uint32, len(f.perUserN)),
		paths:   make([]string, len(f.perUserN)),
	}
	for u := range p.paths {
		p.paths[u] = "/api/" + userName(u) + "/push"
	}
	return p
}

// phase is one run of the pusher.
type phase struct {
	Duration time.Duration // how long to send
	Rate     float64       // pushes per second in total; 0 = closed loop
	Window   int           // closed loop: pushes in flight beyond what was delivered
	Timed    bool          // carry the intended send time for latency
	Once     bool          // one push per user with a live session, then stop
}

// run sends pushes as ph says and returns when every worker has stopped.
func (p *pusher) run(ctx context.Context, ph phase) {
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(ph.Duration)
	var windowDeliveries uint64
	if ph.Window > 0 {
		live := 0
		for _, n := range p.f.perUserN {
			live += int(n)
		}
		windowDeliveries = uint64(ph.Window) * uint64(max(1, live/max(1, len(p.f.perUserN))))
	}
	if ph.Rate == 0 && !ph.Once && p.runClosedLoop(ctx, ph, windowDeliveries) == nil {
		return
	}
	for w := range p.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int
			for u := w; u < len(p.sent); u += p.workers {
				if p.f.perUserN[u] > 0 {
					mine = append(mine, u)
				}
			}
			if len(mine) == 0 {
				return
			}
			buf := make([]byte, 0, 256+len(p.pad))
			rc := newRestConn(p.f.t.host, p.f.t.token)
			defer rc.close()
			timer := newPreciseTimer()
			defer timer.close()
			for k := 0; ; k++ {
				if ctx.Err() != nil || (ph.Once && k == len(mine)) {
					return
				}
				var intended time.Time
				if ph.Rate > 0 {
					// Open loop: the k-th push of worker w is due at a fixed time,
					// whether or not the server kept up.
					intended = start.Add(time.Duration(float64(k*p.workers+w) / ph.Rate * float64(time.Second)))
					if intended.After(deadline) {
						return
					}
					timer.sleepUntil(intended)
				} else {
					if !ph.Once && time.Now().After(deadline) {
						return
					}
					for windowDeliveries > 0 && p.expected.Load() > p.f.delivered.Load()+windowDeliveries {
						if time.Now().After(deadline) || ctx.Err() != nil {
							return
						}
						time.Sleep(20 * time.Microsecond)
					}
					intended = time.Now()
				}
				u := mine[k%len(mine)]
				seq := p.sent[u] + 1
				var sentAt int64
				if ph.Timed {
					sentAt = intended.UnixNano()
				}
				buf = pushBody(buf, u, seq, sentAt, p.pad)
				p.expected.Add(uint64(p.f.perUserN[u]))
				p.sent[u] = seq
				begin := time.Now()
				status, answer, err := rc.post(ctx, p.paths[u], buf)
				if err == nil && status != 200 {
					err = fmt.Errorf("status %d: %.200s", status, answer)
				}
				if err != nil {
					err = fmt.Errorf("push to %s: %w", userName(u), err)
					p.errors.Add(1)
					p.firstErr.CompareAndSwap(nil, &err)
					continue
				}
				p.httpLat.record(time.Since(begin))
				if n, ok := sessionCount(answer); ok && p.checkCount && n != int(p.f.perUserN[u]) {
					p.miscounts.Add(1)
				}
				p.pushes.Add(1)
			}
		}()
	}
	wg.Wait()
}

// pushError is the first push failure, if any.
func (p *pusher) pushError() string {
	if e := p.firstErr.Load(); e != nil {
		return (*e).Error()
	}
	return ""
}

// sessionCount reads n from a push answer {"sessions": n}.
func sessionCount(answer []byte) (int, bool) {
	_, rest, ok := bytes.Cut(answer, []byte(`"sessions":`))
	if !ok {
		return 0, false
	}
	n, _, ok := scanUint(bytes.TrimLeft(rest, " "))
	return int(n), ok
}
