package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PacketType is the type of a Socket.IO packet, the first byte on the wire.
type PacketType byte

// The packet types of protocols 4 and 5. ConnectError is called ERROR in
// protocol 4, where its payload is a string rather than an object.
const (
	PacketConnect      PacketType = 0
	PacketDisconnect   PacketType = 1
	PacketEvent        PacketType = 2
	PacketAck          PacketType = 3
	PacketConnectError PacketType = 4
	PacketBinaryEvent  PacketType = 5
	PacketBinaryAck    PacketType = 6
)

// Errors returned by DecodePacket and by attachment reassembly. Each means
// the peer sent something malformed; the session that sent it is closed.
var (
	ErrInvalidPacket      = errors.New("socketio: invalid packet")
	ErrInvalidPayload     = errors.New("socketio: invalid payload")
	ErrInvalidAttachments = errors.New("socketio: invalid attachments")
	ErrTooDeep            = errors.New("socketio: JSON nested too deeply")
)

// maxAckID bounds ack ids: the reference client counts from 0 and never goes
// near it, and ids must survive a round trip through a JavaScript number.
const maxAckID = 1<<53 - 1

// Packet is one decoded Socket.IO packet, before its attachments (if any) are
// joined to it.
type Packet struct {
	Type        PacketType
	Namespace   string          // "/" when the packet names none
	ID          int64           // the ack id; meaningful only when HasID
	HasID       bool            // an ack id was present
	Attachments int             // binary attachments that follow (types 5 and 6)
	Data        json.RawMessage // the JSON payload as sent, nil when absent
}

// decodeLimits are the bounds DecodePacket enforces.
type decodeLimits struct {
	maxAttachments     int
	maxDepth           int
	maxAttachmentBytes int // total per packet; 0 means unbounded
}

// reservedEvents may not be sent as event names by a client; the reference
// server rejects them the same way.
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// DecodePacket parses one text packet (without the Engine.IO "4" prefix),
// checking it as strictly as the reference parser and more: the payload must
// suit the packet type, the nesting depth is bounded before any JSON parsing,
// and at most maxAttachments binary attachments may be announced. The
// returned packet's Data aliases s.
func DecodePacket(s []byte, maxAttachments, maxDepth int) (Packet, error) {
	return decodePacket(s, decodeLimits{maxAttachments: maxAttachments, maxDepth: maxDepth})
}

func decodePacket(s []byte, lim decodeLimits) (Packet, error) {
	p := Packet{Namespace: "/"}
	if len(s) == 0 || s[0] < '0' || s[0] > '6' {
		return p, fmt.Errorf("%w: unknown packet type", ErrInvalidPacket)
	}
	if !utf8.Valid(s) {
		return p, fmt.Errorf("%w: invalid UTF-8", ErrInvalidPacket)
	}
	p.Type = PacketType(s[0] - '0')
	i := 1
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-start < 4 {
			i++
		}
		if i == start || i >= len(s) || s[i] != '-' {
			return p, fmt.Errorf("%w: bad attachment count", ErrInvalidPacket)
		}
		n, _ := strconv.Atoi(string(s[start:i]))
		if n < 1 || n > lim.maxAttachments {
			return p, fmt.Errorf("%w: %d attachments announced", ErrInvalidAttachments, n)
		}
		p.Attachments = n
		i++ // '-'
	}
	if i < len(s) && s[i] == '/' {
		start := i
		for i < len(s) && s[i] != ',' {
			i++
		}
		p.Namespace = string(s[start:i])
		if i < len(s) {
			i++ // ','
		}
	}
	if i < len(s) && s[i] >= '0' && s[i] <= '9' {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			if i-start > 16 {
				return p, fmt.Errorf("%w: ack id too long", ErrInvalidPacket)
			}
		}
		id, err := strconv.ParseInt(string(s[start:i]), 10, 64)
		if err != nil || id > maxAckID {
			return p, fmt.Errorf("%w: ack id out of range", ErrInvalidPacket)
		}
		p.ID, p.HasID = id, true
	}
	if i < len(s) {
		p.Data = json.RawMessage(s[i:])
	}
	if err := checkPayload(p, lim.maxDepth); err != nil {
		return p, err
	}
	return p, nil
}

// checkPayload verifies that p's payload is well-formed JSON of the shape its
// type requires, the way the reference parser's isPayloadValid does.
func checkPayload(p Packet, maxDepth int) error {
	if p.Data == nil {
		switch p.Type {
		case PacketConnect, PacketDisconnect:
			return nil
		}
		return fmt.Errorf("%w: missing payload", ErrInvalidPayload)
	}
	if p.Type == PacketDisconnect {
		return fmt.Errorf("%w: payload on disconnect", ErrInvalidPayload)
	}
	if err := checkDepth(p.Data, maxDepth); err != nil {
		return err
	}
	if !json.Valid(p.Data) {
		return fmt.Errorf("%w: not JSON", ErrInvalidPayload)
	}
	first := firstByte(p.Data)
	switch p.Type {
	case PacketConnect:
		if first != '{' {
			return fmt.Errorf("%w: connect payload is not an object", ErrInvalidPayload)
		}
	case PacketConnectError:
		if first != '{' && first != '"' {
			return fmt.Errorf("%w: error payload is neither object nor string", ErrInvalidPayload)
		}
	case PacketAck, PacketBinaryAck:
		if first != '[' {
			return fmt.Errorf("%w: ack payload is not an array", ErrInvalidPayload)
		}
	case PacketEvent, PacketBinaryEvent:
		if first != '[' {
			return fmt.Errorf("%w: event payload is not an array", ErrInvalidPayload)
		}
		name, ok := eventName(p.Data)
		if !ok {
			return fmt.Errorf("%w: event name is neither a string nor a number", ErrInvalidPayload)
		}
		if reservedEvents[name] {
			return fmt.Errorf("%w: reserved event name", ErrInvalidPayload)
		}
	}
	return nil
}

// checkDepth rejects JSON nested deeper than max without parsing it: it only
// counts brackets outside strings. It runs before json.Valid so a hostile
// "[[[[..." costs one linear scan.
func checkDepth(b []byte, max int) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = closingQuote(b, i)
		case '[', '{':
			depth++
			if depth > max {
				return fmt.Errorf("%w: deeper than %d", ErrTooDeep, max)
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}

// closingQuote returns the index of the quote that closes the JSON string
// opening at b[i], or len(b) if the string is not closed.
func closingQuote(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(b)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func firstByte(b []byte) byte {
	for _, c := range b {
		if !isSpace(c) {
			return c
		}
	}
	return 0
}

// eventName returns the event name of a valid JSON array, its first
// element, which must be a string or a number (see nameValue).
func eventName(data []byte) (string, bool) {
	var first [1]json.RawMessage
	elems := splitArrayInto(first[:0], data, 1)
	if len(elems) == 0 {
		return "", false
	}
	return nameValue(elems[0])
}

// nameValue decodes an event name: a JSON string, or a JSON number, which
// the reference parser (socket.io-parser 4.2) accepts too and the reference
// server dispatches to the listener named by the number's JavaScript string
// form (socket.emit(42) reaches socket.on("42")).
func nameValue(e json.RawMessage) (string, bool) {
	if c := firstByte(e); c == '-' || (c >= '0' && c <= '9') {
		return jsNumberString(string(trimSpace(e)))
	}
	return stringValue(e)
}

// jsNumberString formats the JSON number s as JavaScript's String(Number(s)).
func jsNumberString(s string) (string, bool) {
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case math.IsInf(f, 1):
		return "Infinity", true
	case math.IsInf(f, -1):
		return "-Infinity", true
	case err != nil:
		return "", false
	case f == 0:
		return "0", true
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	// 1e+21, 1.5e-7: no leading zeros in the exponent.
	out := strconv.FormatFloat(f, 'e', -1, 64)
	i := strings.IndexByte(out, 'e') + 2 // past "e+" or "e-"
	for i < len(out)-1 && out[i] == '0' {
		out = out[:i] + out[i+1:]
	}
	return out, true
}

// stringValue decodes a JSON value that should be a string. Strings without
// escapes, the usual case for event names, skip encoding/json.
func stringValue(e json.RawMessage) (string, bool) {
	if firstByte(e) != '"' {
		return "", false
	}
	if bytes.IndexByte(e, '\\') < 0 {
		return string(e[1 : len(e)-1]), true
	}
	var name string
	if err := json.Unmarshal(e, &name); err != nil {
		return "", false
	}
	return name, true
}

// splitArray returns the elements of a valid JSON array, trimmed of
// surrounding whitespace, aliasing data. It stops after max elements when
// max > 0. The input must already be known to be valid JSON.
func splitArray(data []byte, max int) []json.RawMessage {
	return splitArrayInto(nil, data, max)
}

// splitArrayInto is splitArray appending to out.
func splitArrayInto(out []json.RawMessage, data []byte, max int) []json.RawMessage {
	i := 0
	for i < len(data) && data[i] != '[' {
		i++
	}
	i++
	depth := 0
	start := i
	for ; i < len(data); i++ {
		switch data[i] {
		case '"':
			i = closingQuote(data, i)
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 { // the closing bracket of the array
				if e := trimSpace(data[start:i]); len(e) > 0 {
					out = append(out, e)
				}
				return out
			}
			depth--
		case ',':
			if depth == 0 {
				out = append(out, trimSpace(data[start:i]))
				if max > 0 && len(out) == max {
					return out
				}
				start = i + 1
			}
		}
	}
	return out
}

func trimSpace(b []byte) json.RawMessage {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return json.RawMessage(b)
}

// AppendPacket appends the wire form of a packet (without the Engine.IO "4"
// prefix) to dst: type, attachment count for binary types, namespace unless
// it is "/", ack id if hasID, then data verbatim.
func AppendPacket(dst []byte, t PacketType, nsp string, attachments int, id int64, hasID bool, data []byte) []byte {
	dst = append(dst, '0'+byte(t))
	if t == PacketBinaryEvent || t == PacketBinaryAck {
		dst = strconv.AppendInt(dst, int64(attachments), 10)
		dst = append(dst, '-')
	}
	if nsp != "" && nsp != "/" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if hasID {
		dst = strconv.AppendInt(dst, id, 10)
	}
	return append(dst, data...)
}

func isValidUTF8(s string) bool { return utf8.ValidString(s) }
