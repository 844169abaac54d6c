// Package registry maps users to their live sessions and keeps the connection
// ids a backend registered for them.
//
// It knows nothing of HTTP, Engine.IO or Socket.IO: a session is the small
// Session interface declared here, and a push is an already encoded packet
// handed to every live session of a user. The api package adapts a Socket.IO
// socket to Session.
//
// # Model
//
// A backend registers a connection id for a user (Register). A client that
// presents exactly that id for exactly that user binds its session (Bind);
// from then on every Push for the user is enqueued to that session. When the
// client disconnects the session is unbound at once (Unbind), but the
// connection id stays registered so that a reconnecting client can bind again.
// A session is live at most once per user: binding it with another id of the
// same user moves it there in one step.
//
// A connection id expires TTL after its last use: registering it again,
// binding a session with it and unbinding that session all count as use, and
// an id never expires while a session is bound with it. A newer session bound
// with the same connection id replaces the older one, which is closed.
//
// # Limits
//
// Connection ids are bounded per user (MaxPendingPerUser): registering one
// more evicts the least recently used id that has no live session; if every
// id of the user has a live session, Register fails with ErrTooManyPending.
// They are bounded in total (MaxPending): beyond it Register fails with
// ErrTooManyPending. Live sessions are bounded per user (MaxSessionsPerUser):
// beyond it Bind fails with ErrTooManySessions.
//
// # Concurrency
//
// All methods are safe for concurrent use. Users are spread over a power of
// two of shards by the FNV-1a hash of the user id, each shard with its own
// lock. A user's live sessions are an immutable list that Bind and Unbind
// replace (copy on write) under the shard's write lock. A push takes the
// shard's read lock only to find the user, then the user's push lock, loads
// the list and fans out to it with no shard lock held: pushes to one user
// reach all its sessions in one order, pushes to other users proceed in
// parallel, and Register, Bind and Unbind never wait for a fan-out, however
// slow Session.Emit is. A fan-out to 512 sessions or more only queues the
// packet in each session (Queuer) under the push lock, handing the sessions
// to the user's flusher goroutine 256 at a time, and returns; the flusher
// writes, sharing the sessions among up to GOMAXPROCS goroutines, and
// pushes queued while it writes go out together in its next pass, one
// write per session (at most FlushBacklog pushes wait for a pass; a further
// push waits for the next pass to start). Push
// documents why no push is lost, doubled or reordered. Session.Close is
// always called with no lock held. A janitor goroutine expires connection
// ids one shard at a time until Close.
//
// Left out for now: delivery receipts (acks), per-user inboxes for offline
// users and state shared between nodes. Session is kept small so that an
// acknowledging variant can be added without touching the push path.
package registry
