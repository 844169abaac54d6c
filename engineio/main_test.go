package engineio

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package if goroutines started by the tests are still
// running once they are done: every session, reader, writer and the
// heartbeat scheduler must end.
func TestMain(m *testing.M) {
	base := len(goroutines())
	code := m.Run()
	if code == 0 {
		if err := waitGoroutines(base, 10*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// waitGoroutines waits until at most n goroutines run, and reports the
// leftover stacks if that does not happen within d.
func waitGoroutines(n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		left := goroutines()
		if len(left) <= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leaked goroutines: %d running, want at most %d\n%s", len(left), n, strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// goroutines returns the stacks of running goroutines, without this one and
// those of the testing and fuzzing machinery.
func goroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "runtime.Stack") || strings.Contains(g, "os/signal.loop") ||
			strings.Contains(g, "testing.(*M).Run") || strings.Contains(g, "testing.(*F).Fuzz") {
			continue
		}
		out = append(out, g)
	}
	return out
}
