//go:build !linux

package main

import (
	"fmt"
	"os"
)

// main refuses to run: the load generator reads its sessions and drives its
// closed loop with epoll, which only Linux has.
func main() {
	fmt.Fprintln(os.Stderr, "bench: the load generator needs Linux (epoll)")
	os.Exit(2)
}
