// Package nodetest runs the real npm Socket.IO and Engine.IO programs that the
// end-to-end tests drive against our server.
//
// The npm packages live in e2e/node (installed by scripts/test.sh with
// `npm ci`). When they are missing, tests that need them are skipped on a
// developer machine and fail under CI (CI=true), so a broken install can never
// pass silently.
package nodetest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Root returns the repository root, found from this source file's location.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Dir returns e2e/node, the folder holding package.json and node_modules.
// It skips the test (or fails it when CI is set) if node or the npm packages
// are not installed.
func Dir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(Root(), "e2e", "node")
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "node not found in PATH")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client")); err != nil {
		missing(t, "npm packages not installed: run scripts/test.sh (or npm ci --prefix e2e/node)")
	}
	return dir
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// Result is what a finished node program left behind.
type Result struct {
	Stdout, Stderr string
	Err            error // non-nil if the program failed or timed out
}

// Run runs `node script args...` with its working directory in e2e/node and
// waits for it, killing the whole process group when timeout passes or the
// test ends. script is relative to e2e/node. env entries (KEY=VALUE) are added
// to the environment.
func Run(t testing.TB, timeout time.Duration, env []string, script string, args ...string) Result {
	t.Helper()
	cmd := Start(t, env, script, args...)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		kill(cmd)
		<-done
		err = context.DeadlineExceeded
	}
	return Result{
		Stdout: cmd.Stdout.(*bytes.Buffer).String(),
		Stderr: cmd.Stderr.(*bytes.Buffer).String(),
		Err:    err,
	}
}

// Start starts `node script args...` in its own process group without waiting
// for it. Its stdout and stderr are collected in *bytes.Buffer values
// (cmd.Stdout, cmd.Stderr); read them only after cmd.Wait returns. The process
// group is killed when the test ends, so nothing outlives the test.
func Start(t testing.TB, env []string, script string, args ...string) *exec.Cmd {
	t.Helper()
	dir := Dir(t)
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = new(bytes.Buffer)
	cmd.Stderr = new(bytes.Buffer)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	t.Cleanup(func() { kill(cmd) })
	return cmd
}

func kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
