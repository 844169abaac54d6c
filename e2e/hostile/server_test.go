package hostile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// token is the API token of every server the tests start.
const token = "hostile-test-token"

// rssBound is the resident memory the server may use after an attack on
// the shared server: a few hundred sessions and connections at most, far
// below it when healthy (about 15 MiB), far above it if an attack made the
// server buffer what it should refuse.
const rssBound = 256 << 20

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := checkGoroutines(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkGoroutines fails if goroutines started by the tests outlive them.
func checkGoroutines() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= 2 {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("leaked goroutines (%d):\n%s", n, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// moduleRoot is the repository root, found from this file's location.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// serverBinary builds the server once per test run and returns its path.
func serverBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "hostile-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "notification-server")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// server is a running server binary.
type server struct {
	t      testing.TB
	cmd    *exec.Cmd
	addr   string // host:port
	base   string // http://host:port
	logs   *syncBuffer
	exited chan struct{}
	err    error // exit status, once exited is closed
	next   atomic.Int64
}

// baseEnv is the environment of every server; startServer appends the
// test's own settings, which override these.
var baseEnv = []string{
	"PORT=0", "HOST=127.0.0.1", "AUTH_TOKEN=" + token,
	"LOG_FORMAT=json", "LOG_LEVEL=info", "METRICS_PUBLIC=true",
}

// startServer starts the binary with env added to baseEnv and waits until
// it listens. The server is killed when the test ends.
func startServer(t testing.TB, env ...string) *server {
	t.Helper()
	cmd := exec.Command(serverBinary(t))
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH")}, baseEnv...), env...)
	logs := &syncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	s := &server{t: t, cmd: cmd, logs: logs, exited: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			logs.Write(append(line, '\n'))
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "notification-server started" {
				select {
				case addrc <- rec.Addr:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		s.err = cmd.Wait()
		pw.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		if s.alive() {
			cmd.Process.Kill()
		}
		<-s.exited
		if strings.Contains(logs.String(), "panic") {
			t.Errorf("server log mentions a panic:\n%s", tail(logs.String(), 40))
		}
	})
	select {
	case s.addr = <-addrc:
	case <-s.exited:
		t.Fatalf("server exited at start (%v):\n%s", s.err, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("server did not start:\n%s", logs.String())
	}
	s.base = "http://" + s.addr
	return s
}

// alive reports whether the server process is still running.
func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return s.cmd.Process.Signal(syscall.Signal(0)) == nil
	}
}

// rss is the server's resident memory in bytes, from /proc.
func (s *server) rss() int64 {
	s.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		s.t.Fatalf("read server memory: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				s.t.Fatalf("parse VmRSS %q: %v", line, err)
			}
			return kb << 10
		}
	}
	s.t.Fatal("no VmRSS in /proc status")
	return 0
}

// checkHealthy asserts what must hold after every attack: the process is
// alive, answers ping within 2 s, delivers a push to a fresh client
// registered over REST, and uses less than bound bytes of resident memory.
func (s *server) checkHealthy(t testing.TB, bound int64) {
	t.Helper()
	if !s.alive() {
		t.Fatalf("server died (%v):\n%s", s.err, tail(s.logs.String(), 30))
	}
	s.checkPing(t)
	n := s.next.Add(1)
	user, conn := fmt.Sprintf("legit-%d", n), fmt.Sprintf("legit-conn-%d", n)
	s.checkPush(t, user, conn)
	if rss := s.rss(); rss > bound {
		t.Errorf("server RSS %d MiB, bound %d MiB", rss>>20, bound>>20)
	}
}

// checkPing asserts GET /api/status/ping answers pong within 2 s.
func (s *server) checkPing(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/status/ping", nil)
	res, err := freshClient.Do(req)
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(body) != "pong" {
		t.Fatalf("ping: %d %q", res.StatusCode, body)
	}
}

// checkPush registers conn for user, connects a client with it and asserts
// that a push reaches the client.
func (s *server) checkPush(t testing.TB, user, conn string) {
	t.Helper()
	if code, body := s.rest(http.MethodPut, "/api/"+user+"/register?connectionId="+conn, ""); code != http.StatusOK {
		t.Fatalf("register legit client: %d %s", code, body)
	}
	c := dialSocket(t, s)
	defer c.close()
	if ack := c.register(user, conn); ack != `[{"ok":true}]` {
		t.Fatalf("register ack %s", ack)
	}
	msg := fmt.Sprintf(`{"check":%q}`, conn)
	code, body := s.rest(http.MethodPost, "/api/"+user+"/push", `{"message":`+msg+`}`)
	if code != http.StatusOK || body != `{"sessions":1}` {
		t.Fatalf("push: %d %s", code, body)
	}
	if got := c.nextEvent(5 * time.Second); got != `["message",`+msg+`]` {
		t.Fatalf("legit client got %s, want the push", got)
	}
}

// freshClient opens a new connection for every request, so no attack
// leaves a broken keep-alive connection behind for the checks.
var freshClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	Timeout:   10 * time.Second,
}

// rest sends an authenticated REST request and returns status and body.
func (s *server) rest(method, path, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("X-AUTH-TOKEN", token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := freshClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, strings.TrimSpace(string(b))
}

// metric returns the sum of every sample of the metric whose name and
// labels start with prefix, e.g. `notification_session_closes_total{reason="parse error"}`.
func (s *server) metric(t testing.TB, prefix string) float64 {
	t.Helper()
	res, err := freshClient.Get(s.base + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var sum float64
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// waitMetric polls a metric until ok accepts it or timeout passes, and
// returns its last value.
func (s *server) waitMetric(t testing.TB, prefix string, timeout time.Duration, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := s.metric(t, prefix)
		if ok(v) || time.Now().After(deadline) {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dialTCP opens a raw TCP connection to addr from the loopback address
// local ("" for any).
func dialTCP(t testing.TB, addr, local string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return c
}
