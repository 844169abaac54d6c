//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: bench <scenario> [flags]     scenario: idle, push, fanout, churn
       bench table [-targets] result.json...

Run "bench <scenario> -h" for the flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(strings.TrimSpace(usage))
	}
	switch args[0] {
	case "idle", "push", "fanout", "churn":
		return runScenario(ctx, args[0], args[1:], out)
	case "table":
		return runTable(args[1:], out)
	}
	return fmt.Errorf("unknown scenario %q\n%s", args[0], usage)
}

func runScenario(ctx context.Context, scenario string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet(scenario, flag.ContinueOnError)
	var (
		cfg      = config{Scenario: scenario}
		base     = fs.String("url", "", "server URL (http://127.0.0.1:3000); with -cmd and no -url, a free loopback port")
		token    = fs.String("token", "bench-token", "X-AUTH-TOKEN (given to a -cmd server as AUTH_TOKEN)")
		pid      = fs.Int("pid", 0, "PID of the running server, for its memory and CPU from /proc")
		command  = fs.String("cmd", "", "command that starts the server (PORT and AUTH_TOKEN set); bench stops it at exit")
		logPath  = fs.String("log", "", "with -cmd: append the server's output to this file")
		jsonPath = fs.String("json", "", "write the result as JSON to this file")
		profile  = fs.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
		pidFile  = fs.String("pidfile", "", "with -cmd: write the server's PID here while it runs, so a wrapper script can kill it if bench dies")
	)
	defaults := map[string]struct {
		sessions, users, perUser, workers, window int
		duration                                  time.Duration
	}{
		"idle":   {0, 0, 2, 32, 0, 0},
		"push":   {0, 1000, 1, 32, 256, 10 * time.Second},
		"fanout": {5000, 1, 5000, 1, 4, 10 * time.Second},
		"churn":  {2000, 0, 2, 8, 0, 2 * time.Minute},
	}[scenario]
	fs.StringVar(&cfg.Case, "case", scenario, "name of this measurement in tables")
	fs.StringVar(&cfg.Label, "label", "server", "which server this is, in tables (e.g. ours, ref)")
	fs.IntVar(&cfg.Run, "run", 0, "index of this run, to pair interleaved runs in tables")
	fs.IntVar(&cfg.Sessions, "n", defaults.sessions, "sessions (idle, fanout, churn; 0 = the most the open-file limit allows)")
	fs.IntVar(&cfg.Users, "users", defaults.users, "push: users (sessions = users × -k)")
	fs.IntVar(&cfg.PerUser, "k", defaults.perUser, "sessions per user")
	fs.IntVar(&cfg.Workers, "workers", defaults.workers, "keep-alive HTTP push workers")
	fs.Float64Var(&cfg.Rate, "rate", 0, "push, churn: pushes per second in total (0 = saturating closed loop)")
	fs.DurationVar(&cfg.Duration, "duration", defaults.duration, "length of the measured phase")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "push, fanout: unmeasured load before the measured phase")
	fs.IntVar(&cfg.Window, "window", defaults.window, "closed loop: pushes in flight beyond those fully delivered (0 = no limit)")
	fs.IntVar(&cfg.Conc, "conc", 64, "connects in flight")
	fs.IntVar(&cfg.Sources, "sources", 16, "loopback source addresses (127.0.0.1 ...) for client sockets")
	fs.StringVar(&cfg.Transport, "transport", "websocket", `how sessions connect: "websocket", or "polling" (HTTP long-polling only, as socket.io-client with transports: ["polling"])`)
	fs.DurationVar(&cfg.Settle, "settle", 2*time.Second, "pause before memory readings")
	fs.IntVar(&cfg.Pad, "pad", 64, "filler bytes in each pushed message")
	fs.Float64Var(&cfg.Churn, "churn", 100, "churn: sessions replaced per second")
	fs.StringVar(&cfg.Metrics, "metrics", "/metrics", "churn: path of the server's Prometheus metrics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Sources < 1 || cfg.Sources > 254 || cfg.PerUser < 1 || cfg.Conc < 1 || cfg.Workers < 1 {
		return errors.New("-sources must be 1..254; -k, -conc and -workers at least 1")
	}
	if cfg.Transport != "websocket" && cfg.Transport != "polling" {
		return fmt.Errorf("-transport %q: want websocket or polling", cfg.Transport)
	}
	if scenario == "churn" && cfg.Churn <= 0 {
		return errors.New("-churn must be positive")
	}

	r := &result{Scenario: scenario, Case: cfg.Case, Label: cfg.Label, Run: cfg.Run, Rate: cfg.Rate, Transport: cfg.Transport, Started: time.Now().UTC().Format(time.RFC3339)}
	limit, err := raiseFileLimit()
	if err != nil {
		return err
	}
	r.FileLimit = limit
	want := cfg.Sessions
	switch scenario {
	case "push":
		want = cfg.Users * cfg.PerUser
	case "fanout":
		cfg.PerUser = max(cfg.Sessions, 1)
	}
	perSession := 1
	if cfg.Transport == "polling" {
		perSession = connsPerPollingSession
	}
	n, note := capSessions(want, limit, perSession)
	if note != "" {
		r.note("%s", note)
	}
	if n < 1 {
		return fmt.Errorf("open-file limit %d leaves no room for sessions", limit)
	}
	cfg.Sessions = n
	if scenario == "fanout" {
		cfg.PerUser = n
	}

	if *base == "" {
		if *command == "" {
			return errors.New("give -url, -cmd, or both")
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		*base = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	t, err := newTarget(*base, *token, cfg.Sources, cfg.Workers)
	if err != nil {
		return err
	}
	t.polling = cfg.Transport == "polling"
	defer t.close()
	srv := &serverProc{pid: *pid}
	if *command != "" {
		port := 0
		if _, err := fmt.Sscanf((*base)[strings.LastIndexByte(*base, ':')+1:], "%d", &port); err != nil {
			return fmt.Errorf("port of %q: %w", *base, err)
		}
		srv, err = startServer(ctx, *command, port, *token, *logPath, t)
		if err != nil {
			return err
		}
		defer srv.stop()
		if *pidFile != "" {
			if err := os.WriteFile(*pidFile, []byte(fmt.Sprintln(srv.pid)), 0o644); err != nil {
				return fmt.Errorf("write pid file: %w", err)
			}
			defer func() {
				srv.stop() // before the file goes, so a wrapper never loses track of a live server
				os.Remove(*pidFile)
			}()
		}
	} else if err := t.ping(ctx); err != nil {
		return err
	}
	if srv.pid == 0 {
		r.note("no -pid or -cmd: server memory and CPU not measured")
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}

	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return fmt.Errorf("create profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	switch scenario {
	case "idle":
		runIdle(ctx, cfg, t, srv, r)
	case "push", "fanout":
		runPush(ctx, cfg, t, srv, r)
	case "churn":
		runChurn(ctx, cfg, t, srv, r)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	printResult(out, r)
	if *jsonPath != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		if err := os.WriteFile(*jsonPath, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	if r.Churn != nil && !strings.HasPrefix(r.Churn.FinalCheck, "ok") {
		return fmt.Errorf("soak: %s", r.Churn.FinalCheck)
	}
	return nil
}

// printResult writes a human summary of one run.
func printResult(w io.Writer, r *result) {
	fmt.Fprintf(w, "== %s %s (run %d, %s over %s)\n", r.Label, r.Case, r.Run, r.Scenario, r.Transport)
	c := r.Connect
	fmt.Fprintf(w, "sessions %d (%d users × %d), connect errors %d, %.0f connects/s, handshake p50 %.2f ms p99 %.2f ms max %.2f ms\n",
		c.Sessions, c.Users, c.PerUser, c.ConnectErrors, c.ConnectRate, c.Handshake.P50Ms, c.Handshake.P99Ms, c.Handshake.MaxMs)
	if c.FirstError != "" {
		fmt.Fprintf(w, "first connect error: %s\n", c.FirstError)
	}
	if r.RSSBase > 0 {
		fmt.Fprintf(w, "server RSS: base %.1f MB, connected %.1f MB, after one push per user %.1f MB\n",
			mb(r.RSSBase), mb(r.RSSConnected), mb(r.RSSPushed))
		fmt.Fprintf(w, "server RSS per session: %.2f KB registered, %.2f KB after one push per user (load generator: %.1f KB per session)\n",
			r.KBPerSession, r.KBPerSessionAfter, r.ClientKBPerSess)
	}
	if r.Latency != nil {
		l, h := r.Latency, r.PushHTTP
		fmt.Fprintf(w, "%.0f pushes/s, %.0f deliveries/s over %.1f s\n", r.PushesPerSec, r.DeliveriesPerSec, r.Seconds)
		fmt.Fprintf(w, "delivery latency ms: p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f (n=%d)\n", l.P50Ms, l.P90Ms, l.P99Ms, l.P999Ms, l.MaxMs, l.Count)
		fmt.Fprintf(w, "push HTTP ms: p50 %.3f p99 %.3f max %.3f\n", h.P50Ms, h.P99Ms, h.MaxMs)
		fmt.Fprintf(w, "server CPU %.2f s = %.4f s per 1000 deliveries; load generator CPU %.2f s; other processes %.2f s; load average %s\n",
			r.ServerCPUSecs, r.CPUPer1000, r.ClientCPUSecs, r.OtherCPUSecs, r.LoadAvg)
	}
	if ch := r.Churn; ch != nil {
		fmt.Fprintf(w, "churn: %.0f s, %d sessions replaced (%d errors), %d pushes\n", ch.Seconds, ch.Replaced, ch.ReplaceErrors, ch.Pushes)
		if ch.FirstReplaceErr != "" {
			fmt.Fprintf(w, "first replace error: %s\n", ch.FirstReplaceErr)
		}
		fmt.Fprintf(w, "final check: %s\n", ch.FinalCheck)
		for _, when := range []string{"1 before", "2 connected", "3 after churn", "4 all closed"} {
			fmt.Fprintf(w, "  %-14s RSS %7.1f MB", when, mb(ch.RSS[when]))
			if m := ch.Metrics[when]; m != "" {
				fmt.Fprintf(w, "  metrics: %s", m)
			}
			if m := ch.Metrics[when+" pprof"]; m != "" {
				fmt.Fprintf(w, "  pprof: %s", m)
			}
			fmt.Fprintln(w)
		}
		if !ch.MetricsAvailable {
			fmt.Fprintln(w, "  (the server exposes no metrics: RSS only)")
		}
	} else {
		d := r.Delivery
		status := "OK"
		if !d.clean() {
			status = "NOT CLEAN"
		}
		fmt.Fprintf(w, "deliveries: expected %d, received %d, lost %d, duplicated %d, out of order %d, unexpected %d, misrouted %d: %s\n",
			d.Expected, d.Received, d.Lost, d.Duplicated, d.Reordered, d.Unexpected, d.Misrouted, status)
	}
	fmt.Fprintf(w, "pushes %d, push errors %d, bad messages %d, sessions ended by the server %d\n", r.Pushes, r.PushErrors, r.BadMessages, r.SessionsEnded)
	if r.FirstPushError != "" {
		fmt.Fprintf(w, "first push error: %s\n", r.FirstPushError)
	}
	if r.FirstEndError != "" {
		fmt.Fprintf(w, "first session end: %s\n", r.FirstEndError)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
