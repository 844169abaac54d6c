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
	base := runtime.NumGoroutine()
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
		if runtime.NumGoroutine() <= n {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("leaked goroutines: %d running, want at most %d\n%s", runtime.NumGoroutine(), n, leakedStacks(string(buf)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leakedStacks drops the goroutines that belong to the test framework.
func leakedStacks(all string) string {
	var out []string
	for _, g := range strings.Split(all, "\n\n") {
		if strings.Contains(g, "testing.(*M).Run") || strings.Contains(g, "runtime.Stack") {
			continue
		}
		out = append(out, g)
	}
	return strings.Join(out, "\n\n")
}
