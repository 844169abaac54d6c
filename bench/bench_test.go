//go:build linux

package main

import (
	"testing"
	"time"
)

// The load generator's own per-delivery work; it shares the machine with
// the server it measures, so it has to stay cheap.

func BenchmarkDeliverPath(b *testing.B) {
	frame := []byte(`42["message",{"s":123456,"t":1700000000123456789,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}]`)
	var h histogram
	var tr seqTracker
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		kind, msg := classify(frame)
		if kind != frameMessage {
			b.Fatal("not a message")
		}
		st, err := parseStamp(msg)
		if err != nil {
			b.Fatal(err)
		}
		tr.observe(st.Seq + uint32(i))
		h.record(time.Duration(i))
	}
}

func BenchmarkPushBody(b *testing.B) {
	buf := make([]byte, 0, 256)
	pad := string(make([]byte, 64))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = pushBody(buf, i%1000, uint32(i), int64(i), pad)
	}
}
