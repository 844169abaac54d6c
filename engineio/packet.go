package engineio

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// Packet types, as the digit that starts a packet on the wire ('0' + type).
const (
	packetOpen    byte = 0
	packetClose   byte = 1
	packetPing    byte = 2
	packetPong    byte = 3
	packetMessage byte = 4
	packetUpgrade byte = 5
	packetNoop    byte = 6
)

// errParse is wrapped by every decoding error: the client sent something
// that is not a packet or payload of its protocol.
var errParse = errors.New("engineio: malformed packet")

// packet is one decoded Engine.IO packet. binary marks a message whose data
// is raw bytes rather than UTF-8 text.
type packet struct {
	typ    byte
	data   []byte
	binary bool
}

// decodeTextPacket decodes "<type digit><data>". data aliases s.
func decodeTextPacket(s []byte) (packet, error) {
	if len(s) == 0 {
		return packet{}, fmt.Errorf("%w: empty packet", errParse)
	}
	t := s[0] - '0'
	if t > packetNoop {
		return packet{}, fmt.Errorf("%w: unknown packet type %q", errParse, s[0])
	}
	return packet{typ: t, data: s[1:]}, nil
}

// decodeBase64Packet decodes the base64 form of a binary packet, without
// its leading 'b': "<base64>" for protocol 4 (always a message), or
// "<type digit><base64>" for protocol 3.
func decodeBase64Packet(s []byte, protocol int) (packet, error) {
	typ := packetMessage
	if protocol == 3 {
		if len(s) == 0 || s[0] < '0' || s[0]-'0' > packetNoop {
			return packet{}, fmt.Errorf("%w: bad base64 packet type", errParse)
		}
		typ = s[0] - '0'
		s = s[1:]
	}
	data := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(data, s)
	if err != nil {
		return packet{}, fmt.Errorf("%w: bad base64: %v", errParse, err)
	}
	return packet{typ: typ, data: data[:n], binary: true}, nil
}

// decodeWebSocketMessage decodes one WebSocket message. A text frame is a
// text packet. A binary frame is a binary message: its bytes as they are for
// protocol 4, its first byte the packet type for protocol 3.
func decodeWebSocketMessage(msg []byte, binary bool, protocol int) (packet, error) {
	if !binary {
		return decodeTextPacket(msg)
	}
	if protocol == 4 {
		return packet{typ: packetMessage, data: msg, binary: true}, nil
	}
	if len(msg) == 0 || msg[0] > packetNoop {
		return packet{}, fmt.Errorf("%w: bad binary packet type", errParse)
	}
	return packet{typ: msg[0], data: msg[1:], binary: true}, nil
}
