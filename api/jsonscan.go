package api

// The usual push body is a small JSON object with plain member names.
// scanMessage checks it and finds its message in one pass; json.Valid
// followed by jsonMessage's walk read it twice, the first time through
// encoding/json's byte-at-a-time state machine.

// maxScanDepth bounds the nesting scanMessage follows. Deeper bodies are
// rare and go to encoding/json, which also knows its own depth limit.
const maxScanDepth = 64

// scanMessage returns the raw value of the "message" member of body, nil if
// it has none, and true when body is certainly valid JSON: an object whose
// member names are printable ASCII without escapes, nested at most
// maxScanDepth deep. For any other body, valid or not, it returns false and
// the caller decides with encoding/json's rules. It never returns true for
// a body json.Valid refuses.
func scanMessage(body []byte) ([]byte, bool) {
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return nil, false
	}
	i = skipSpace(body, i+1)
	var msg []byte
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			end, ok := scanPlainName(body, i)
			if !ok {
				return nil, false
			}
			name := body[i+1 : end-1]
			i = skipSpace(body, end)
			if i == len(body) || body[i] != ':' {
				return nil, false
			}
			i = skipSpace(body, i+1)
			vend, ok := validValue(body, i, 1)
			if !ok {
				return nil, false
			}
			// As JSON.parse(body).message: the last member named
			// exactly so wins.
			if string(name) == "message" {
				msg = body[i:vend]
			}
			i = skipSpace(body, vend)
			if i == len(body) {
				return nil, false
			}
			if body[i] == '}' {
				i++
				break
			}
			if body[i] != ',' {
				return nil, false
			}
			i = skipSpace(body, i+1)
		}
	}
	if skipSpace(body, i) != len(body) {
		return nil, false
	}
	return msg, true
}

// scanPlainName returns the index after the string starting at b[i] if it
// holds printable ASCII only, without escapes.
func scanPlainName(b []byte, i int) (int, bool) {
	if i == len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\' || c < 0x20 || c > 0x7e:
			return 0, false
		}
	}
	return 0, false
}

// validValue returns the index after the valid JSON value starting at b[i],
// a value found at nesting depth.
func validValue(b []byte, i, depth int) (int, bool) {
	if i == len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		return validString(b, i)
	case c == '{' || c == '[':
		return validContainer(b, i, depth)
	case c == 't':
		return validLiteral(b, i, "true")
	case c == 'f':
		return validLiteral(b, i, "false")
	case c == 'n':
		return validLiteral(b, i, "null")
	case c == '-' || '0' <= c && c <= '9':
		return validNumber(b, i)
	}
	return 0, false
}

// validContainer returns the index after the object or array starting at
// b[i].
func validContainer(b []byte, i, depth int) (int, bool) {
	if depth >= maxScanDepth {
		return 0, false
	}
	object := b[i] == '{'
	closing := byte(']')
	if object {
		closing = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closing {
		return i + 1, true
	}
	for {
		if object {
			end, ok := validString(b, i)
			if !ok {
				return 0, false
			}
			i = skipSpace(b, end)
			if i == len(b) || b[i] != ':' {
				return 0, false
			}
			i = skipSpace(b, i+1)
		}
		end, ok := validValue(b, i, depth+1)
		if !ok {
			return 0, false
		}
		i = skipSpace(b, end)
		if i == len(b) {
			return 0, false
		}
		if b[i] == closing {
			return i + 1, true
		}
		if b[i] != ',' {
			return 0, false
		}
		i = skipSpace(b, i+1)
	}
}

// validString returns the index after the valid JSON string starting at
// b[i]. Bytes that are not UTF-8 are accepted, as json.Valid accepts them.
func validString(b []byte, i int) (int, bool) {
	if i == len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			i++
			if i == len(b) {
				return 0, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return 0, false
				}
				i += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// validLiteral returns the index after lit if b[i:] starts with it.
func validLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// validNumber returns the index after the JSON number starting at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. What follows it is
// checked by the caller.
func validNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i == len(b):
		return 0, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
