package registry

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Session is one live client connection as the registry sees it.
type Session interface {
	// Emit enqueues or writes an encoded packet for the client. It is
	// called with the user's push lock held (no shard lock), so it must not
	// block for long, since every other push to the same user waits, and
	// must not push to the same user. It may call Unbind, but not Bind: a
	// Bind that replaces a session closes it, and Close must run with no
	// registry lock held. For a user with parallelFanOut (512) sessions or
	// more, a Session that is also a Queuer gets Queue and Flush instead.
	// An error means the session is gone or cannot keep up; the registry
	// then drops it.
	Emit(packet []byte) error
	// Close disconnects the client. It is called with no registry lock
	// held, when a newer session replaces this one or Emit failed.
	Close(reason string)
}

// Errors returned by Register and Bind.
var (
	// ErrTooManyPending means a connection id could not be registered
	// because the user or the whole registry holds as many as allowed.
	ErrTooManyPending = errors.New("too many pending connection ids")
	// ErrNotRegistered means the connection id is not registered for the
	// user, or has expired.
	ErrNotRegistered = errors.New("connection id not registered for this user")
	// ErrTooManySessions means the user already has as many live sessions
	// as allowed.
	ErrTooManySessions = errors.New("too many sessions for this user")
	// ErrInvalid means an empty user id or connection id.
	ErrInvalid = errors.New("empty user id or connection id")
)

// Reasons passed to Session.Close.
const (
	ReasonReplaced  = "replaced by a newer session with the same connection id"
	ReasonEmitError = "could not enqueue a message"
)

// Options configure a Registry. The zero value of every field means its
// default.
type Options struct {
	// Shards is the number of shards, rounded up to a power of two.
	// Default 64.
	Shards int
	// TTL is how long a connection id stays registered after its last use.
	// Default 1h.
	TTL time.Duration
	// MaxPendingPerUser bounds the connection ids of one user. Default 64.
	MaxPendingPerUser int
	// MaxPending bounds the connection ids of all users. Default 1,000,000.
	MaxPending int
	// MaxSessionsPerUser bounds the live sessions of one user. Default 64.
	MaxSessionsPerUser int
	// JanitorInterval is how often expired connection ids are removed.
	// Default TTL/4, at least 1s and at most 1m.
	JanitorInterval time.Duration
	// Now returns the current time. Default time.Now; tests replace it.
	Now func() time.Time
	// FlushBacklog is how many pushes to a user with 512 sessions or more
	// may be queued in its sessions and not yet taken by a flush pass
	// before a further push waits (see Queuer). A session's queue then
	// holds up to twice as many packets from such pushes, so keep it at
	// most half the sessions' queue bound. Default 8.
	FlushBacklog int
	// Logger receives what goes wrong off the caller's goroutine (a
	// panicking Queuer.Flush). Default: discard.
	Logger *slog.Logger
}

func (o *Options) withDefaults() (Options, error) {
	var d Options
	if o != nil {
		d = *o
	}
	if d.Shards < 0 || d.TTL < 0 || d.MaxPendingPerUser < 0 || d.MaxPending < 0 ||
		d.MaxSessionsPerUser < 0 || d.JanitorInterval < 0 || d.FlushBacklog < 0 {
		return d, fmt.Errorf("registry options: negative limit in %+v", d)
	}
	if d.Shards == 0 {
		d.Shards = 64
	}
	n := 1
	for n < d.Shards {
		n <<= 1
	}
	d.Shards = n
	if d.TTL == 0 {
		d.TTL = time.Hour
	}
	if d.MaxPendingPerUser == 0 {
		d.MaxPendingPerUser = 64
	}
	if d.MaxPending == 0 {
		d.MaxPending = 1_000_000
	}
	if d.MaxSessionsPerUser == 0 {
		d.MaxSessionsPerUser = 64
	}
	if d.JanitorInterval == 0 {
		d.JanitorInterval = min(max(d.TTL/4, time.Second), time.Minute)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.FlushBacklog == 0 {
		d.FlushBacklog = 8
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return d, nil
}

// Registry maps user ids to live sessions and registered connection ids.
// Create it with New and stop it with Close.
type Registry struct {
	opts   Options
	shards []shard
	mask   uint32

	users    atomic.Int64 // users with at least one live session
	sessions atomic.Int64
	pending  atomic.Int64 // registered connection ids, bound or not
	evicted  atomic.Uint64
	expired  atomic.Uint64

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New returns a Registry and starts its janitor. It fails only on invalid
// options.
func New(opts *Options) (*Registry, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Registry{
		opts:   o,
		shards: make([]shard, o.Shards),
		mask:   uint32(o.Shards - 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	for i := range r.shards {
		r.shards[i].users = make(map[string]*user)
	}
	go r.janitor()
	return r, nil
}

// Close stops the janitor and waits for it. Sessions are left alone: the
// server closes its connections itself. Close is idempotent.
func (r *Registry) Close() {
	r.closeOnce.Do(func() { close(r.stop) })
	<-r.done
}

// Stats is a snapshot of the registry's counters.
type Stats struct {
	Users    int64  // users with at least one live session
	Sessions int64  // live sessions
	Pending  int64  // registered connection ids, bound or not
	Evicted  uint64 // connection ids evicted by MaxPendingPerUser, ever
	Expired  uint64 // connection ids removed after their TTL, ever
}

// Stats returns the current counters. It takes no lock.
func (r *Registry) Stats() Stats {
	return Stats{
		Users:    r.users.Load(),
		Sessions: r.sessions.Load(),
		Pending:  r.pending.Load(),
		Evicted:  r.evicted.Load(),
		Expired:  r.expired.Load(),
	}
}

// expiry returns when a connection id used at now expires, in Unix
// nanoseconds. It saturates instead of wrapping: time.Time.UnixNano is
// undefined past 2262, and a TTL of centuries (accepted as "forever") would
// otherwise give an expiry in the past.
func (r *Registry) expiry(now time.Time) int64 {
	n, ttl := now.UnixNano(), int64(r.opts.TTL)
	if n > 0 && ttl > math.MaxInt64-n {
		return math.MaxInt64
	}
	return n + ttl
}

func (r *Registry) shardFor(userID string) *shard {
	// FNV-1a, 32 bit, inlined to avoid allocating a hash.Hash.
	h := uint32(2166136261)
	for i := 0; i < len(userID); i++ {
		h ^= uint32(userID[i])
		h *= 16777619
	}
	return &r.shards[h&r.mask]
}

func (r *Registry) janitor() {
	defer close(r.done)
	t := time.NewTicker(r.opts.JanitorInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.Expire()
		}
	}
}

// Expire removes every expired connection id now, one shard at a time. The
// janitor calls it periodically; it is exported for tests and tools.
func (r *Registry) Expire() {
	for i := range r.shards {
		select {
		case <-r.stop:
			return
		default:
		}
		r.shards[i].expire(r, r.opts.Now().UnixNano())
	}
}
