package registry

import "sync"

// shard holds the users whose id hashes to it. mu guards users and
// everything reachable from it, except that pushes, which only read, hold mu
// for reading plus the user's pushMu.
type shard struct {
	mu    sync.RWMutex
	users map[string]*user
}

// user is one user's registered connection ids and live sessions. A user
// with neither is removed from its shard.
type user struct {
	// pushMu serialises pushes to this user, which hold only the shard's
	// read lock, so every session sees the pushes in one order.
	pushMu sync.Mutex
	ids    map[string]*conn
	live   []binding // the sessions of ids, in bind order, for fan-out
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

// Register records connID as a connection id of userID, or refreshes its
// expiry if it is already registered. Registering one id more than
// MaxPendingPerUser evicts the least recently used id of the user that has
// no live session; ErrTooManyPending is returned when there is none, or when
// the registry holds MaxPending ids.
func (r *Registry) Register(userID, connID string) error {
	if userID == "" || connID == "" {
		return ErrInvalid
	}
	expires := r.opts.Now().Add(r.opts.TTL).UnixNano()
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
// same id is a no-op. Session values must be comparable (pointers, typically).
func (r *Registry) Bind(userID, connID string, s Session) error {
	if userID == "" || connID == "" {
		return ErrInvalid
	}
	now := r.opts.Now().UnixNano()
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
	if c.session == nil && c.expires <= now {
		delete(u.ids, connID)
		r.pending.Add(-1)
		r.expired.Add(1)
		if len(u.ids) == 0 {
			delete(sh.users, userID)
		}
		sh.mu.Unlock()
		return ErrNotRegistered
	}
	old := c.session
	switch {
	case old == s:
		sh.mu.Unlock()
		return nil
	case old == nil:
		if len(u.live) >= r.opts.MaxSessionsPerUser {
			sh.mu.Unlock()
			return ErrTooManySessions
		}
		u.live = append(u.live, binding{connID: connID, session: s})
		if r.sessions.Add(1); len(u.live) == 1 {
			r.users.Add(1)
		}
	default:
		for i := range u.live {
			if u.live[i].connID == connID {
				u.live[i].session = s
				break
			}
		}
	}
	c.session = s
	sh.mu.Unlock()
	if old != nil {
		old.Close(ReasonReplaced)
	}
	return nil
}

// Unbind removes s from the live sessions of userID if it is still the
// session bound with connID, and reports whether it was. The connection id
// stays registered for TTL from now so that the client can reconnect.
func (r *Registry) Unbind(userID, connID string, s Session) bool {
	expires := r.opts.Now().Add(r.opts.TTL).UnixNano()
	sh := r.shardFor(userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	u := sh.users[userID]
	if u == nil {
		return false
	}
	c := u.ids[connID]
	if c == nil || c.session == nil || c.session != s {
		return false
	}
	c.session = nil
	c.expires = expires
	for i := range u.live {
		if u.live[i].connID == connID {
			last := len(u.live) - 1
			u.live[i] = u.live[last]
			u.live[last] = binding{}
			u.live = u.live[:last]
			break
		}
	}
	if r.sessions.Add(-1); len(u.live) == 0 {
		r.users.Add(-1)
	}
	return true
}

// Push enqueues packet to every live session of userID and returns how many
// accepted it. The same slice is handed to every session, which must not
// modify it. Pushes to one user reach all its sessions in the same order.
// Sessions whose Emit fails are unbound and closed.
func (r *Registry) Push(userID string, packet []byte) int {
	sh := r.shardFor(userID)
	sh.mu.RLock()
	u := sh.users[userID]
	if u == nil || len(u.live) == 0 {
		sh.mu.RUnlock()
		return 0
	}
	n := 0
	var failed []binding
	u.pushMu.Lock()
	for _, b := range u.live {
		if err := b.session.Emit(packet); err != nil {
			failed = append(failed, b)
			continue
		}
		n++
	}
	u.pushMu.Unlock()
	sh.mu.RUnlock()
	for _, b := range failed {
		r.Unbind(userID, b.connID, b.session)
		b.session.Close(ReasonEmitError)
	}
	return n
}

// Sessions returns how many live sessions userID has.
func (r *Registry) Sessions(userID string) int {
	sh := r.shardFor(userID)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if u := sh.users[userID]; u != nil {
		return len(u.live)
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
		if len(u.ids) == 0 {
			delete(sh.users, userID)
		}
	}
}
