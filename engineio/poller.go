package engineio

// pollWaiter is something waiting in the read poller for its connection to
// have something to read: a WebSocket session's reading, or a parked HTTP
// connection.
type pollWaiter interface {
	// waitState is the waiter's place in the poller, guarded by its lock.
	waitState() *pollWait
	// pollReady runs, on a goroutine of its own, once the connection has
	// data, an end of file or an error.
	pollReady()
}

// pollWait is one waiter's bookkeeping in the read poller.
type pollWait struct {
	token   uint64 // the armed wait's, never reused; 0: none armed
	stopped bool   // cancel ran: no wait may be armed any more
	polled  bool   // the descriptor was added to the epoll instance
}
