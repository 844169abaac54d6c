//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// frameKind classifies a text frame the server sent to a client.
type frameKind int

const (
	frameOther      frameKind = iota // anything a client may ignore (noop, other events)
	framePing                        // Engine.IO ping "2": answer "3"
	frameClose                       // Engine.IO close "1" or Socket.IO DISCONNECT "41"
	frameConnect                     // Socket.IO CONNECT reply "40{...}"
	frameConnectErr                  // Socket.IO CONNECT_ERROR "44..."
	frameMessage                     // Socket.IO EVENT `message`
)

var messagePrefix = []byte(`42["message",`)

// classify tells what a server frame is. For a `message` event it also
// returns the event's argument (the pushed JSON) without copying.
func classify(frame []byte) (frameKind, []byte) {
	switch {
	case len(frame) == 0:
		return frameOther, nil
	case bytes.HasPrefix(frame, messagePrefix) && frame[len(frame)-1] == ']':
		return frameMessage, frame[len(messagePrefix) : len(frame)-1]
	case frame[0] == '2' && len(frame) == 1:
		return framePing, nil
	case frame[0] == '1' || bytes.Equal(frame, []byte("41")):
		return frameClose, nil
	case bytes.HasPrefix(frame, []byte("40")):
		return frameConnect, nil
	case bytes.HasPrefix(frame, []byte("44")):
		return frameConnectErr, nil
	}
	return frameOther, nil
}

// stamp is what a pushed message carries for the load generator: the
// user's sequence number, the intended send time in Unix nanoseconds (0 for
// pushes that are not timed), and the user it was pushed to (-1 when the
// message names none).
type stamp struct {
	Seq  uint32
	Sent int64
	User int
}

var errNoStamp = errors.New("message carries no sequence number")

// parseStamp reads the "s", "t" and "u" fields of a pushed message
// ({"s":7,"t":1700000000000000000,"u":3,...}). The fast path scans for the
// keys at the start of the object, as our pushes write them; anything else
// falls back to encoding/json, so a server that reorders keys or adds
// whitespace is still measured correctly.
func parseStamp(msg []byte) (stamp, error) {
	if st, ok := scanStamp(msg); ok {
		return st, nil
	}
	var v struct {
		S *uint32 `json:"s"`
		T int64   `json:"t"`
		U *int    `json:"u"`
	}
	if err := json.Unmarshal(msg, &v); err != nil {
		return stamp{}, fmt.Errorf("parse pushed message: %w", err)
	}
	if v.S == nil {
		return stamp{}, errNoStamp
	}
	st := stamp{Seq: *v.S, Sent: v.T, User: -1}
	if v.U != nil {
		st.User = *v.U
	}
	return st, nil
}

// scanStamp is parseStamp's allocation-free fast path for
// `{"s":N,"t":N` and an optional `,"u":N`.
func scanStamp(msg []byte) (stamp, bool) {
	rest, ok := bytes.CutPrefix(msg, []byte(`{"s":`))
	if !ok {
		return stamp{}, false
	}
	seq, rest, ok := scanUint(rest)
	if !ok || seq > 1<<32-1 {
		return stamp{}, false
	}
	rest, ok = bytes.CutPrefix(rest, []byte(`,"t":`))
	if !ok {
		return stamp{}, false
	}
	sent, rest, ok := scanUint(rest)
	if !ok || sent > 1<<63-1 {
		return stamp{}, false
	}
	st := stamp{Seq: uint32(seq), Sent: int64(sent), User: -1}
	if after, ok := bytes.CutPrefix(rest, []byte(`,"u":`)); ok {
		user, after, ok := scanUint(after)
		if !ok || user > 1<<31-1 {
			return stamp{}, false
		}
		st.User, rest = int(user), after
	}
	if len(rest) == 0 || (rest[0] != ',' && rest[0] != '}') {
		return stamp{}, false
	}
	return st, true
}

// scanUint reads a decimal number of at most 19 digits.
func scanUint(b []byte) (uint64, []byte, bool) {
	var n uint64
	i := 0
	for ; i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + uint64(b[i]-'0')
	}
	if i == 0 || (i < len(b) && b[i] >= '0' && b[i] <= '9') {
		return 0, b, false
	}
	return n, b[i:], true
}

// pushBody builds the REST body of one push to user:
// {"message":{"s":seq,"t":sent,"u":user,"p":"..."}} with pad bytes of filler
// so messages have a realistic size. The user lets a session tell a message
// pushed to another user: sequence numbers alone cannot, since every user's
// run through the same numbers.
func pushBody(buf []byte, user int, seq uint32, sent int64, pad string) []byte {
	buf = append(buf[:0], `{"message":{"s":`...)
	buf = strconv.AppendUint(buf, uint64(seq), 10)
	buf = append(buf, `,"t":`...)
	buf = strconv.AppendInt(buf, sent, 10)
	buf = append(buf, `,"u":`...)
	buf = strconv.AppendInt(buf, int64(user), 10)
	buf = append(buf, `,"p":"`...)
	buf = append(buf, pad...)
	buf = append(buf, `"}}`...)
	return buf
}
