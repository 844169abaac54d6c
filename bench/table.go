package main

import "io"

func runTable(args []string, out io.Writer) error { return nil }
