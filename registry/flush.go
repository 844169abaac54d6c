package registry

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
)

// Queuer is implemented by a Session that can queue a packet without writing
// it, and write what it queued later. A push to a user with parallelFanOut
// (512) sessions or more queues the packet in every session that is a
// Queuer, under the user's push lock, and the user's flusher writes them
// afterwards, with no registry lock held; sessions that are not Queuers get
// Emit instead.
type Queuer interface {
	// Queue enqueues packet like Emit, without writing it. It must not
	// block, and an error means the same as Emit's.
	Queue(packet []byte) error
	// Flush writes what Queue enqueued, without waiting for a slow client:
	// what the socket does not take at once is the session's to write on.
	// Several goroutines may call it at once for one session, and it may
	// find nothing left to write.
	Flush()
}

// flusher writes a large user's queued pushes. It runs on its own
// goroutine while there is something to write: each pass takes the ranges
// of sessions queued to so far and flushes them, so pushes that arrive
// during a pass are written together, one write per session, by the next.
// A push hands over its sessions in chunks as it queues them (queueChunk),
// so the first writes start while it is still queueing the rest. The push
// that queued a packet returns without waiting for its write, like a
// Session's Emit.
type flusher struct {
	mu      sync.Mutex
	started sync.Cond // broadcast when a pass takes the pending ranges
	running bool      // the goroutine runs
	backlog int       // pushes that handed over a range not yet taken by a pass
	// pending are the ranges of live lists queued to and not yet taken by
	// a pass, a range of one list growing while pushes to it go on in a
	// row: usually one list, more when sessions were bound or unbound
	// between pushes. Each range is flushed whole, so a session unbound
	// after its packet was queued still gets it written.
	pending    []span
	maxBacklog int
	logger     *slog.Logger
}

// span is the sessions list[from:to] of a live list.
type span struct {
	list     *[]binding
	from, to int
}

func newFlusher(maxBacklog int, logger *slog.Logger) *flusher {
	f := &flusher{maxBacklog: maxBacklog, logger: logger}
	f.started.L = &f.mu
	return f
}

// waitBacklog waits until fewer than maxBacklog pushes wait for a pass
// (Options.FlushBacklog). That bounds what a fast publisher can pile up in
// each session's queue (what one pass writes plus maxBacklog) below the
// bound that closes a session as too slow, so only a slow client, never a
// busy flusher, gets a session closed. The caller holds the user's push
// lock, so later pushes to the user wait in line behind it.
func (f *flusher) waitBacklog() {
	f.mu.Lock()
	for f.running && f.backlog >= f.maxBacklog {
		f.started.Wait()
	}
	f.mu.Unlock()
}

// request has the sessions (*list)[from:to], in which a packet was just
// queued, flushed, starting the flusher's goroutine if it is not running.
// first is true for the first range a push hands over.
func (f *flusher) request(list *[]binding, from, to int, first bool) {
	f.mu.Lock()
	// A push is counted once per pass it waits for: by its first range,
	// and again by a later one if a pass took its earlier ranges meanwhile
	// (backlog is then 0, and no other push can have handed over a range
	// since, as pushes to the user hold its push lock one at a time).
	// Otherwise the rest of a push split by a pass would wait uncounted,
	// and one push more than maxBacklog could pile up in its sessions.
	if first || f.backlog == 0 {
		f.backlog++
	}
	if n := len(f.pending); n > 0 && f.pending[n-1].list == list {
		last := &f.pending[n-1]
		last.from, last.to = min(last.from, from), max(last.to, to)
	} else {
		f.pending = append(f.pending, span{list, from, to})
	}
	start := !f.running
	f.running = true
	f.mu.Unlock()
	if start {
		go f.run()
	}
}

// run makes flush passes until no range waits for one. A panicking Flush
// is logged and ends the goroutine; the next push starts it again, and its
// first pass flushes what was waiting. What the failed pass had not reached
// yet stays queued in its sessions, for the next write to each.
func (f *flusher) run() {
	var spans []span
	defer func() {
		if v := recover(); v != nil {
			f.logger.Error("registry: flush panicked", "panic", v, "stack", string(debug.Stack()))
			f.mu.Lock()
			f.running = false
			f.started.Broadcast()
			f.mu.Unlock()
		}
	}()
	for {
		f.mu.Lock()
		if len(f.pending) == 0 {
			f.running = false
			f.mu.Unlock()
			return
		}
		spans, f.pending = f.pending, spans[:0]
		f.backlog = 0
		f.started.Broadcast()
		f.mu.Unlock()
		for i, sp := range spans {
			flushAll((*sp.list)[sp.from:sp.to])
			spans[i] = span{}
		}
	}
}

// flushAll flushes every session of bs that is a Queuer, sharing them
// evenly among up to GOMAXPROCS goroutines, at least parallelFanOut/2
// each, since each write is a system call; the caller's goroutine takes the
// first share. It returns when all are done; a panic is raised again on the
// caller's goroutine.
func flushAll(bs []binding) {
	parts := min(runtime.GOMAXPROCS(0), len(bs)/(parallelFanOut/2))
	if parts < 2 {
		flushEach(bs)
		return
	}
	share := func(i int) []binding { return bs[i*len(bs)/parts : (i+1)*len(bs)/parts] }
	panics := make([]any, parts)
	flush := func(i int) {
		defer func() { panics[i] = recover() }()
		flushEach(share(i))
	}
	var wg sync.WaitGroup
	for i := 1; i < parts; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			flush(i)
		}()
	}
	flush(0)
	wg.Wait()
	for _, v := range panics {
		if v != nil {
			panic(v)
		}
	}
}

// flushEach flushes every session of bs that is a Queuer.
func flushEach(bs []binding) {
	for _, b := range bs {
		if q, ok := b.session.(Queuer); ok {
			q.Flush()
		}
	}
}
