package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Binary is an event or ack argument sent as a binary attachment: it is
// replaced by a placeholder {"_placeholder":true,"num":N} in the JSON and its
// bytes follow the packet as a separate binary message. Only top-level
// arguments of type Binary become attachments; a Binary nested inside another
// value is encoded by encoding/json as base64 text.
type Binary []byte

// ErrBinaryArgs is returned by EncodeEvent when an argument is Binary: a
// packet with attachments is several Engine.IO messages and cannot be handed
// around as one pre-encoded slice.
var ErrBinaryArgs = errors.New("socketio: binary arguments cannot be pre-encoded")

// EncodeEvent encodes an EVENT packet for namespace nsp once, for sending the
// same bytes to many sockets with Socket.SendPacket:
//
//	EncodeEvent("/", "message", map[string]any{"a": 1}) // 2["message",{"a":1}]
//
// Arguments are encoded as by encodeArgs: json.RawMessage verbatim, strings,
// numbers and booleans directly, anything else with encoding/json (without
// HTML escaping, like JSON.stringify). Binary arguments are refused.
func EncodeEvent(nsp, event string, args ...any) ([]byte, error) {
	buf := make([]byte, 0, estimateSize(nsp, event, args))
	buf = AppendPacket(buf, PacketEvent, nsp, 0, 0, false, nil)
	buf, atts, err := appendArgs(buf, event, true, args)
	if err != nil {
		return nil, err
	}
	if len(atts) > 0 {
		return nil, ErrBinaryArgs
	}
	return buf, nil
}

// encodeMessage encodes an EVENT (withName) or ACK packet with its arguments,
// switching to the binary type when an argument is Binary. It returns the
// text packet and the attachments to send after it.
func encodeMessage(nsp string, event string, withName bool, id int64, hasID bool, args []any) ([]byte, [][]byte, error) {
	buf := make([]byte, 0, estimateSize(nsp, event, args))
	var atts [][]byte
	for _, a := range args {
		if b, ok := a.(Binary); ok {
			atts = append(atts, b)
		}
	}
	t := PacketEvent
	if !withName {
		t = PacketAck
	}
	if len(atts) > 0 {
		t += PacketBinaryEvent - PacketEvent
	}
	buf = AppendPacket(buf, t, nsp, len(atts), id, hasID, nil)
	buf, _, err := appendArgs(buf, event, withName, args)
	if err != nil {
		return nil, nil, err
	}
	return buf, atts, nil
}

func estimateSize(nsp, event string, args []any) int {
	n := 8 + len(nsp) + len(event)
	for _, a := range args {
		switch v := a.(type) {
		case json.RawMessage:
			n += len(v) + 1
		case string:
			n += len(v) + 3
		default:
			n += 16
		}
	}
	return n
}

// appendArgs appends the JSON array [event?, args...] to buf and returns the
// Binary arguments, in placeholder order.
func appendArgs(buf []byte, event string, withName bool, args []any) ([]byte, [][]byte, error) {
	buf = append(buf, '[')
	if withName {
		buf = appendString(buf, event)
	}
	var atts [][]byte
	for i, a := range args {
		if withName || i > 0 {
			buf = append(buf, ',')
		}
		var err error
		switch v := a.(type) {
		case Binary:
			buf = append(buf, `{"_placeholder":true,"num":`...)
			buf = strconv.AppendInt(buf, int64(len(atts)), 10)
			buf = append(buf, '}')
			atts = append(atts, v)
		default:
			buf, err = appendValue(buf, a)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("socketio: argument %d: %w", i, err)
		}
	}
	return append(buf, ']'), atts, nil
}

var encoderPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// appendValue appends the JSON encoding of v. Common scalar types and
// pre-encoded JSON take a fast path without reflection or allocation.
func appendValue(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case json.RawMessage:
		if len(x) == 0 {
			return append(buf, "null"...), nil
		}
		return append(buf, x...), nil
	case string:
		return appendString(buf, x), nil
	case bool:
		return strconv.AppendBool(buf, x), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(buf, x, 10), nil
	}
	b := encoderPool.Get().(*bytes.Buffer)
	defer encoderPool.Put(b)
	b.Reset()
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(buf, bytes.TrimRight(b.Bytes(), "\n")...), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way JSON.stringify writes it:
// only quotes, backslashes and control characters are escaped. Invalid UTF-8
// becomes U+FFFD, as encoding/json does.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, s[start:i]...)
				buf = append(buf, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\f':
			buf = append(buf, '\\', 'f')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
