package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// placeholderPrefix is how every encoder we know of writes a placeholder; it
// lets packets without one skip the full parse.
var placeholderKey = []byte(`"_placeholder"`)

// checkPlaceholders verifies that data, the JSON of a binary packet with n
// attachments, holds placeholders {"_placeholder":true,"num":k} with every k
// an integer in [0, n), and that each attachment is referenced at least once.
func checkPlaceholders(data []byte, n int) error {
	used := make([]bool, n)
	if bytes.Contains(data, placeholderKey) {
		var v any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidPayload, err)
		}
		if err := walkPlaceholders(v, used); err != nil {
			return err
		}
	}
	for k, u := range used {
		if !u {
			return fmt.Errorf("%w: attachment %d not referenced", ErrInvalidAttachments, k)
		}
	}
	return nil
}

func walkPlaceholders(v any, used []bool) error {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if err := walkPlaceholders(e, used); err != nil {
				return err
			}
		}
	case map[string]any:
		if ph, ok := x["_placeholder"].(bool); ok && ph {
			num, ok := x["num"].(json.Number)
			if !ok {
				return fmt.Errorf("%w: placeholder without a number", ErrInvalidAttachments)
			}
			k, err := num.Int64()
			if err != nil || k < 0 || k >= int64(len(used)) {
				return fmt.Errorf("%w: placeholder number %s out of range", ErrInvalidAttachments, num)
			}
			used[k] = true
			return nil
		}
		for _, e := range x {
			if err := walkPlaceholders(e, used); err != nil {
				return err
			}
		}
	}
	return nil
}

// Placeholder reports whether arg is an attachment placeholder
// {"_placeholder":true,"num":k} and returns k. Handlers use it with
// Socket.Attachments to get at the binary arguments of an event or ack.
func Placeholder(arg json.RawMessage) (int, bool) {
	if firstByte(arg) != '{' || !bytes.Contains(arg, placeholderKey) {
		return 0, false
	}
	var ph struct {
		Placeholder bool         `json:"_placeholder"`
		Num         *json.Number `json:"num"`
	}
	if err := json.Unmarshal(arg, &ph); err != nil || !ph.Placeholder || ph.Num == nil {
		return 0, false
	}
	k, err := ph.Num.Int64()
	if err != nil || k < 0 || k > 1<<16 {
		return 0, false
	}
	return int(k), true
}

// reassembler joins a binary packet with the attachments that follow it on
// one Engine.IO session. It is used only by that session's message handler,
// which is never called concurrently.
type reassembler struct {
	pending     Packet
	attachments [][]byte
	size        int // bytes held in attachments
	maxSize     int // bound on size; 0 means unbounded
	active      bool
}

// start begins collecting attachments for p.
func (r *reassembler) start(p Packet) {
	r.pending = p
	r.attachments = make([][]byte, 0, p.Attachments)
	r.active = true
}

// add appends one attachment and reports whether the packet is complete; the
// completed packet has been checked against its placeholders.
func (r *reassembler) add(b []byte) (Packet, [][]byte, bool, error) {
	if !r.active {
		return Packet{}, nil, false, fmt.Errorf("%w: binary message without a binary packet", ErrInvalidAttachments)
	}
	r.size += len(b)
	if r.maxSize > 0 && r.size > r.maxSize {
		r.pending, r.attachments, r.size, r.active = Packet{}, nil, 0, false
		return Packet{}, nil, false, fmt.Errorf("%w: more than %d bytes", ErrInvalidAttachments, r.maxSize)
	}
	r.attachments = append(r.attachments, b)
	if len(r.attachments) < r.pending.Attachments {
		return Packet{}, nil, false, nil
	}
	p, atts := r.pending, r.attachments
	r.pending, r.attachments, r.size, r.active = Packet{}, nil, 0, false
	if err := checkPlaceholders(p.Data, len(atts)); err != nil {
		return Packet{}, nil, false, err
	}
	return p, atts, true, nil
}
