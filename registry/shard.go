package registry

import (
	"sync"
	"sync/atomic"
)

// shard holds the users whose id hashes to it. mu guards users and
// everything reachable from it, except a user's live list, which writers
// replace under mu and pushes load under the user's pushMu (see Push).
type shard struct {
	mu    sync.RWMutex
	users map[string]*user
}

// user is one user's registered connection ids and live sessions. A user
// with neither is removed from its shard (see removeIfEmpty).
type user struct {
	// pushMu serialises pushes to this user, so every session sees the
	// pushes in one order. It is held for a whole fan-out, never together
	// with the shard lock: a push takes it after releasing the shard's
	// read lock, and writers never wait for it (removeIfEmpty only tries it).
	pushMu sync.Mutex
	// live is the sessions of ids, in bind order, for fan-out: nil or a
	// non-empty list that is never modified once stored. Writers build a
	// new list and store it while holding the shard's write lock; a push
	// loads it once while holding pushMu and fans out to that snapshot.
	live atomic.Pointer[[]binding]
	ids  map[string]*conn
	// flush writes the user's large fan-outs (see fanOut); created by the
	// first one, under pushMu.
	flush *flusher
}

// conn is one registered connection id.
type conn struct {
	session Session // nil when no session is bound
	expires int64   // unix nanoseconds; only meaningful when session is nil
}

type binding struct {
	connID  string
	session Session
}

// sessions returns the user's live list, nil when it has none. Writers call
// it under the shard's write lock, readers under its read lock or pushMu.
func (u *user) sessions() []binding {
	if p := u.live.Load(); p != nil {
		return *p
	}
	return nil
}

// setSessions stores list, a slice nobody else holds, as the live list.
// The caller holds the shard's write lock.
func (u *user) setSessions(list []binding) {
	if len(list) == 0 {
		u.live.Store(nil)
		return
	}
	p := new([]binding)
	*p = list
	u.live.Store(p)
}

// withSession returns a copy of the live list with b added, or with b's
// session in the place of the one bound with b.connID if there is one. If
// moveFrom is not empty, b takes the place of the binding of moveFrom
// instead (the same session moving to another connection id), so that the
// copy holds b once.
func (u *user) withSession(b binding, moveFrom string) []binding {
	old := u.sessions()
	list := make([]binding, 0, len(old)+1)
	placed := false
	for _, x := range old {
		if x.connID == b.connID || x.connID == moveFrom {
			if !placed {
				list = append(list, b)
				placed = true
			}
			continue
		}
		list = append(list, x)
	}
	if !placed {
		list = append(list, b)
	}
	return list
}

// withoutSession returns a copy of the live list without the binding of
// connID.
func (u *user) withoutSession(connID string) []binding {
	old := u.sessions()
	if len(old) == 1 && old[0].connID == connID {
		return nil
	}
	list := make([]binding, 0, len(old))
	for _, x := range old {
		if x.connID != connID {
			list = append(list, x)
		}
	}
	return list
}

// removeIfEmpty removes u from the shard if it has no connection id left
// (and so no live session). The caller holds the shard's write lock. A user
// whose pushMu is held is left for the janitor's next pass: a push that is
// still fanning out to a snapshot of its sessions must finish before
// another user value for the same id can exist, or pushes to the same user
// could run on two push locks at once and reach a session out of order.
// TryLock never waits, so a slow fan-out never stalls the shard.
func (sh *shard) removeIfEmpty(userID string, u *user) {
	if len(u.ids) != 0 || !u.pushMu.TryLock() {
		return
	}
	delete(sh.users, userID)
	u.pushMu.Unlock()
}

// countSessions updates the counters after a user's live list went from
// before to after sessions.
func (r *Registry) countSessions(before, after int) {
	if before == after {
		return
	}
	r.sessions.Add(int64(after - before))
	switch {
	case before == 0:
		r.users.Add(1)
	case after == 0:
		r.users.Add(-1)
	}
}

// Register records connID as a connection id of userID, or refreshes its
// expiry if it is already registered. Registering one id more than
// MaxPendingPerUser evicts the least recently used id of the user that has
// no live session; ErrTooManyPending is returned when there is none, or when
// the registry holds MaxPending ids.
func (r *Registry) Register(userID, connID string) error {
	if userID == "" || connID == "" {
		return ErrInvalid
	}
	expires := r.expiry(r.opts.Now())
	sh := r.shardFor(userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	u := sh.users[userID]
	if u != nil {
		if c := u.ids[connID]; c != nil {
			c.expires = expires
			return nil
		}
	}
	if u != nil && len(u.ids) >= r.opts.MaxPendingPerUser {
		if !u.evictOldest() {
			return ErrTooManyPending
		}
		r.evicted.Add(1)
		// One out, one in: the total is unchanged.
	} else if r.pending.Add(1) > int64(r.opts.MaxPending) {
		r.pending.Add(-1)
		return ErrTooManyPending
	}
	if u == nil {
		u = &user{ids: make(map[string]*conn, 1)}
		sh.users[userID] = u
	}
	u.ids[connID] = &conn{expires: expires}
	return nil
}

// evictOldest removes the unbound connection id that expires first. It
// reports false if every id has a live session.
func (u *user) evictOldest() bool {
	victim, oldest := "", int64(0)
	for id, c := range u.ids {
		if c.session == nil && (victim == "" || c.expires < oldest) {
			victim, oldest = id, c.expires
		}
	}
	if victim == "" {
		return false
	}
	delete(u.ids, victim)
	return true
}

// Bind makes s a live session of userID if connID is registered for exactly
// that user and has not expired. A session already bound with connID is
// replaced and closed (after the lock is released). Binding s again with the
// same id is a no-op. A session is live at most once per user: if s is
// bound with another connection id of userID, it moves to connID in one
// step (no push reaches it twice or misses it), and the id it leaves stays
// registered for TTL from now, as after Unbind. Session values must be
// comparable (pointers, typically).
func (r *Registry) Bind(userID, connID string, s Session) error {
	if userID == "" || connID == "" {
		return ErrInvalid
	}
	now := r.opts.Now()
	sh := r.shardFor(userID)
	sh.mu.Lock()
	u := sh.users[userID]
	var c *conn
	if u != nil {
		c = u.ids[connID]
	}
	if c == nil {
		sh.mu.Unlock()
		return ErrNotRegistered
	}
	if c.session == nil && c.expires <= now.UnixNano() {
		delete(u.ids, connID)
		r.pending.Add(-1)
		r.expired.Add(1)
		sh.removeIfEmpty(userID, u)
		sh.mu.Unlock()
		return ErrNotRegistered
	}
	old := c.session
	if old == s {
		sh.mu.Unlock()
		return nil
	}
	live := u.sessions()
	moveFrom := ""
	for _, b := range live {
		if b.session == s {
			moveFrom = b.connID
			break
		}
	}
	if old == nil && moveFrom == "" && len(live) >= r.opts.MaxSessionsPerUser {
		sh.mu.Unlock()
		return ErrTooManySessions
	}
	list := u.withSession(binding{connID: connID, session: s}, moveFrom)
	u.setSessions(list)
	c.session = s
	if moveFrom != "" {
		from := u.ids[moveFrom]
		from.session = nil
		from.expires = r.expiry(now)
	}
	r.countSessions(len(live), len(list))
	sh.mu.Unlock()
	if old != nil {
		old.Close(ReasonReplaced)
	}
	return nil
}

// Unbind removes s from the live sessions of userID if it is still the
// session bound with connID, and reports whether it was. The connection id
// stays registered for TTL from now so that the client can reconnect.
//
// No push that starts after Unbind returns reaches s. Unbind does not wait
// for a fan-out already in progress, which may still hand s the packet it
// is sending (s was live when that push started).
func (r *Registry) Unbind(userID, connID string, s Session) bool {
	expires := r.expiry(r.opts.Now())
	sh := r.shardFor(userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return r.unbindLocked(sh.users[userID], connID, s, expires)
}

// unbindLocked is Unbind with the shard's write lock held; u may be nil.
func (r *Registry) unbindLocked(u *user, connID string, s Session, expires int64) bool {
	if u == nil {
		return false
	}
	c := u.ids[connID]
	if c == nil || c.session == nil || c.session != s {
		return false
	}
	c.session = nil
	c.expires = expires
	before := len(u.sessions())
	list := u.withoutSession(connID)
	u.setSessions(list)
	r.countSessions(before, len(list))
	return true
}

// drop unbinds s from userID whatever connection id it is bound with, and
// reports whether it was bound. Push calls it for a session whose Emit
// failed: the session may have moved to another id of the user meanwhile,
// so the id is looked up under the same lock that unbinds it.
func (r *Registry) drop(userID string, s Session) bool {
	expires := r.expiry(r.opts.Now())
	sh := r.shardFor(userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	u := sh.users[userID]
	if u == nil {
		return false
	}
	for _, b := range u.sessions() {
		if b.session == s {
			return r.unbindLocked(u, b.connID, s, expires)
		}
	}
	return false
}

// Push enqueues packet to every live session of userID and returns how many
// accepted it. The same slice is handed to every session, which must not
// modify it. Sessions whose Emit fails are unbound and closed, with no lock
// held; one that was unbound or replaced meanwhile is left to whoever did
// that (a replacing Bind closes it already).
//
// Pushes to one user reach all its sessions in one order; a session bound
// before Push starts gets the packet, and one unbound or replaced before it
// starts does not. Push holds the shard's read lock only to find the user,
// and the user's push lock during the fan-out, so Register, Bind, Unbind
// and pushes to other users of the shard never wait for a slow fan-out.
//
// Why that keeps the guarantees: writers never modify a published live list;
// they store a new one under the shard's write lock. A push loads the list
// once, after taking the user's push lock, and fans out to that snapshot.
//   - Order: pushes to a user hold its push lock one at a time, so there is
//     one sequence of fan-outs and every session receives a subsequence of
//     it. Only one user value exists per id while any fan-out to it runs
//     (removeIfEmpty), so there is only one push lock per user.
//   - No miss: a Bind that returned before Push started stored a list with
//     its session; Push finds the same user value (a user with a live
//     session is never removed) and loads at least that list.
//   - No double: a snapshot holds each session once (Bind moves a session
//     instead of binding it twice), and a Bind or Unbind that lands during a
//     fan-out changes only the list the next push loads, which takes the
//     push lock after this fan-out ends. A session bound meanwhile thus gets
//     none of this push and all of the next; one unbound meanwhile may get
//     this push but none after.
//   - Unbind and replace: their list is stored before they return, so a push
//     that starts later cannot load a list holding the old session.
//   - The flusher of a large user (fanOut) only writes: the push lock fixes
//     the order in which packets enter each session's queue, and whoever
//     writes a session's queue writes it in that order. It flushes every
//     list a pending packet was queued to, so a session unbound since
//     still gets the packets queued for it written.
func (r *Registry) Push(userID string, packet []byte) int {
	sh := r.shardFor(userID)
	sh.mu.RLock()
	u := sh.users[userID]
	if u == nil || u.live.Load() == nil {
		sh.mu.RUnlock()
		return 0
	}
	sh.mu.RUnlock()
	n, failed := u.fanOut(packet, &r.opts)
	for _, s := range failed {
		if r.drop(userID, s) {
			s.Close(ReasonEmitError)
		}
	}
	return n
}

// fanOut emits packet to the user's live sessions under its push lock and
// returns how many took it and those that failed. The push lock is taken
// after the shard's read lock is released: waiting for another fan-out while
// holding it would stall a writer waiting for the shard, and with it every
// reader of the shard. A panicking Emit releases the lock on its way out, so
// the user's later pushes do not wait forever.
//
// A user with parallelFanOut sessions or more gets the packet queued in
// every session under the push lock, chunk by chunk, each chunk then
// written by the user's flusher (see flusher): writing to thousands of
// sockets takes milliseconds, and pushes that arrive meanwhile then reach
// each session in the same write as the one before, instead of one write
// each.
func (u *user) fanOut(packet []byte, opts *Options) (int, []Session) {
	u.pushMu.Lock()
	defer u.pushMu.Unlock()
	p := u.live.Load()
	if p == nil {
		return 0, nil
	}
	bs := *p
	if len(bs) < parallelFanOut {
		return emitAll(bs, packet, false)
	}
	if u.flush == nil {
		u.flush = newFlusher(opts.FlushBacklog, opts.Logger)
	}
	u.flush.waitBacklog()
	var n int
	var failed []Session
	for from := 0; from < len(bs); from += queueChunk {
		to := min(from+queueChunk, len(bs))
		cn, cf := emitAll(bs[from:to], packet, true)
		n += cn
		failed = append(failed, cf...)
		u.flush.request(p, from, to, from == 0)
	}
	return n, failed
}

// queueChunk is how many sessions a large fan-out queues to before it hands
// them to the flusher, so that writing starts while it queues the rest:
// queueing to a session takes about a twentieth of writing to it.
const queueChunk = parallelFanOut / 2

// emitAll emits packet to every session of bs and returns how many took it
// and those that failed. With queue, a session that is a Queuer gets Queue
// instead of Emit, leaving the write to its Flush.
func emitAll(bs []binding, packet []byte, queue bool) (n int, failed []Session) {
	for _, b := range bs {
		var err error
		if queue {
			err = queueOne(b.session, packet)
		} else {
			err = b.session.Emit(packet)
		}
		if err != nil {
			failed = append(failed, b.session)
			continue
		}
		n++
	}
	return n, failed
}

// queueOne queues packet in s if it is a Queuer, and emits it otherwise.
func queueOne(s Session, packet []byte) error {
	if q, ok := s.(Queuer); ok {
		return q.Queue(packet)
	}
	return s.Emit(packet)
}

// parallelFanOut is the number of sessions of one user from which a push is
// queued, and written by the user's flusher, shared among up to GOMAXPROCS
// goroutines (see flushAll). Below it, Emit writes to each client's socket
// on the pushing goroutine, which costs no hand-off.
const parallelFanOut = 512

// Sessions returns how many live sessions userID has.
func (r *Registry) Sessions(userID string) int {
	sh := r.shardFor(userID)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if u := sh.users[userID]; u != nil {
		return len(u.sessions())
	}
	return 0
}

// expire removes the shard's unbound connection ids that expired at or before
// now, and users left with nothing.
func (sh *shard) expire(r *Registry, now int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for userID, u := range sh.users {
		for id, c := range u.ids {
			if c.session == nil && c.expires <= now {
				delete(u.ids, id)
				r.pending.Add(-1)
				r.expired.Add(1)
			}
		}
		sh.removeIfEmpty(userID, u)
	}
}
