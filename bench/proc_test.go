//go:build linux

package main

import (
	"os"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{"typical", "Name:\tnode\nVmPeak:\t  999 kB\nVmRSS:\t   51234 kB\nThreads:\t7\n", 51234 * 1024, false},
		{"last line without newline", "Name:\tx\nVmRSS:\t12 kB", 12 * 1024, false},
		{"missing", "Name:\tx\nThreads:\t1\n", 0, true},
		{"odd unit", "VmRSS:\t12 MB\n", 0, true},
		{"not a number", "VmRSS:\tlots kB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseVmRSS([]byte(tt.status))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseVmRSS = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks.
	tail := " S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 7 0 100 2000 300"
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"plain name", "1234 (node)" + tail, 3 * time.Second, false},
		{"name with spaces and parens", "1234 (a) b (c)" + tail, 3 * time.Second, false},
		{"truncated", "1234 (node) S 1 2 3", 0, true},
		{"no name", "1234 node S", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestProcReadsThisProcess(t *testing.T) {
	t.Parallel()
	rss, err := procRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Errorf("procRSS(self) = %d, %v", rss, err)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Errorf("procCPU(self): %v", err)
	}
}

func TestCapSessions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		want       int
		limit      uint64
		perSession int
		n          int
		mentions   bool
	}{
		{1000, 20000, 1, 1000, false},
		{0, 20000, 1, 20000 - fdReserve, true},
		{50000, 20000, 1, 20000 - fdReserve, true},
		{10, 100, 1, 0, true},
		{0, 20000, 2, (20000 - fdReserve) / 2, true},
		{10000, 20000, 2, (20000 - fdReserve) / 2, true},
		{5000, 20000, 2, 5000, false},
	}
	for _, tt := range tests {
		n, note := capSessions(tt.want, tt.limit, tt.perSession)
		if n != tt.n || (note != "") != tt.mentions {
			t.Errorf("capSessions(%d, %d, %d) = %d, %q; want %d (note: %v)", tt.want, tt.limit, tt.perSession, n, note, tt.n, tt.mentions)
		}
	}
}

func TestParseMachineBusy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		// user 100, nice 10, system 50, idle 9999, iowait 7, irq 1, softirq 2, steal 3
		{"typical", "cpu  100 10 50 9999 7 1 2 3 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n", 166 * time.Second / clockTicks, false},
		{"per-cpu line first", "cpu0 1 2 3 4 5 6 7 8\n", 0, true},
		{"too short", "cpu 1 2 3\n", 0, true},
		{"not numbers", "cpu a b c d e f g h\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseMachineBusy([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseMachineBusy = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
