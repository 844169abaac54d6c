//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpread(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []float64
		want spread
		text string
	}{
		{nil, spread{}, "–"},
		{[]float64{5}, spread{1, 5, 5, 5}, "5.00"},
		{[]float64{3, 1, 2}, spread{3, 2, 1, 3}, "2.00 (1.00–3.00)"},
		{[]float64{4, 1, 3, 2}, spread{4, 2.5, 1, 4}, "2.50 (1.00–4.00)"},
		{[]float64{12345, 23456, 34567}, spread{3, 23456, 12345, 34567}, "23456 (12345–34567)"},
	}
	for _, tt := range tests {
		got := spreadOf(tt.in)
		if got != tt.want || got.String() != tt.text {
			t.Errorf("spreadOf(%v) = %+v %q, want %+v %q", tt.in, got, got.String(), tt.want, tt.text)
		}
	}
}

func TestTableRatiosPairRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, r result) {
		t.Helper()
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Run 1: ours 40k vs ref 10k (4×); run 2: ours 30k vs ref 10k (3×);
	// run 3: ours 50k vs ref 10k (5×). Median ratio 4: target met.
	for i, ours := range []float64{40000, 30000, 50000} {
		run := i + 1
		write("o"+string(rune('0'+run))+".json", result{Scenario: "push", Case: "push1", Label: "ours", Run: run, DeliveriesPerSec: ours, CPUPer1000: 0.01})
		write("r"+string(rune('0'+run))+".json", result{Scenario: "push", Case: "push1", Label: "ref", Run: run, DeliveriesPerSec: 10000, CPUPer1000: 0.05,
			Delivery: deliveryCounts{Lost: uint64(run - 1)}})
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var out strings.Builder
	if err := runTable(files, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"| push1 | deliveries/s | 40000 (30000–50000) | 10000 | 4.00 (3.00–5.00) | ratio ≥ 4 | yes |",
		"| push1 | server CPU s per 1000 deliveries (s) | 0.010 | 0.050 | 0.200 | ratio ≤ 0.25 | yes |",
		"| push1 | lost + duplicated + out of order | 0 | 1.00 (0–2.00) | – | ≤ 0 | yes |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
}

func TestTableMarksMissedAndPending(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, _ := json.Marshal(result{Scenario: "idle", Case: "idle", Label: "ref", Run: 1, KBPerSession: 13.5})
	path := filepath.Join(dir, "r.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := runTable([]string{path}, &out); err != nil {
		t.Fatal(err)
	}
	if want := "| idle | RSS per session (KB) | – | 13.50 | – | ≤ 10 | pending |"; !strings.Contains(out.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, out.String())
	}
	b, _ = json.Marshal(result{Scenario: "idle", Case: "idle", Label: "ours", Run: 1, KBPerSession: 11})
	if err := os.WriteFile(filepath.Join(dir, "o.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runTable([]string{path, filepath.Join(dir, "o.json")}, &out); err != nil {
		t.Fatal(err)
	}
	if want := "| idle | RSS per session (KB) | 11.00 | 13.50 | 0.815 | ≤ 10 | **no** |"; !strings.Contains(out.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, out.String())
	}
}
