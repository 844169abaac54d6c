// Package leakcheck fails a package's tests when they leave goroutines of
// this module running: every session, reader, writer, janitor and scheduler
// a test starts must end by the time the tests are done.
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Wait is how long Main waits for goroutines to end after the tests.
const Wait = 10 * time.Second

// Main runs the tests and, if they passed, checks for leaked goroutines,
// then exits: with 1 and the leftover stacks on stderr if any remain.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := Check(Wait); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// Check waits up to d for every goroutine running code of this module to
// end, and returns an error listing those that did not.
func Check(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		left := Ours()
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leaked goroutines (%d):\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ours returns the stacks of running goroutines that run or were started
// by code of this module (including a package main under test), leaving out
// the caller's own goroutine and the testing and fuzzing machinery.
func Ours() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "leakcheck.Ours") || strings.Contains(g, "testing.(*M).") ||
			strings.Contains(g, "testing.(*F).Fuzz") || strings.Contains(g, "testing.tRunner") ||
			strings.Contains(g, "internal/fuzz.") {
			continue
		}
		if strings.Contains(g, "notification-server/") || strings.Contains(g, "\nmain.") {
			out = append(out, g)
		}
	}
	return out
}
