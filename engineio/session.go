package engineio

// session is the state of one Engine.IO session, shared by its transports.
type session struct {
	id        string
	protocol  int
	handshake *Handshake
	onMessage func(data []byte, binary bool)
	onClose   func(reason string)
}

func (s *session) transportName() string               { return "polling" }
func (s *session) send(data []byte, binary bool) error { return ErrClosed }
func (s *session) closeForced() error                  { return ErrClosed }
