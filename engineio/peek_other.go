//go:build !unix

package engineio

// canPeek tells whether peekReadable works here: not on this system, where
// readers wait inside their reads.
const canPeek = false

func peekReadable(uintptr) bool { return true }
