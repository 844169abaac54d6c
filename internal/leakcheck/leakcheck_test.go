package leakcheck

import (
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestCheckSeesALeakUntilItEnds(t *testing.T) {
	stop := make(chan struct{})
	started := make(chan struct{})
	go parked(started, stop)
	<-started
	err := Check(50 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "leakcheck.parked") {
		t.Fatalf("Check with a parked goroutine = %v, want it listed", err)
	}
	close(stop)
	if err := Check(5 * time.Second); err != nil {
		t.Fatalf("Check after the goroutine ended: %v", err)
	}
}

func parked(started, stop chan struct{}) {
	close(started)
	<-stop
}
