//go:build unix

package engineio

import "syscall"

// canPeek tells whether peekReadable works here.
const canPeek = true

// peekReadable is a syscall.RawConn.Read callback: it reports whether the
// socket fd has something for a read (data, end of file or an error)
// without taking any of it, so false means wait for the socket to become
// readable.
func peekReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
