package engineio

import (
	"testing"

	"notification-server/internal/leakcheck"
)

// TestMain fails the package if goroutines started by the tests are still
// running once they are done: every session, reader, writer and the
// heartbeat scheduler must end.
func TestMain(m *testing.M) { leakcheck.Main(m) }
