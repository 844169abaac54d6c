//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// serverProc is the server under test: started by bench (-cmd) or only
// observed (-pid). pid is 0 when neither was given.
type serverProc struct {
	pid    int
	exited chan error // receives cmd.Wait's result once; nil when not started by bench
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer runs command with sh (exec-ed, so the shell's pid is the
// server's) in its own process group, with PORT and AUTH_TOKEN set and
// output appended to logPath (discarded when empty), and waits until t
// answers ping.
func startServer(ctx context.Context, command string, port int, token, logPath string, t *target) (*serverProc, error) {
	cmd := exec.Command("sh", "-c", "exec "+command)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "AUTH_TOKEN="+token)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open server log: %w", err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server %q: %w", command, err)
	}
	p := &serverProc{pid: cmd.Process.Pid, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := t.ping(pctx)
		cancel()
		if err == nil {
			return p, nil
		}
		select {
		case werr := <-p.exited:
			p.exited <- werr
			return nil, fmt.Errorf("server %q exited before answering ping: %v", command, werr)
		case <-ctx.Done():
			p.stop()
			return nil, fmt.Errorf("start server: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("server %q did not answer ping within 30s: %w", command, err)
		}
	}
}

// stop ends a server bench started: SIGTERM to its process group, SIGKILL
// after three seconds. It does nothing for an observed (-pid) server.
func (p *serverProc) stop() {
	if p == nil || p.exited == nil {
		return
	}
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
		return
	case <-time.After(3 * time.Second):
	}
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	err := <-p.exited
	p.exited <- err
}

// rss is the server's resident set size in bytes, 0 when unknown.
func (p *serverProc) rss() int64 {
	if p == nil || p.pid == 0 {
		return 0
	}
	n, err := procRSS(p.pid)
	if err != nil {
		return 0
	}
	return n
}

// cpu is the server's CPU time so far, 0 when unknown.
func (p *serverProc) cpu() time.Duration {
	if p == nil || p.pid == 0 {
		return 0
	}
	d, err := procCPU(p.pid)
	if err != nil {
		return 0
	}
	return d
}

// selfCPU is this process's own CPU time (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
