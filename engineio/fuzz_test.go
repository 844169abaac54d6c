package engineio

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ and are replayed by
// plain `go test`.

func FuzzDecodePayloadV4(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := collect(decodePayloadV4, body)
		if err != nil {
			return
		}
		// What decodes must encode back to a payload that decodes the same.
		again, err := collect(decodePayloadV4, appendPayloadV4(nil, pkts))
		if err != nil || len(again) != len(pkts) {
			t.Fatalf("re-decoding %q: %v, %d packets, want %d", body, err, len(again), len(pkts))
		}
		for i := range pkts {
			if !samePacket(pkts[i], again[i]) {
				t.Fatalf("packet %d: %+v after re-encoding, want %+v", i, again[i], pkts[i])
			}
		}
	})
}

func FuzzDecodePayloadV3(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := collect(decodePayloadV3, body)
		if err != nil || !utf8.Valid(body) {
			return
		}
		again, err := collect(decodePayloadV3, appendPayloadV3(nil, pkts))
		if err != nil || len(again) != len(pkts) {
			t.Fatalf("re-decoding %q: %v, %d packets, want %d", body, err, len(again), len(pkts))
		}
		for i := range pkts {
			if !samePacket(pkts[i], again[i]) {
				t.Fatalf("packet %d: %+v after re-encoding, want %+v", i, again[i], pkts[i])
			}
		}
	})
}

func FuzzDecodeBinaryPayloadV3(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := collect(decodeBinaryPayloadV3, body)
		if err != nil {
			return
		}
		// Packets that were base64 inside a text record come back as raw
		// binary records, so compare the packets, not the bytes.
		again, err := collect(decodeBinaryPayloadV3, appendBinaryPayloadV3(nil, pkts))
		if err != nil || len(again) != len(pkts) {
			t.Fatalf("re-decoding %v: %v, %d packets, want %d", body, err, len(again), len(pkts))
		}
		for i := range pkts {
			if !samePacket(pkts[i], again[i]) {
				t.Fatalf("packet %d: %+v after re-encoding, want %+v", i, again[i], pkts[i])
			}
		}
	})
}

func FuzzDecodeWebSocketMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg []byte, binary bool, v3 bool) {
		protocol := 4
		if v3 {
			protocol = 3
		}
		p, err := decodeWebSocketMessage(msg, binary, protocol)
		if err != nil {
			return
		}
		var frame []byte
		switch {
		case p.binary && protocol == 4:
			frame = p.data
		case p.binary:
			frame = append([]byte{p.typ}, p.data...)
		default:
			frame = append([]byte{'0' + p.typ}, p.data...)
		}
		if !bytes.Equal(frame, msg) {
			t.Fatalf("frame %v encodes back as %v", msg, frame)
		}
	})
}

func FuzzDecodeJSONPBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := decodeJSONPBody(body)
		if err != nil {
			return
		}
		if len(d) > len(body) {
			t.Fatalf("decoded %d bytes from a %d byte body", len(d), len(body))
		}
		collect(decodePayloadV3, d)
	})
}
