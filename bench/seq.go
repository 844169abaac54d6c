//go:build linux

package main

import (
	"cmp"
	"math/bits"
	"slices"
)

// seqWindow is how far back (in sequence numbers) a tracker can tell a
// duplicate from a late delivery.
const seqWindow = 64

// seqTracker accounts for the messages one session received from one
// user's push sequence (1, 2, 3, ...). It costs 32 bytes per session.
// A tracker belongs to the session's read goroutine; it is read by others
// only after that goroutine has finished.
//
// A message above the highest seen so far is in order (gaps are only known
// to be losses at the end). A message at or below it is a duplicate when it
// was already seen, out of order otherwise. Beyond seqWindow back the
// tracker looks the message up in the gaps that left the window unseen.
type seqTracker struct {
	last     uint32 // highest sequence number seen
	distinct uint32 // distinct sequence numbers seen
	dups     uint32
	reorder  uint32
	seen     uint64 // bit i set: sequence number last-i was seen
	// gaps holds the sequence numbers that left the window unseen, as
	// sorted disjoint ranges; nil while there are none (every clean run).
	gaps *[]seqRange
}

// seqRange is the sequence numbers lo..hi.
type seqRange struct{ lo, hi uint32 }

// observe records the delivery of sequence number seq (>= 1).
func (t *seqTracker) observe(seq uint32) {
	if seq > t.last {
		shift := seq - t.last
		if shift >= seqWindow {
			t.leave(^t.seen, seqWindow)
			if t.last+1 <= seq-seqWindow { // skipped without ever being in the window
				t.addGap(t.last+1, seq-seqWindow)
			}
			t.seen = 0
		} else {
			if unseen := ^(t.seen >> (seqWindow - shift)) & (1<<shift - 1); unseen != 0 {
				t.leave(unseen, shift)
			}
			t.seen <<= shift
		}
		t.seen |= 1
		t.last = seq
		t.distinct++
		return
	}
	back := t.last - seq
	switch {
	case back >= seqWindow:
		if t.fillGap(seq) {
			t.reorder++
			t.distinct++
		} else {
			t.dups++
		}
	case t.seen&(1<<back) != 0:
		t.dups++
	default:
		t.seen |= 1 << back
		t.reorder++
		t.distinct++
	}
}

// leave records as gaps the unseen ones among the n window positions about
// to leave the window (n oldest; all 64 when n is seqWindow): bit i of
// unseen (i < n, no other bit set) stands for window position seqWindow-n+i, that is sequence
// number last-(seqWindow-n+i). They are added oldest first, so that the
// gaps stay sorted.
func (t *seqTracker) leave(unseen uint64, n uint32) {
	for unseen != 0 {
		i := uint32(63 - bits.LeadingZeros64(unseen))
		unseen &^= 1 << i
		if pos := seqWindow - n + i; pos < t.last {
			t.addGap(t.last-pos, t.last-pos)
		}
	}
}

// addGap records lo..hi (above every gap so far) as unseen.
func (t *seqTracker) addGap(lo, hi uint32) {
	if t.gaps == nil {
		t.gaps = new([]seqRange)
	}
	g := *t.gaps
	if n := len(g); n > 0 && g[n-1].hi+1 >= lo {
		g[n-1].hi = max(g[n-1].hi, hi)
		return
	}
	*t.gaps = append(g, seqRange{lo, hi})
}

// fillGap removes seq from the gaps and reports whether it was one.
func (t *seqTracker) fillGap(seq uint32) bool {
	if t.gaps == nil {
		return false
	}
	g := *t.gaps
	i, _ := slices.BinarySearchFunc(g, seq, func(r seqRange, s uint32) int { return cmp.Compare(r.hi, s) })
	if i == len(g) || g[i].lo > seq {
		return false
	}
	switch r := g[i]; {
	case r.lo == r.hi:
		*t.gaps = slices.Delete(g, i, i+1)
	case seq == r.lo:
		g[i].lo++
	case seq == r.hi:
		g[i].hi--
	default:
		*t.gaps = slices.Insert(g, i+1, seqRange{seq + 1, r.hi})
		(*t.gaps)[i].hi = seq - 1
	}
	return true
}

// deliveryCounts sums the trackers of many sessions against what was sent.
type deliveryCounts struct {
	Expected   uint64 `json:"expected"`
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"out_of_order"`
	Unexpected uint64 `json:"unexpected"` // distinct messages beyond what was sent
	Misrouted  uint64 `json:"misrouted"`  // messages pushed to another user (not in the other counts)
}

// add accounts one session that should have received sent messages.
func (c *deliveryCounts) add(t *seqTracker, sent uint32) {
	c.Expected += uint64(sent)
	c.Received += uint64(t.distinct) + uint64(t.dups)
	c.Duplicated += uint64(t.dups)
	c.Reordered += uint64(t.reorder)
	if t.distinct <= sent {
		c.Lost += uint64(sent - t.distinct)
	} else {
		c.Unexpected += uint64(t.distinct - sent)
	}
}

// clean reports whether nothing was lost, duplicated, reordered or invented.
func (c *deliveryCounts) clean() bool {
	return c.Lost == 0 && c.Duplicated == 0 && c.Reordered == 0 && c.Unexpected == 0 && c.Misrouted == 0
}
