package api

import (
	"testing"

	"notification-server/internal/leakcheck"
)

// TestMain fails the package if its tests leave goroutines of the module
// running.
func TestMain(m *testing.M) { leakcheck.Main(m) }
