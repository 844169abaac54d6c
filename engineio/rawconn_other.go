//go:build !unix

package engineio

// canPeek tells whether peekReadable works here: not on this system, where
// readers wait inside their reads.
const canPeek = false

func peekReadable(uintptr) bool { return true }

// canWriteNow tells whether writeNow works here: not on this system, where
// every WebSocket batch is written by the session's writer goroutine.
const canWriteNow = false

func writeNow(uintptr, []byte) (int, error) { return 0, nil }
