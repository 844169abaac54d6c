//go:build linux

package main

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSeqTracker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		arrivals []uint32
		sent     uint32
		want     deliveryCounts
	}{
		{"in order", []uint32{1, 2, 3, 4}, 4,
			deliveryCounts{Expected: 4, Received: 4}},
		{"nothing arrived", nil, 3,
			deliveryCounts{Expected: 3, Lost: 3}},
		{"a gap is a loss", []uint32{1, 2, 4}, 4,
			deliveryCounts{Expected: 4, Received: 3, Lost: 1}},
		{"the tail is a loss", []uint32{1, 2}, 5,
			deliveryCounts{Expected: 5, Received: 2, Lost: 3}},
		{"duplicate of the latest", []uint32{1, 2, 2, 3}, 3,
			deliveryCounts{Expected: 3, Received: 4, Duplicated: 1}},
		{"duplicate of an older one", []uint32{1, 2, 3, 1}, 3,
			deliveryCounts{Expected: 3, Received: 4, Duplicated: 1}},
		{"swap is one out of order, no loss", []uint32{1, 3, 2, 4}, 4,
			deliveryCounts{Expected: 4, Received: 4, Reordered: 1}},
		{"late then duplicated", []uint32{2, 1, 1}, 2,
			deliveryCounts{Expected: 2, Received: 3, Reordered: 1, Duplicated: 1}},
		{"more than sent", []uint32{1, 2, 3}, 2,
			deliveryCounts{Expected: 2, Received: 3, Unexpected: 1}},
		{"late beyond the window counts as out of order", append(count(2, 100), 1), 100,
			deliveryCounts{Expected: 100, Received: 100, Reordered: 1}},
		{"duplicate at the window's edge", append(count(1, 64), 1), 64,
			deliveryCounts{Expected: 64, Received: 65, Duplicated: 1}},
		{"jump beyond the window then fill", []uint32{1, 100, 50}, 100,
			deliveryCounts{Expected: 100, Received: 3, Reordered: 1, Lost: 97}},
		{"duplicate beyond the window does not hide a loss", append(append(count(1, 149), count(151, 200)...), 10, 20), 200,
			deliveryCounts{Expected: 200, Received: 201, Lost: 1, Duplicated: 2}},
		{"late beyond the window once, then again", append(append(count(1, 29), count(31, 200)...), 30, 30), 200,
			deliveryCounts{Expected: 200, Received: 201, Reordered: 1, Duplicated: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var tr seqTracker
			for _, s := range tt.arrivals {
				tr.observe(s)
			}
			var got deliveryCounts
			got.add(&tr, tt.sent)
			if got != tt.want {
				t.Errorf("counts = %+v, want %+v", got, tt.want)
			}
			if got.clean() != (tt.want.Lost == 0 && tt.want.Duplicated == 0 && tt.want.Reordered == 0 && tt.want.Unexpected == 0) {
				t.Errorf("clean() = %v for %+v", got.clean(), got)
			}
		})
	}
}

func TestDeliveryCountsSumSessions(t *testing.T) {
	t.Parallel()
	var a, b seqTracker
	for _, s := range []uint32{1, 2, 3} {
		a.observe(s)
	}
	b.observe(2)
	var c deliveryCounts
	c.add(&a, 3)
	c.add(&b, 3)
	want := deliveryCounts{Expected: 6, Received: 4, Lost: 2}
	if c != want {
		t.Errorf("counts = %+v, want %+v", c, want)
	}
}

// count returns from, from+1, ..., to.
func count(from, to uint32) []uint32 {
	var s []uint32
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestSeqTrackerMatchesExactCount compares the tracker with an exact count
// over random arrivals with losses, duplicates and late messages.
func TestSeqTrackerMatchesExactCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 3000 {
		sent := uint32(1 + rng.IntN(400))
		var arrivals []uint32
		for s := uint32(1); s <= sent; s++ {
			if rng.IntN(20) != 0 {
				arrivals = append(arrivals, s)
			}
			if rng.IntN(30) == 0 {
				arrivals = append(arrivals, 1+uint32(rng.IntN(int(sent))))
			}
		}
		for range rng.IntN(6) { // move a few far back or forth
			i, j := rng.IntN(len(arrivals)+1), rng.IntN(len(arrivals)+1)
			if i < len(arrivals) && j < len(arrivals) {
				a := arrivals[i]
				arrivals = slices.Insert(slices.Delete(arrivals, i, i+1), min(j, len(arrivals)-1), a)
			}
		}
		var tr seqTracker
		seen := map[uint32]bool{}
		var want deliveryCounts
		var hi uint32
		for _, s := range arrivals {
			tr.observe(s)
			want.Received++
			switch {
			case seen[s]:
				want.Duplicated++
			case s < hi:
				want.Reordered++
			}
			seen[s] = true
			hi = max(hi, s)
		}
		want.Expected = uint64(sent)
		want.Lost = uint64(sent) - uint64(len(seen))
		var got deliveryCounts
		got.add(&tr, sent)
		if got != want {
			t.Fatalf("iteration %d: counts = %+v, want %+v (arrivals %v)", iter, got, want, arrivals)
		}
	}
}
