//go:build linux

package main

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// preciseTimer waits for a point in time with a timerfd registered with
// Go's network poller. time.Sleep wakes up to a millisecond late on Linux
// when the process is otherwise idle (the runtime's epoll_wait timeout has
// millisecond resolution), and in the open loop that lateness would be
// counted as the server's latency. A timerfd's expiry wakes the poller at
// once, and no thread or P is held while waiting.
type preciseTimer struct {
	f   *os.File
	fd  int
	buf [8]byte
}

type itimerspec struct{ interval, value syscall.Timespec }

const clockMonotonic = 1

// newPreciseTimer returns a timer, or nil if timerfd is unavailable (then
// sleepUntil falls back to time.Sleep).
func newPreciseTimer() *preciseTimer {
	r, _, errno := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil
	}
	return &preciseTimer{f: os.NewFile(r, "timerfd"), fd: int(r)}
}

// sleepUntil returns at t, or at once if t has passed.
func (p *preciseTimer) sleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	if p != nil {
		its := itimerspec{value: syscall.NsecToTimespec(int64(d))}
		if _, _, errno := syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, uintptr(p.fd), 0, uintptr(unsafe.Pointer(&its)), 0, 0, 0); errno == 0 {
			if _, err := p.f.Read(p.buf[:]); err == nil {
				return
			}
		}
	}
	time.Sleep(time.Until(t))
}

func (p *preciseTimer) close() {
	if p != nil {
		p.f.Close()
	}
}
