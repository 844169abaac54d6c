//go:build linux

package main

// seqWindow is how far back (in sequence numbers) a tracker can tell a
// duplicate from a late delivery.
const seqWindow = 64

// seqTracker accounts for the messages one session received from one
// user's push sequence (1, 2, 3, ...). It costs 24 bytes per session.
// A tracker belongs to the session's read goroutine; it is read by others
// only after that goroutine has finished.
//
// A message above the highest seen so far is in order (gaps are only known
// to be losses at the end). A message at or below it is a duplicate when it
// was already seen, out of order otherwise. Beyond seqWindow back a tracker
// cannot tell, and counts the message as out of order.
type seqTracker struct {
	last     uint32 // highest sequence number seen
	distinct uint32 // distinct sequence numbers seen
	dups     uint32
	reorder  uint32
	seen     uint64 // bit i set: sequence number last-i was seen
}

// observe records the delivery of sequence number seq (>= 1).
func (t *seqTracker) observe(seq uint32) {
	if seq > t.last {
		shift := seq - t.last
		if shift >= seqWindow {
			t.seen = 0
		} else {
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
		t.reorder++
		t.distinct++
	case t.seen&(1<<back) != 0:
		t.dups++
	default:
		t.seen |= 1 << back
		t.reorder++
		t.distinct++
	}
}

// deliveryCounts sums the trackers of many sessions against what was sent.
type deliveryCounts struct {
	Expected   uint64 `json:"expected"`
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"out_of_order"`
	Unexpected uint64 `json:"unexpected"` // distinct messages beyond what was sent
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
	return c.Lost == 0 && c.Duplicated == 0 && c.Reordered == 0 && c.Unexpected == 0
}
