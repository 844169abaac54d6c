//go:build linux

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// config is everything a scenario run needs, from the command line.
type config struct {
	Scenario string
	Case     string // name of this measurement in tables (e.g. push10)
	Label    string // which server (e.g. ours, ref)
	Run      int    // index of the run, to pair interleaved runs

	Sessions int // idle, fanout, churn: total sessions (0: as many as allowed)
	Users    int // push: users
	PerUser  int // sessions per user
	Workers  int
	Rate     float64
	Duration time.Duration
	Warmup   time.Duration
	Window   int
	Conc     int
	Sources  int
	// Transport is how sessions connect: "websocket" or "polling".
	Transport string
	Settle    time.Duration
	Pad       int
	Churn     float64 // churn: sessions replaced per second
	Metrics   string  // churn: path of the server's metrics
}

// result is one scenario run, printed and written as JSON.
type result struct {
	Scenario  string   `json:"scenario"`
	Case      string   `json:"case"`
	Label     string   `json:"label"`
	Run       int      `json:"run"`
	Rate      float64  `json:"rate,omitempty"`
	Transport string   `json:"transport"`
	Started   string   `json:"started"`
	Notes     []string `json:"notes,omitempty"`
	FileLimit uint64   `json:"file_limit"`

	Connect connectStats `json:"connect"`

	RSSBase           int64   `json:"rss_base_bytes,omitempty"`
	RSSConnected      int64   `json:"rss_connected_bytes,omitempty"`
	RSSPushed         int64   `json:"rss_pushed_bytes,omitempty"`
	KBPerSession      float64 `json:"kb_per_session,omitempty"`
	KBPerSessionAfter float64 `json:"kb_per_session_after_push,omitempty"`
	ClientKBPerSess   float64 `json:"load_generator_kb_per_session,omitempty"`

	Pushes           uint64          `json:"pushes"`
	SessionMiscounts uint64          `json:"push_answers_with_wrong_session_count"`
	PushErrors       uint64          `json:"push_errors"`
	FirstPushError   string          `json:"first_push_error,omitempty"`
	Seconds          float64         `json:"seconds,omitempty"`
	PushesPerSec     float64         `json:"pushes_per_second,omitempty"`
	DeliveriesPerSec float64         `json:"deliveries_per_second,omitempty"`
	Latency          *latencySummary `json:"latency,omitempty"`
	PushHTTP         *latencySummary `json:"push_http,omitempty"`
	ServerCPUSecs    float64         `json:"server_cpu_seconds,omitempty"`
	CPUPer1000       float64         `json:"server_cpu_seconds_per_1000_deliveries,omitempty"`
	ClientCPUSecs    float64         `json:"client_cpu_seconds,omitempty"`
	OtherCPUSecs     float64         `json:"other_processes_cpu_seconds"`
	LoadAvg          string          `json:"load_average"`

	Delivery      deliveryCounts `json:"delivery"`
	BadMessages   uint64         `json:"bad_messages"`
	SessionsEnded uint64         `json:"sessions_ended_by_server"`
	FirstEndError string         `json:"first_session_end,omitempty"`

	Churn *churnStats `json:"churn,omitempty"`
}

func (r *result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// finish tears the fleet down and fills the delivery accounting.
func (r *result) finish(f *fleet, p *pusher) {
	if !f.teardown() {
		r.note("teardown: some read loops did not end within a minute; delivery counts may be incomplete")
	}
	r.Delivery = f.counts(p.sent)
	r.BadMessages = f.badMessages.Load()
	r.SessionsEnded = f.readErrs.Load()
	r.FirstEndError = f.readError()
	r.Pushes = p.pushes.Load()
	r.PushErrors = p.errors.Load()
	r.FirstPushError = p.pushError()
	r.SessionMiscounts = p.miscounts.Load()
	if r.SessionMiscounts > 0 {
		r.note("%d push answers gave a session count other than the user's connected sessions", r.SessionMiscounts)
	}
}

// drainTimeout bounds the wait for deliveries after the last push.
const drainTimeout = 15 * time.Second

// probe pushes once to every user (untimed) and waits for every live
// session to receive it.
func probe(ctx context.Context, f *fleet, p *pusher, r *result) {
	p.run(ctx, phase{Once: true})
	if !f.waitDelivered(ctx, p.expected.Load(), drainTimeout) {
		r.note("probe: %d of %d deliveries after %s (sessions not registered or messages lost)",
			f.delivered.Load(), p.expected.Load(), drainTimeout)
	}
}

// runIdle connects the sessions and reads the server's memory before and
// after one push per user.
func runIdle(ctx context.Context, cfg config, t *target, srv *serverProc, r *result) {
	r.RSSBase = srv.rss()
	self0, _ := procRSS(os.Getpid())
	f, st := newFleet(ctx, t, cfg.Sessions, cfg.PerUser, cfg.Conc, cfg.Sources, runID())
	r.Connect = st
	sleep(ctx, cfg.Settle)
	r.RSSConnected = srv.rss()
	if self1, err := procRSS(os.Getpid()); err == nil && st.Sessions > 0 {
		r.ClientKBPerSess = float64(self1-self0) / 1024 / float64(st.Sessions)
	}
	p := newPusher(f, cfg.Workers, cfg.Pad)
	p.checkCount = true
	probe(ctx, f, p, r)
	sleep(ctx, cfg.Settle)
	r.RSSPushed = srv.rss()
	if st.Sessions > 0 && r.RSSBase > 0 {
		r.KBPerSession = float64(r.RSSConnected-r.RSSBase) / 1024 / float64(st.Sessions)
		r.KBPerSessionAfter = float64(r.RSSPushed-r.RSSBase) / 1024 / float64(st.Sessions)
	}
	r.finish(f, p)
}

// runPush connects the sessions, checks every one is registered with a
// probe push, warms up, then measures a phase of pushes.
func runPush(ctx context.Context, cfg config, t *target, srv *serverProc, r *result) {
	f, st := newFleet(ctx, t, cfg.Sessions, cfg.PerUser, cfg.Conc, cfg.Sources, runID())
	r.Connect = st
	p := newPusher(f, cfg.Workers, cfg.Pad)
	p.checkCount = true
	sleep(ctx, cfg.Settle)
	probe(ctx, f, p, r)
	ph := phase{Rate: cfg.Rate, Window: cfg.Window, Timed: true}
	if cfg.Warmup > 0 {
		ph.Duration = cfg.Warmup
		p.run(ctx, ph)
		f.waitDelivered(ctx, p.expected.Load(), drainTimeout)
	}

	ph.Duration = cfg.Duration
	pushes0, delivered0 := p.pushes.Load(), f.delivered.Load()
	cpu0, self0 := srv.cpu(), selfCPU()
	busy0, busyErr := machineBusy()
	start := time.Now()
	f.measureFrom.Store(start.UnixNano())
	p.run(ctx, ph)
	if !f.waitDelivered(ctx, p.expected.Load(), drainTimeout) {
		r.note("drain: %d deliveries missing %s after the last push", p.expected.Load()-f.delivered.Load(), drainTimeout)
	}
	end := time.Unix(0, f.lastArrival.Load())
	if end.Before(start) {
		end = time.Now()
	}
	cpu1, self1 := srv.cpu(), selfCPU()
	busy1, _ := machineBusy()
	secs := end.Sub(start).Seconds()
	deliveries := f.delivered.Load() - delivered0
	r.Seconds = secs
	r.PushesPerSec = float64(p.pushes.Load()-pushes0) / secs
	r.DeliveriesPerSec = float64(deliveries) / secs
	lat, hl := f.latency.summary(), p.httpLat.summary()
	r.Latency, r.PushHTTP = &lat, &hl
	if srv.pid != 0 {
		r.ServerCPUSecs = (cpu1 - cpu0).Seconds()
		if deliveries > 0 {
			r.CPUPer1000 = r.ServerCPUSecs / float64(deliveries) * 1000
		}
	}
	r.ClientCPUSecs = (self1 - self0).Seconds()
	if busyErr == nil && srv.pid != 0 {
		r.OtherCPUSecs = max(0, (busy1-busy0).Seconds()-r.ServerCPUSecs-r.ClientCPUSecs)
	}
	r.finish(f, p)
}

// churnStats is what a soak run reports.
type churnStats struct {
	Seconds          float64           `json:"seconds"`
	Replaced         uint64            `json:"sessions_replaced"`
	ReplaceErrors    uint64            `json:"replace_errors"`
	FirstReplaceErr  string            `json:"first_replace_error,omitempty"`
	Pushes           uint64            `json:"pushes"`
	FinalCheck       string            `json:"final_check"`
	RSS              map[string]int64  `json:"rss_bytes"`
	Metrics          map[string]string `json:"metrics,omitempty"`
	MetricsAvailable bool              `json:"metrics_available"`
}

// runChurn keeps a fleet of sessions while sessions leave (cleanly or by
// dropping the connection) and new ones join, with pushes flowing; then it
// checks every live session still receives, closes everything, and reads
// the server's memory and metrics at each step.
func runChurn(ctx context.Context, cfg config, t *target, srv *serverProc, r *result) {
	cs := &churnStats{RSS: map[string]int64{}, Metrics: map[string]string{}}
	r.Churn = cs
	snapshot := func(when string) {
		cs.RSS[when] = srv.rss()
		if text, ok := t.metrics(ctx, cfg.Metrics); ok {
			cs.MetricsAvailable = true
			cs.Metrics[when] = pickMetrics(text)
		}
		if text, ok := t.metrics(ctx, "/debug/pprof/goroutine?debug=1"); ok {
			first, _, _ := strings.Cut(text, "\n")
			cs.Metrics[when+" pprof"] = first
		}
	}
	snapshot("1 before")
	id := runID()
	f, st := newFleet(ctx, t, cfg.Sessions, cfg.PerUser, cfg.Conc, cfg.Sources, id)
	r.Connect = st
	sleep(ctx, cfg.Settle)
	snapshot("2 connected")

	// Pushes flow at cfg.Rate to random users; sequence numbers are per user
	// but a replaced session joins mid-sequence, so loss is judged by the
	// final check rather than by the trackers.
	p := newPusher(f, cfg.Workers, cfg.Pad)
	runCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.run(ctx, phase{Rate: cfg.Rate, Duration: cfg.Duration})
	}()

	var (
		slotMu   sync.Mutex
		replaced atomic.Uint64
		errs     atomic.Uint64
		firstErr atomic.Pointer[error]
		seq      atomic.Uint64
	)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.Churn)
	workers := max(1, min(cfg.Conc, int(cfg.Churn/50)+1))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			tick := time.NewTicker(interval * time.Duration(workers))
			defer tick.Stop()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-tick.C:
				}
				i := rng.IntN(len(f.sessions))
				slotMu.Lock()
				old := f.sessions[i]
				f.sessions[i] = nil
				slotMu.Unlock()
				if old != nil {
					old.hangUp(rng.IntN(2) == 0)
				}
				n := seq.Add(1)
				s, _, err := t.connect(ctx, i/cfg.PerUser, fmt.Sprintf("r%d-%d-%s", i, n, id), i%cfg.Sources)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				f.start(s)
				slotMu.Lock()
				displaced := f.sessions[i] // another worker refilled the slot meanwhile
				f.sessions[i] = s
				slotMu.Unlock()
				if displaced != nil {
					displaced.hangUp(false)
				}
				replaced.Add(1)
			}
		}()
	}
	// Sessions hung up on purpose end their read loops without error.
	f.closing.Store(true)
	wg.Wait()
	cs.Seconds = time.Since(start).Seconds()
	cs.Replaced, cs.ReplaceErrors, cs.Pushes = replaced.Load(), errs.Load(), p.pushes.Load()
	if e := firstErr.Load(); e != nil {
		cs.FirstReplaceErr = (*e).Error()
	}
	sleep(ctx, cfg.Settle)
	snapshot("3 after churn")

	// Final check: one push per user must reach every live session.
	live := make([]uint32, len(f.perUserN))
	var want uint64
	for i, s := range f.sessions {
		if s != nil {
			live[i/cfg.PerUser]++
			want++
		}
	}
	copy(f.perUserN, live)
	before := f.delivered.Load()
	p.run(ctx, phase{Once: true})
	if f.waitDelivered(ctx, before+want, drainTimeout) {
		cs.FinalCheck = fmt.Sprintf("ok: all %d live sessions received a push", want)
	} else {
		cs.FinalCheck = fmt.Sprintf("FAILED: %d of %d live sessions received a push", f.delivered.Load()-before, want)
	}
	if !f.teardown() {
		r.note("teardown: some read loops did not end within a minute")
	}
	t.close()
	sleep(ctx, cfg.Settle)
	snapshot("4 all closed")
	r.Pushes, r.PushErrors, r.FirstPushError = p.pushes.Load(), p.errors.Load(), p.pushError()
	r.BadMessages = f.badMessages.Load()
}

// pickMetrics keeps the lines of a Prometheus text exposition that tell
// about leaks: goroutines, heap, memory, sessions, users, pending ids.
func pickMetrics(text string) string {
	var keep []string
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		for _, key := range []string{"goroutines", "heap", "resident", "memory", "sessions", "users", "pending"} {
			if strings.Contains(line, key) {
				keep = append(keep, line)
				break
			}
		}
	}
	return strings.Join(keep, "; ")
}

// runID makes connection ids unique across runs against one server.
func runID() string { return fmt.Sprintf("%x", rand.Uint64()&0xffffffff) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
