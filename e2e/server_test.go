package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"notification-server/internal/nodetest"
)

// binPath is the server binary built once for the package by TestMain.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "notification-server-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "notification-server")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = nodetest.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

const token = "e2e-secret-token"

// server is the real binary running on a loopback port.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	logs   *lockedBuffer
	exited chan struct{}
	err    error // set when exited is closed
	client *http.Client
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var addrRE = regexp.MustCompile(`"addr":"(127\.0\.0\.1:\d+)"`)

// startServer starts the binary with PORT=0 on 127.0.0.1 and the test token,
// plus extra KEY=VALUE settings, and waits until it listens. The process is
// killed when the test ends if it is still running.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	nodetest.Dir(t) // skip early when the npm clients are missing
	s := &server{t: t, logs: &lockedBuffer{}, exited: make(chan struct{}), client: &http.Client{Timeout: 10 * time.Second}}
	s.cmd = exec.Command(binPath)
	s.cmd.Env = append(os.Environ(), "PORT=0", "HOST=127.0.0.1", "AUTH_TOKEN="+token, "LOG_FORMAT=json", "LOG_LEVEL=debug")
	s.cmd.Env = append(s.cmd.Env, extra...)
	s.cmd.Stdout = s.logs
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.logs, line)
			if m := addrRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		s.client.CloseIdleConnections()
		logs := s.logs.String()
		for _, bad := range []string{"panic", `"level":"ERROR"`, "DATA RACE"} {
			if strings.Contains(logs, bad) {
				t.Errorf("server log contains %q", bad)
			}
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs)
		}
	})
	select {
	case a := <-addr:
		s.url = "http://" + a
	case <-s.exited:
		t.Fatalf("server exited at start: %v\n%s", s.err, s.logs)
	case <-time.After(15 * time.Second):
		t.Fatalf("server did not start listening within 15s:\n%s", s.logs)
	}
	return s
}

// do sends one REST request with the token and returns status and body.
func (s *server) do(method, path, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("X-AUTH-TOKEN", token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// register registers connID for userID over REST, as a backend does.
func (s *server) register(userID, connID string) {
	s.t.Helper()
	if code, body := s.do("PUT", "/api/"+userID+"/register?connectionId="+connID, ""); code != 200 || body != "" {
		s.t.Fatalf("register %s/%s: %d %q, want 200 and an empty body", userID, connID, code, body)
	}
}

// push posts message (any JSON-encodable value) to userID and returns the
// number of sessions it reached.
func (s *server) push(userID string, message any) int {
	s.t.Helper()
	body, err := json.Marshal(map[string]any{"message": message})
	if err != nil {
		s.t.Fatal(err)
	}
	code, resp := s.do("POST", "/api/"+userID+"/push", string(body))
	var out struct {
		Sessions *int `json:"sessions"`
	}
	if code != 200 || json.Unmarshal([]byte(resp), &out) != nil || out.Sessions == nil {
		s.t.Fatalf("push to %s: %d %q, want 200 {\"sessions\":n}", userID, code, resp)
	}
	return *out.Sessions
}

// metric returns the value of one sample line of /metrics, "" if absent.
func (s *server) metric(sample string) string {
	s.t.Helper()
	code, body := s.do("GET", "/metrics", "")
	if code != 200 {
		s.t.Fatalf("GET /metrics: %d", code)
	}
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

// sessionsByTransport adds up notification_sessions over its labels.
func (s *server) sessionsByTransport() int {
	s.t.Helper()
	_, body := s.do("GET", "/metrics", "")
	total := 0
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, "notification_sessions{") {
			n, err := strconv.Atoi(line[strings.LastIndexByte(line, ' ')+1:])
			if err != nil {
				s.t.Fatalf("metrics line %q: %v", line, err)
			}
			total += n
		}
	}
	return total
}

// stop sends sig to the server and waits up to within for it to exit.
func (s *server) stop(sig syscall.Signal, within time.Duration) (time.Duration, error) {
	s.t.Helper()
	start := time.Now()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal: %v", err)
	}
	select {
	case <-s.exited:
		return time.Since(start), s.err
	case <-time.After(within):
		s.t.Fatalf("server did not exit within %v of %v", within, sig)
		return 0, nil
	}
}

// clientSpec is one Socket.IO client of e2e/node/product/clients.js.
type clientSpec struct {
	Name                    string   `json:"name"`
	Version                 string   `json:"version"` // "v4" or "v2"
	Transports              []string `json:"transports,omitempty"`
	UserID                  any      `json:"userId"`
	ConnectionID            any      `json:"connectionId"`
	Reconnection            *bool    `json:"reconnection,omitempty"`
	Expect                  int      `json:"expect,omitempty"`
	ExpectDisconnects       int      `json:"expectDisconnects,omitempty"`
	DropAfter               int      `json:"dropAfter,omitempty"`
	DisconnectAfterRegister bool     `json:"disconnectAfterRegister,omitempty"`
	// KeepAlive polls over keep-alive connections, as browsers do; Node's
	// clients otherwise send every request with "Connection: close", which
	// the server never parks.
	KeepAlive bool `json:"keepAlive,omitempty"`
}

// clientResult is what one client saw.
type clientResult struct {
	Messages    []json.RawMessage `json:"messages"`
	Acks        []json.RawMessage `json:"acks"`
	Disconnects []string          `json:"disconnects"`
	Connects    int               `json:"connects"`
	Errors      []string          `json:"errors"`
	Transports  []string          `json:"transports"`
}

// clients is a running clients.js.
type clients struct {
	t      *testing.T
	cmd    *exec.Cmd
	events string
	done   chan struct{}
	err    error
}

// startClients runs clients.js with the given clients against s.
func startClients(t *testing.T, s *server, timeout time.Duration, specs ...clientSpec) *clients {
	t.Helper()
	events := filepath.Join(t.TempDir(), "events")
	spec, err := json.Marshal(map[string]any{
		"url":        s.url,
		"eventsFile": events,
		"timeoutMs":  timeout.Milliseconds(),
		"graceMs":    300,
		"clients":    specs,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &clients{t: t, events: events, done: make(chan struct{})}
	c.cmd = nodetest.Start(t, nil, "product/clients.js", string(spec))
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c
}

// waitEvents waits until the events file has n lines starting with prefix.
func (c *clients) waitEvents(prefix string, n int, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, _ := os.ReadFile(c.events)
		got := 0
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.HasPrefix(line, prefix) {
				got++
			}
		}
		if got >= n {
			return
		}
		select {
		case <-c.done:
			c.t.Fatalf("clients exited while waiting for %d %q events (have %d): %v\nstdout: %s\nstderr: %s\nevents:\n%s",
				n, prefix, got, c.err, c.cmd.Stdout, c.cmd.Stderr, b)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waited %v for %d %q events, have %d:\n%s", within, n, prefix, got, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// results waits for the clients to finish and returns what each saw.
func (c *clients) results() map[string]clientResult {
	c.t.Helper()
	<-c.done
	if c.err != nil {
		c.t.Fatalf("clients.js: %v\nstderr: %s", c.err, c.cmd.Stderr)
	}
	var out struct {
		TimedOut bool                    `json:"timedOut"`
		Clients  map[string]clientResult `json:"clients"`
	}
	if err := json.Unmarshal(c.cmd.Stdout.(*bytes.Buffer).Bytes(), &out); err != nil {
		c.t.Fatalf("clients.js output: %v\n%s\nstderr: %s", err, c.cmd.Stdout, c.cmd.Stderr)
	}
	if out.TimedOut {
		c.t.Errorf("clients timed out waiting for their messages; they saw: %s", summarize(out.Clients))
	}
	return out.Clients
}

func summarize(rs map[string]clientResult) string {
	var b strings.Builder
	for name, r := range rs {
		fmt.Fprintf(&b, "\n  %s: %d messages, acks %s, disconnects %q, connects %d, errors %q",
			name, len(r.Messages), r.Acks, r.Disconnects, r.Connects, r.Errors)
	}
	return b.String()
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
