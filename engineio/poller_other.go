//go:build !linux

package engineio

import (
	"errors"
	"syscall"
)

// canPoll tells whether the read poller works here: not on this system,
// where each WebSocket session's reader waits on its own goroutine.
const canPoll = false

// readPoller is the read poller's stand-in here; it is never usable.
type readPoller struct{}

var polls readPoller

func (*readPoller) usable() bool { return false }

func (*readPoller) arm(pollWaiter, syscall.RawConn) error {
	return errors.New("engineio: no read poller on this system")
}

func (*readPoller) cancel(pollWaiter) bool { return false }
