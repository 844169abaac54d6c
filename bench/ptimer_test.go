//go:build linux

package main

import (
	"testing"
	"time"
)

// TestPreciseTimer checks that the open loop's timer exists on Linux, never
// returns before the time asked for, and returns at once for a past time.
// How late it wakes is measured in bench/RESULTS.md, not asserted here.
func TestPreciseTimer(t *testing.T) {
	t.Parallel()
	p := newPreciseTimer()
	if p == nil {
		t.Fatal("newPreciseTimer() = nil on Linux: the open loop would fall back to time.Sleep")
	}
	defer p.close()
	for i := range 50 {
		at := time.Now().Add(time.Duration(i%5) * 200 * time.Microsecond)
		p.sleepUntil(at)
		if now := time.Now(); now.Before(at) {
			t.Fatalf("sleepUntil returned %v early", at.Sub(now))
		}
	}
	start := time.Now()
	p.sleepUntil(start.Add(-time.Second))
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("sleepUntil of a past time took %v", d)
	}
}
