//go:build linux

package main

import (
	"testing"

	"notification-server/internal/leakcheck"
)

// TestMain fails the package when a test leaves goroutines behind.
func TestMain(m *testing.M) { leakcheck.Main(m) }
