package engineio

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/url"
	"strconv"
	"unicode/utf8"
)

// recordSeparator joins the packets of a protocol 4 polling payload.
const recordSeparator = 0x1e

// maxLengthDigits bounds the decimal length prefixes of protocol 3 payloads;
// no body we accept is longer than 10 digits can count.
const maxLengthDigits = 10

// decodePayloadV4 calls fn for each packet of a protocol 4 polling payload:
// packets joined by 0x1e, a binary one written as 'b' and base64. It stops
// at the first error. Text packet data aliases body.
func decodePayloadV4(body []byte, fn func(packet) error) error {
	if len(body) == 0 {
		return fmt.Errorf("%w: empty payload", errParse)
	}
	for {
		i := bytes.IndexByte(body, recordSeparator)
		rec := body
		if i >= 0 {
			rec = body[:i]
		}
		var p packet
		var err error
		if len(rec) > 0 && rec[0] == 'b' {
			p, err = decodeBase64Packet(rec[1:], 4)
		} else {
			p, err = decodeTextPacket(rec)
		}
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		if i < 0 {
			return nil
		}
		body = body[i+1:]
	}
}

// decodePayloadV3 calls fn for each packet of a protocol 3 text payload:
// records "<length>:<packet>" whose length counts UTF-16 code units, a
// binary packet written as 'b', its type digit and base64. It stops at the
// first error. Text packet data aliases body.
func decodePayloadV3(body []byte, fn func(packet) error) error {
	if len(body) == 0 {
		return fmt.Errorf("%w: empty payload", errParse)
	}
	for len(body) > 0 {
		colon := bytes.IndexByte(body, ':')
		if colon <= 0 || colon > maxLengthDigits {
			return fmt.Errorf("%w: bad length prefix", errParse)
		}
		n, err := strconv.Atoi(string(body[:colon]))
		if err != nil || n < 0 || body[0] == '+' || body[0] == '-' {
			return fmt.Errorf("%w: bad length prefix", errParse)
		}
		body = body[colon+1:]
		size, ok := utf16Prefix(body, n)
		if !ok {
			return fmt.Errorf("%w: length %d does not match the payload", errParse, n)
		}
		rec := body[:size]
		body = body[size:]
		if len(rec) == 0 {
			continue
		}
		var p packet
		if rec[0] == 'b' {
			p, err = decodeBase64Packet(rec[1:], 3)
		} else {
			p, err = decodeTextPacket(rec)
		}
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// utf16Prefix returns the byte length of the first n UTF-16 code units of
// the UTF-8 text b, and false if b is shorter or unit n falls inside a
// surrogate pair. An invalid byte counts as one unit (U+FFFD).
func utf16Prefix(b []byte, n int) (int, bool) {
	i := 0
	for n > 0 {
		if i >= len(b) {
			return 0, false
		}
		if c := b[i]; c < utf8.RuneSelf {
			i++
			n--
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		units := 1
		if r >= 0x10000 {
			units = 2
		}
		if units > n {
			return 0, false
		}
		i += size
		n -= units
	}
	return i, true
}

// utf16Len returns the number of UTF-16 code units of the UTF-8 text b, as
// JavaScript's String.length counts them; an invalid byte counts as one
// unit (U+FFFD). Runs of ASCII are counted eight bytes at a time.
func utf16Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 == 0 {
			n += 8
			i += 8
			continue
		}
		if b[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		i += size
		n++
		if r >= 0x10000 { // a surrogate pair in UTF-16
			n++
		}
	}
	return n
}

// decodeBinaryPayloadV3 calls fn for each packet of a protocol 3 XHR2
// binary payload: per packet a 0 (text) or 1 (binary) byte, the decimal
// digits of its length as byte values 0-9, 0xFF, then the packet: UTF-8
// text, or the type byte and raw data. It stops at the first error.
func decodeBinaryPayloadV3(body []byte, fn func(packet) error) error {
	if len(body) == 0 {
		return fmt.Errorf("%w: empty payload", errParse)
	}
	for len(body) > 0 {
		isText := body[0] == 0
		if body[0] > 1 {
			return fmt.Errorf("%w: bad binary payload marker", errParse)
		}
		n, i := 0, 1
		for ; i < len(body) && body[i] != 0xff; i++ {
			if body[i] > 9 || i > maxLengthDigits {
				return fmt.Errorf("%w: bad binary payload length", errParse)
			}
			n = n*10 + int(body[i])
		}
		if i == 1 || i >= len(body) || n == 0 || n > len(body)-i-1 {
			return fmt.Errorf("%w: bad binary payload length", errParse)
		}
		rec := body[i+1 : i+1+n]
		body = body[i+1+n:]
		var p packet
		var err error
		switch {
		case !isText:
			p, err = decodeWebSocketMessage(rec, true, 3)
		case rec[0] == 'b':
			p, err = decodeBase64Packet(rec[1:], 3)
		default:
			p, err = decodeTextPacket(rec)
		}
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// decodeJSONPBody extracts the payload from a JSONP polling POST: the form
// field d. Old clients escape a backslash-n already in the payload (as in
// the JSON string "a\nb") as backslash, backslash, n, and then a newline
// as backslash, n; this undoes both, as the reference server does.
func decodeJSONPBody(body []byte) ([]byte, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: bad JSONP form: %v", errParse, err)
	}
	d := form.Get("d")
	if d == "" {
		return nil, fmt.Errorf("%w: JSONP form without d", errParse)
	}
	// "\\n" becomes "\n" (backslash, n), and "\n" a newline.
	out := make([]byte, 0, len(d))
	for i := 0; i < len(d); i++ {
		switch {
		case d[i] == '\\' && i+2 < len(d) && d[i+1] == '\\' && d[i+2] == 'n':
			out = append(out, '\\', 'n')
			i += 2
		case d[i] == '\\' && i+1 < len(d) && d[i+1] == 'n':
			out = append(out, '\n')
			i++
		default:
			out = append(out, d[i])
		}
	}
	return out, nil
}

// appendPacketText appends the text form of p: "<type digit><data>", or for
// binary data 'b' and base64 (protocol 4) or 'b', the type digit and base64
// (protocol 3).
func appendPacketText(buf []byte, p packet, protocol int) []byte {
	if !p.binary {
		buf = append(buf, '0'+p.typ)
		return append(buf, p.data...)
	}
	buf = append(buf, 'b')
	if protocol == 3 {
		buf = append(buf, '0'+p.typ)
	}
	return base64.StdEncoding.AppendEncode(buf, p.data)
}

// appendPayloadV4 appends the protocol 4 polling payload of pkts.
func appendPayloadV4(buf []byte, pkts []packet) []byte {
	for i, p := range pkts {
		if i > 0 {
			buf = append(buf, recordSeparator)
		}
		buf = appendPacketText(buf, p, 4)
	}
	return buf
}

// appendPayloadV3 appends the protocol 3 text payload of pkts, each record
// "<length in UTF-16 code units>:<packet>". An empty list encodes as "0:".
func appendPayloadV3(buf []byte, pkts []packet) []byte {
	if len(pkts) == 0 {
		return append(buf, "0:"...)
	}
	for _, p := range pkts {
		var n int
		if p.binary {
			n = 2 + base64.StdEncoding.EncodedLen(len(p.data))
		} else {
			n = 1 + utf16Len(p.data)
		}
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, ':')
		buf = appendPacketText(buf, p, 3)
	}
	return buf
}

// appendBinaryPayloadV3 appends the protocol 3 XHR2 binary payload of pkts
// (see decodeBinaryPayloadV3). Text packets are their UTF-8 bytes, so the
// length is counted in bytes here.
func appendBinaryPayloadV3(buf []byte, pkts []packet) []byte {
	for _, p := range pkts {
		if p.binary {
			buf = append(buf, 1)
		} else {
			buf = append(buf, 0)
		}
		var digits [20]byte
		d := strconv.AppendInt(digits[:0], int64(1+len(p.data)), 10)
		for _, c := range d {
			buf = append(buf, c-'0')
		}
		buf = append(buf, 0xff)
		if p.binary {
			buf = append(buf, p.typ)
		} else {
			buf = append(buf, '0'+p.typ)
		}
		buf = append(buf, p.data...)
	}
	return buf
}

// needsBinaryPayloadV3 reports whether pkts must travel as a protocol 3
// binary payload to a client that accepts one: when a packet is binary, or
// when text is not plain ASCII. Clients of socket.io-client 1.x read a text
// payload's bytes as UTF-8 themselves and count lengths in bytes, while 2.x
// clients count UTF-16 code units; a binary payload reads the same in both,
// and for ASCII the two counts agree.
func needsBinaryPayloadV3(pkts []packet) bool {
	for _, p := range pkts {
		if p.binary {
			return true
		}
		for _, c := range p.data {
			if c >= utf8.RuneSelf {
				return true
			}
		}
	}
	return false
}

// appendJSONP appends the JSONP response for a text payload:
// ___eio[<index>]("<payload as a JavaScript string>");
func appendJSONP(buf []byte, index string, payload []byte) []byte {
	buf = append(buf, "___eio["...)
	buf = append(buf, index...)
	buf = append(buf, "]("...)
	buf = appendJSString(buf, payload)
	return append(buf, ");"...)
}

// appendJSString appends s as a double-quoted JavaScript string literal the
// way JSON.stringify writes it, with U+2028 and U+2029 escaped too since they
// end a line in JavaScript source.
func appendJSString(buf, s []byte) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c == '\b':
				buf = append(buf, '\\', 'b')
			case c == '\f':
				buf = append(buf, '\\', 'f')
			case c < 0x20:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch r {
		case '\u2028':
			buf = append(buf, `\u2028`...)
		case '\u2029':
			buf = append(buf, `\u2029`...)
		case utf8.RuneError:
			buf = append(buf, "\ufffd"...)
		default:
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}
