// Command conformance serves our Engine.IO or Socket.IO layer exactly as the
// official protocol test suites expect their reference server to behave
// (see the "Test suite" sections of the engine.io-protocol and
// socket.io-protocol specifications).
//
//	go run ./internal/conformance -mode=eio -addr=:3000
//	go run ./internal/conformance -mode=sio -addr=:3000
//
// Each mode lives in its own file and registers itself in modes.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// modes maps a -mode value to the function serving it; each mode's file adds
// itself from an init function.
var modes = map[string]func(addr string, logger *slog.Logger) error{}

func main() {
	names := make([]string, 0, len(modes))
	for name := range modes {
		names = append(names, name)
	}
	sort.Strings(names)
	mode := flag.String("mode", "eio", "what to serve: "+strings.Join(names, " or "))
	addr := flag.String("addr", ":3000", "listen address")
	verbose := flag.Bool("v", false, "log every packet at debug level")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	run, ok := modes[*mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "conformance: unknown -mode %q (want %s)\n", *mode, strings.Join(names, " or "))
		os.Exit(2)
	}
	if err := run(*addr, logger); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}
