//go:build !unix

package engineio

// canPeek tells whether peekReadable works here: not on this system, where
// readers wait inside their reads.
const canPeek = false

func peekReadable(uintptr) bool { return true }

// canWriteOnce tells whether writeOnce works here: not on this system, where
// every WebSocket batch is written by the session's writer goroutine.
const canWriteOnce = false

func writeOnce(uintptr, []byte) (int, error) { return 0, nil }
