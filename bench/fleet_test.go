//go:build linux

package main

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestDeliverTimesOnlyMeasuredPushes(t *testing.T) {
	t.Parallel()
	f := emptyFleet(nil, 2, 1, 1)
	s := &session{user: 0}
	f.sessions[0] = s
	msg := func(seq uint32, sent time.Time) []byte {
		var ns int64
		if !sent.IsZero() {
			ns = sent.UnixNano()
		}
		return []byte(`{"s":` + strconv.FormatUint(uint64(seq), 10) + `,"t":` + strconv.FormatInt(ns, 10) + `,"p":""}`)
	}
	past := time.Now().Add(-time.Second)
	f.deliver(s, msg(1, time.Time{}), time.Now().UnixNano()) // probe: untimed
	f.deliver(s, msg(2, past), time.Now().UnixNano())        // warm-up: before the measurement starts
	if n := f.latency.count(); n != 0 {
		t.Fatalf("%d latencies recorded before the measurement started", n)
	}
	f.measureFrom.Store(time.Now().Add(-500 * time.Millisecond).UnixNano())
	f.deliver(s, msg(3, past), time.Now().UnixNano())                              // sent before the measured phase
	f.deliver(s, msg(4, time.Now().Add(-time.Millisecond)), time.Now().UnixNano()) // measured
	f.deliver(s, []byte(`{"no":"stamp"}`), time.Now().UnixNano())
	if n := f.latency.count(); n != 1 {
		t.Errorf("%d latencies recorded, want 1", n)
	}
	if got := f.latency.max(); got < time.Millisecond || got > time.Minute {
		t.Errorf("latency %v, want about 1ms", got)
	}
	if f.delivered.Load() != 4 || f.badMessages.Load() != 1 {
		t.Errorf("delivered %d, bad %d; want 4 and 1", f.delivered.Load(), f.badMessages.Load())
	}
	c := f.counts([]uint32{4, 0})
	if !c.clean() || c.Expected != 4 || c.Received != 4 {
		t.Errorf("counts %+v, want 4 of 4 clean", c)
	}
}

// TestDeliverTellsMessagesOfAnotherUser: sequence numbers are per user and
// every user runs through the same ones, so a server that hands user 1's
// message to user 0's session and user 0's to user 1's looks perfect to
// the trackers unless each message says whom it was pushed to.
func TestDeliverTellsMessagesOfAnotherUser(t *testing.T) {
	f := emptyFleet(nil, 2, 1, 1)
	a, b := &session{user: 0}, &session{user: 1}
	f.sessions[0], f.sessions[1] = a, b
	body := func(user int, seq uint32) []byte { // what the pushes carry
		return fmt.Appendf(nil, `{"s":%d,"t":0,"u":%d,"p":"xx"}`, seq, user)
	}
	f.deliver(a, body(0, 1), time.Now().UnixNano())
	f.deliver(b, body(1, 1), time.Now().UnixNano())
	f.deliver(a, body(1, 2), time.Now().UnixNano()) // user 1's second push, to user 0
	f.deliver(b, body(0, 2), time.Now().UnixNano()) // and user 0's to user 1
	if c := f.counts([]uint32{2, 2}); c.clean() {
		t.Errorf("two misrouted messages, yet the counts are clean: %+v", c)
	}
}
