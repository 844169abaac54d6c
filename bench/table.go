//go:build linux

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// metric is one number read from a result, and how to judge it.
type metric struct {
	name   string
	unit   string
	get    func(*result) float64
	higher bool // higher is better
}

var (
	mKB      = metric{"RSS per session", "KB", func(r *result) float64 { return r.KBPerSession }, false}
	mKBAfter = metric{"RSS per session after one push per user", "KB", func(r *result) float64 { return r.KBPerSessionAfter }, false}
	mConnect = metric{"connects/s", "", func(r *result) float64 { return r.Connect.ConnectRate }, true}
	mHSp99   = metric{"handshake p99", "ms", func(r *result) float64 { return r.Connect.Handshake.P99Ms }, false}
	mDeliv   = metric{"deliveries/s", "", func(r *result) float64 { return r.DeliveriesPerSec }, true}
	mPushes  = metric{"pushes/s", "", func(r *result) float64 { return r.PushesPerSec }, true}
	mCPU     = metric{"server CPU s per 1000 deliveries", "s", func(r *result) float64 { return r.CPUPer1000 }, false}
	mP50     = metric{"latency p50", "ms", func(r *result) float64 { return latOf(r).P50Ms }, false}
	mP99     = metric{"latency p99", "ms", func(r *result) float64 { return latOf(r).P99Ms }, false}
	mP999    = metric{"latency p99.9", "ms", func(r *result) float64 { return latOf(r).P999Ms }, false}
	mMax     = metric{"latency max", "ms", func(r *result) float64 { return latOf(r).MaxMs }, false}
	mClient  = metric{"load generator CPU s per 1000 deliveries", "s", func(r *result) float64 {
		if d := r.DeliveriesPerSec * r.Seconds; d > 0 {
			return r.ClientCPUSecs / d * 1000
		}
		return 0
	}, false}
	mOther = metric{"other processes' CPU during the measurement", "s", func(r *result) float64 { return r.OtherCPUSecs }, false}
	mBad   = metric{"lost + duplicated + out of order", "", func(r *result) float64 {
		d := r.Delivery
		return float64(d.Lost + d.Duplicated + d.Reordered + d.Unexpected + d.Misrouted)
	}, false}
)

func latOf(r *result) latencySummary {
	if r.Latency == nil {
		return latencySummary{}
	}
	return *r.Latency
}

// metricsFor lists what a table shows for a result's scenario.
func metricsFor(r *result) []metric {
	switch {
	case r.Scenario == "idle":
		return []metric{mKB, mKBAfter, mConnect, mHSp99, mBad}
	case r.Rate > 0:
		return []metric{mP50, mP99, mP999, mMax, mDeliv, mCPU, mClient, mOther, mBad}
	}
	return []metric{mDeliv, mPushes, mCPU, mClient, mP50, mP99, mOther, mBad}
}

// goal is a target from the performance issue for one case and metric:
// either a bound on our value or a bound on the ratio ours/reference.
type goal struct {
	ratio  bool
	limit  float64
	atMost bool
}

func (t goal) String() string {
	op := "≥"
	if t.atMost {
		op = "≤"
	}
	if t.ratio {
		return fmt.Sprintf("ratio %s %.3g", op, t.limit)
	}
	return fmt.Sprintf("%s %.3g", op, t.limit)
}

func (t goal) met(v float64) bool {
	if t.atMost {
		return v <= t.limit
	}
	return v >= t.limit
}

// targets are the goals of the performance issue, by the case names the
// standard set (scripts/bench.sh) uses.
var targets = map[string]map[string]goal{
	"idle": {
		mKB.name:      {limit: 10, atMost: true},
		mKBAfter.name: {limit: 12, atMost: true},
		mBad.name:     {limit: 0, atMost: true},
	},
	"push1": {
		mDeliv.name: {ratio: true, limit: 4},
		mCPU.name:   {ratio: true, limit: 0.25, atMost: true},
		mBad.name:   {limit: 0, atMost: true},
	},
	"push10": {
		mDeliv.name: {ratio: true, limit: 3.5},
		mCPU.name:   {ratio: true, limit: 1.0 / 3, atMost: true},
		mBad.name:   {limit: 0, atMost: true},
	},
	"fanout": {
		mDeliv.name: {ratio: true, limit: 2.5},
		mBad.name:   {limit: 0, atMost: true},
	},
	"latency": {
		mP99.name:  {limit: 1.5, atMost: true},
		mP999.name: {limit: 5, atMost: true},
		mBad.name:  {limit: 0, atMost: true},
	},
}

// spread is the median and range of a set of numbers.
type spread struct {
	n           int
	med, lo, hi float64
}

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{n: len(s), med: med, lo: s[0], hi: s[len(s)-1]}
}

func (s spread) String() string {
	if s.n == 0 {
		return "–"
	}
	if s.n == 1 || s.lo == s.hi {
		return num(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", num(s.med), num(s.lo), num(s.hi))
}

// num prints a number with about three significant digits.
func num(v float64) string {
	a := math.Abs(v)
	if a < 1 && a >= 0.9995 {
		a = 1 // rounds up to 1.000: print as 1.00 like its neighbours
	}
	switch {
	case v == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// runTable prints a Markdown table of medians (min–max) per case, metric
// and server, with the ratio ours/reference computed run by run (runs with
// the same -run index were measured back to back) and the targets.
func runTable(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("table", flag.ContinueOnError)
	ours := fs.String("ours", "ours", "label of our server")
	ref := fs.String("ref", "ref", "label of the reference server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var results []*result
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read result: %w", err)
		}
		r := new(result)
		if err := json.Unmarshal(b, r); err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		return fmt.Errorf("no result files given")
	}
	var cases []string
	byCase := map[string][]*result{}
	for _, r := range results {
		if _, ok := byCase[r.Case]; !ok {
			cases = append(cases, r.Case)
		}
		byCase[r.Case] = append(byCase[r.Case], r)
	}
	fmt.Fprintf(out, "| case | metric | %s | %s | %s / %s | target | met |\n", *ours, *ref, *ours, *ref)
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	for _, c := range cases {
		rs := byCase[c]
		for _, m := range metricsFor(rs[0]) {
			var mine, theirs, ratios []float64
			oursByRun, refByRun := map[int]float64{}, map[int]float64{}
			for _, r := range rs {
				switch r.Label {
				case *ours:
					mine = append(mine, m.get(r))
					oursByRun[r.Run] = m.get(r)
				case *ref:
					theirs = append(theirs, m.get(r))
					refByRun[r.Run] = m.get(r)
				}
			}
			for run, o := range oursByRun {
				if t, ok := refByRun[run]; ok && t != 0 && m.name != mBad.name && m.name != mOther.name && m.name != mClient.name {
					ratios = append(ratios, o/t)
				}
			}
			so, st, sr := spreadOf(mine), spreadOf(theirs), spreadOf(ratios)
			name := m.name
			if m.unit != "" {
				name += " (" + m.unit + ")"
			}
			want, verdict := "", ""
			if t, ok := targets[c][m.name]; ok {
				want = t.String()
				v, have := so.med, so.n > 0
				if t.ratio {
					v, have = sr.med, sr.n > 0
				}
				if m.name == mBad.name && have {
					v = so.hi // every run must be clean
				}
				switch {
				case !have:
					verdict = "pending"
				case t.met(v):
					verdict = "yes"
				default:
					verdict = "**no**"
				}
			}
			fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s | %s |\n", c, name, so, st, sr, want, verdict)
		}
	}
	// Notes, each listed once with the runs it applies to.
	var notes []string
	where := map[string][]string{}
	add := func(r *result, text string) {
		if _, ok := where[text]; !ok {
			notes = append(notes, text)
		}
		where[text] = append(where[text], fmt.Sprintf("%s %s run %d", r.Label, r.Case, r.Run))
	}
	for _, r := range results {
		for _, n := range r.Notes {
			add(r, n)
		}
		if r.Connect.ConnectErrors > 0 {
			add(r, fmt.Sprintf("%d connect errors (first: %s)", r.Connect.ConnectErrors, r.Connect.FirstError))
		}
		if r.PushErrors > 0 {
			add(r, fmt.Sprintf("%d push errors (first: %s)", r.PushErrors, r.FirstPushError))
		}
		if r.SessionsEnded > 0 {
			add(r, fmt.Sprintf("%d sessions ended by the server (first: %s)", r.SessionsEnded, r.FirstEndError))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(out)
		for _, n := range notes {
			fmt.Fprintf(out, "- %s: %s\n", strings.Join(where[n], ", "), strings.ReplaceAll(n, "\n", " "))
		}
	}
	return nil
}
