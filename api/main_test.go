package api

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkNoLeaks(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkNoLeaks fails if a goroutine of the project outlived the tests.
func checkNoLeaks() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		leaked := ""
		for g := range strings.SplitSeq(stacks, "\n\n") {
			if strings.Contains(g, "notification-server/") && !strings.Contains(g, "api.checkNoLeaks") {
				leaked = g
				break
			}
		}
		if leaked == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leaked goroutine:\n%s", leaked)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
