//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
)

// WebSocket (RFC 6455) framing for the client side: frames the server sends
// are parsed in place from a read buffer, frames the client sends are
// masked. No extension is negotiated, so reserved bits must be zero.

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxMessage bounds one message from the server (all its fragments).
const maxMessage = 1 << 20

var errFrame = errors.New("websocket protocol error")

// wsFrame is one frame parsed from a buffer; payload aliases the buffer and
// is already unmasked.
type wsFrame struct {
	fin     bool
	op      byte
	payload []byte
}

// parseFrame reads the frame at the start of b. n is the number of bytes the
// frame takes; n == 0 (with no error) means b does not hold a whole frame
// yet. A masked frame (which a server must not send, but which is
// unambiguous) is unmasked in place.
func parseFrame(b []byte) (fr wsFrame, n int, err error) {
	if len(b) < 2 {
		return wsFrame{}, 0, nil
	}
	b0, b1 := b[0], b[1]
	if b0&0x70 != 0 {
		return wsFrame{}, 0, fmt.Errorf("%w: reserved bits %#x set", errFrame, b0&0x70)
	}
	fr.fin, fr.op = b0&0x80 != 0, b0&0x0F
	masked := b1&0x80 != 0
	length := uint64(b1 & 0x7F)
	n = 2
	switch length {
	case 126:
		if len(b) < 4 {
			return wsFrame{}, 0, nil
		}
		length = uint64(binary.BigEndian.Uint16(b[2:]))
		n = 4
	case 127:
		if len(b) < 10 {
			return wsFrame{}, 0, nil
		}
		length = binary.BigEndian.Uint64(b[2:])
		n = 10
	}
	switch fr.op {
	case opContinuation, opText, opBinary:
		if length > maxMessage {
			return wsFrame{}, 0, fmt.Errorf("%w: frame of %d bytes, limit %d", errFrame, length, maxMessage)
		}
	case opClose, opPing, opPong:
		if length > 125 || !fr.fin {
			return wsFrame{}, 0, fmt.Errorf("%w: control frame %#x fragmented or over 125 bytes", errFrame, fr.op)
		}
	default:
		return wsFrame{}, 0, fmt.Errorf("%w: unknown opcode %#x", errFrame, fr.op)
	}
	var key []byte
	if masked {
		if len(b) < n+4 {
			return wsFrame{}, 0, nil
		}
		key = b[n : n+4]
		n += 4
	}
	if uint64(len(b)-n) < length {
		return wsFrame{}, 0, nil
	}
	fr.payload = b[n : n+int(length)]
	if masked {
		for i := range fr.payload {
			fr.payload[i] ^= key[i&3]
		}
	}
	return fr, n + int(length), nil
}

// appendClientFrame appends one final, masked frame carrying payload.
func appendClientFrame(b []byte, op byte, payload []byte) []byte {
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	for i := range payload {
		b[start+i] ^= key[i&3]
	}
	return b
}

// messageAssembler joins a server's frames into messages: control frames
// are handed over as they come (they may arrive between fragments), data
// frames are joined until the final one. An unfragmented message is handed
// over without copying.
type messageAssembler struct {
	frag   []byte // fragments of the message in progress
	fragOp byte
	inFrag bool
}

// add takes one data or control frame. For a complete message it returns
// its opcode and payload (valid until the next call); ok is false while a
// fragmented message is still incomplete.
func (a *messageAssembler) add(fr wsFrame) (op byte, payload []byte, ok bool, err error) {
	switch fr.op {
	case opClose, opPing, opPong:
		return fr.op, fr.payload, true, nil
	case opContinuation:
		if !a.inFrag {
			return 0, nil, false, fmt.Errorf("%w: continuation without a message", errFrame)
		}
		if len(a.frag)+len(fr.payload) > maxMessage {
			return 0, nil, false, fmt.Errorf("%w: message over %d bytes", errFrame, maxMessage)
		}
		a.frag = append(a.frag, fr.payload...)
		if !fr.fin {
			return 0, nil, false, nil
		}
		op, payload = a.fragOp, a.frag
		a.frag, a.inFrag = nil, false
		return op, payload, true, nil
	}
	if a.inFrag {
		return 0, nil, false, fmt.Errorf("%w: new message inside a fragmented one", errFrame)
	}
	if fr.fin {
		return fr.op, fr.payload, true, nil
	}
	a.frag = append([]byte(nil), fr.payload...)
	a.fragOp, a.inFrag = fr.op, true
	return 0, nil, false, nil
}
