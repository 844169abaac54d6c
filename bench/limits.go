//go:build linux

package main

import (
	"fmt"
	"syscall"
)

// fdReserve is how many descriptors the load generator keeps for itself
// (HTTP workers, /proc reads, stdio) beyond one per session.
const fdReserve = 400

// raiseFileLimit lifts the soft open-file limit to the hard limit and
// returns the resulting soft limit.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("raise open-file limit to %d: %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}

// sessionCap is the most sessions one process can hold under an open-file
// limit when each session takes perSession descriptors. The server, started
// with the same limit, has about the same bound.
func sessionCap(fileLimit uint64, perSession int) int {
	if fileLimit <= fdReserve {
		return 0
	}
	return int(fileLimit-fdReserve) / max(1, perSession)
}

// capSessions bounds want (0 means "as many as allowed") by the limit and
// says why when it had to.
func capSessions(want int, fileLimit uint64, perSession int) (n int, note string) {
	limit := sessionCap(fileLimit, perSession)
	per := "one descriptor"
	if perSession > 1 {
		per = fmt.Sprintf("%d descriptors", perSession)
	}
	why := fmt.Sprintf("the open-file limit %d (%s per session in this process and in the server, %d kept in reserve)", fileLimit, per, fdReserve)
	switch {
	case want <= 0:
		return limit, fmt.Sprintf("sessions: %d, the most %s allows", limit, why)
	case want > limit:
		return limit, fmt.Sprintf("sessions capped from %d to %d by %s", want, limit, why)
	}
	return want, ""
}
