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

// canWriteOnce tells whether writeOnce works here.
const canWriteOnce = true

// writeOnce writes p to the non-blocking socket fd once, without waiting:
// it returns how much the kernel took, 0 with a nil error when it took
// nothing because the socket's buffer is full.
func writeOnce(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Write(int(fd), p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			return 0, nil
		case err != nil:
			return 0, err
		}
		return n, nil
	}
}
