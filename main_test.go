package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"notification-server/internal/leakcheck"
)

// TestMain fails the package if a goroutine of the server outlives its test.
func TestMain(m *testing.M) { leakcheck.Main(m) }

func env(kv ...string) func(string) string {
	m := make(map[string]string)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(nil, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 3000 || c.ConnectionTTL != time.Hour || c.PingInterval != 25*time.Second ||
		c.PingTimeout != 20*time.Second || c.MaxPayload != 1_000_000 || c.LogFormat != "text" ||
		c.MetricsPublic || len(c.AuthTokens) != 0 || c.HandshakeRate != 0 || c.ShutdownTimeout != 8*time.Second ||
		c.MaxPending != 1_000_000 || c.MaxPendingPerUser != 64 || c.MaxSessionsPerUser != 64 ||
		strings.Join(c.AllowedOrigins, ",") != "*" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoadConfigEnvAndFlags(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(
		[]string{"-port", "5000", "-log-format=json", "-metrics-public"},
		env("PORT", "4000", "AUTH_TOKEN", " a, b,,c ", "CONNECTION_TTL", "90", "PING_INTERVAL", "2s",
			"ALLOWED_ORIGINS", "https://a.example, https://b.example", "LOG_LEVEL", "debug", "HANDSHAKE_RATE", "2.5"),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 5000 {
		t.Errorf("Port = %d, want the flag's 5000", c.Port)
	}
	if got := strings.Join(c.AuthTokens, "|"); got != "a|b|c" {
		t.Errorf("AuthTokens = %q, want a|b|c", got)
	}
	if c.ConnectionTTL != 90*time.Second || c.PingInterval != 2*time.Second {
		t.Errorf("durations: ttl %v, ping %v", c.ConnectionTTL, c.PingInterval)
	}
	if got := strings.Join(c.AllowedOrigins, "|"); got != "https://a.example|https://b.example" {
		t.Errorf("AllowedOrigins = %q", got)
	}
	if c.LogFormat != "json" || !c.MetricsPublic || c.LogLevel.String() != "DEBUG" || c.HandshakeRate != 2.5 {
		t.Errorf("config: %+v", c)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		env     []string
		setting string
	}{
		{nil, []string{"PORT", "abc"}, "PORT"},
		{nil, []string{"PORT", "70000"}, "PORT"},
		{[]string{"-port", "-1"}, nil, "PORT"},
		{nil, []string{"CONNECTION_TTL", "soon"}, "CONNECTION_TTL"},
		{nil, []string{"CONNECTION_TTL", "0"}, "CONNECTION_TTL"},
		{nil, []string{"MAX_PAYLOAD", "0"}, "MAX_PAYLOAD"},
		{nil, []string{"PING_INTERVAL", "-5s"}, "PING_INTERVAL"},
		{nil, []string{"PING_TIMEOUT", "x"}, "PING_TIMEOUT"},
		{nil, []string{"PING_INTERVAL", "50m", "PING_TIMEOUT", "20m"}, "PING_INTERVAL"},
		// Each fits a time.Duration; their sum wraps negative.
		{nil, []string{"PING_INTERVAL", "2562047h", "PING_TIMEOUT", "2562047h"}, "PING_INTERVAL"},
		{nil, []string{"PING_INTERVAL", "9223372036", "PING_TIMEOUT", "9223372036"}, "PING_INTERVAL"},
		{nil, []string{"LOG_LEVEL", "loud"}, "LOG_LEVEL"},
		{nil, []string{"LOG_FORMAT", "xml"}, "LOG_FORMAT"},
		{nil, []string{"METRICS_PUBLIC", "yes please"}, "METRICS_PUBLIC"},
		{nil, []string{"MAX_PENDING", "-3"}, "MAX_PENDING"},
		{nil, []string{"HANDSHAKE_RATE", "NaN"}, "HANDSHAKE_RATE"},
		{nil, []string{"AUTH_TOKEN", " , "}, "AUTH_TOKEN"},
		{[]string{"-no-such-flag"}, nil, "no-such-flag"},
		{[]string{"stray"}, nil, "stray"},
	}
	for _, tt := range tests {
		_, err := loadConfig(tt.args, env(tt.env...), io.Discard)
		if err == nil {
			t.Errorf("loadConfig(%q, %q) succeeded, want an error", tt.args, tt.env)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tt.setting) || strings.Contains(msg, "\n") {
			t.Errorf("error %q: want one line naming %s", msg, tt.setting)
		}
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := loadConfig([]string{"-h"}, env(), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), "-"+s.flag+", "+s.env+" (default ") {
			t.Errorf("-h output lacks %s", s.env)
		}
	}
	for _, f := range []string{"-healthcheck", "-version"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("-h output lacks %s", f)
		}
	}
}

// TestLogValueListsEverySetting checks that the startup log names every
// setting but the tokens (logged as their count).
func TestLogValueListsEverySetting(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(nil, env("AUTH_TOKEN", "secret-token"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, a := range c.logValue().Group() {
		keys[a.Key] = true
		if strings.Contains(a.Value.String(), "secret-token") {
			t.Errorf("startup log %s holds the token", a.Key)
		}
	}
	for _, s := range settings {
		key := strings.ToLower(s.env)
		if s.secret {
			key = "auth_tokens"
		}
		if !keys[key] {
			t.Errorf("startup log lacks %s", key)
		}
	}
}

// TestREADMEListsEverySetting keeps the README's settings table in step
// with the code: every setting appears with its flag and default.
func TestREADMEListsEverySetting(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		row := fmt.Sprintf("| `%s` | `-%s` | ", s.env, s.flag)
		i := strings.Index(string(readme), row)
		if i < 0 {
			t.Errorf("README has no settings row starting %q", row)
			continue
		}
		rest := string(readme[i+len(row):])
		if s.def != "" && !strings.HasPrefix(rest, "`"+s.def+"`") {
			t.Errorf("README row of %s: default is not `%s`", s.env, s.def)
		}
	}
	if !strings.HasPrefix(string(readme), "# notification-server\n\n```sh\nAUTH_TOKEN=change-me go run .") {
		t.Error("README must start with the run and test commands")
	}
}

func TestIPLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	l := newIPLimiter(1, 2)
	l.now = func() time.Time { return now }
	steps := []struct {
		advance time.Duration
		ip      string
		want    bool
	}{
		{0, "a", true},
		{0, "a", true},
		{0, "a", false},
		{0, "b", true},
		{500 * time.Millisecond, "a", false},
		{500 * time.Millisecond, "a", true},
		{0, "a", false},
		{time.Hour, "a", true},
		{0, "a", true},
		{0, "a", false},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := l.allow(s.ip); got != s.want {
			t.Fatalf("step %d: allow(%s) = %v, want %v", i, s.ip, got, s.want)
		}
	}
	req := httptest.NewRequest("GET", "/socket.io/", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	// A burst of 2 for the request's IP, then a refusal.
	var allowed []bool
	for range 3 {
		allowed = append(allowed, l.allowRequest(req) == nil)
	}
	if !slices.Equal(allowed, []bool{true, true, false}) {
		t.Fatalf("allowRequest for one IP: allowed %v, want [true true false]", allowed)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var addrRE = regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)

// startRun runs the server in-process on a free loopback port and returns
// its base URL, its log and a function that stops it and returns run's error.
func startRun(t *testing.T, kv ...string) (string, *syncBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(append([]string{"PORT", "0", "HOST", "127.0.0.1", "SHUTDOWN_TIMEOUT", "3s"}, kv...)...), io.Discard, logs)
	}()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("run did not return within 10s of cancel")
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			t.Cleanup(func() {
				if err := stop(); err != nil {
					t.Error(err)
				}
			})
			return "http://" + m[1], logs, stop
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not log its address:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-AUTH-TOKEN", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestRunServesAndShutsDown(t *testing.T) {
	t.Parallel()
	base, logs, stop := startRun(t, "AUTH_TOKEN", "tok1,tok2")
	steps := []struct {
		method, path, token, body string
		wantCode                  int
		wantBody                  string
	}{
		{"GET", "/api/status/ping", "", "", 200, "pong"},
		{"PUT", "/api/u/register?connectionId=c", "tok2", "", 200, ""},
		{"POST", "/api/u/push", "tok1", `{"message":1}`, 200, `{"sessions":0}`},
		{"POST", "/api/u/push", "", `{"message":1}`, 401, `{"error":"missing or invalid API token"}`},
	}
	for _, s := range steps {
		if code, body := call(t, s.method, base+s.path, s.token, s.body); code != s.wantCode || body != s.wantBody {
			t.Errorf("%s %s: %d %q, want %d %q", s.method, s.path, code, body, s.wantCode, s.wantBody)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := http.Get(base + "/api/status/ping"); err == nil {
		t.Error("server still answers after shutdown")
	}
	out := logs.String()
	for _, secret := range []string{"tok1", "tok2"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains the token %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"notification-server started", "shutting down", "shut down"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestSlowBodyCutOff sends a push body too slowly: the server gives up after
// BODY_TIMEOUT instead of holding the request open.
func TestSlowBodyCutOff(t *testing.T) {
	t.Parallel()
	base, _, _ := startRun(t, "AUTH_TOKEN", "tok", "BODY_TIMEOUT", "300ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_, err = io.WriteString(conn, "POST /api/u/push HTTP/1.1\r\nHost: x\r\nX-AUTH-TOKEN: tok\r\nContent-Length: 100\r\n\r\n{\"message\":")
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 400") {
		t.Errorf("stalled body answered %q, want 400", status)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("stalled body cut off after %v, want about BODY_TIMEOUT", took)
	}
}

// TestShutdownFinishesInFlightPush starts a push, shuts the server down
// while its body is still on the way, and checks that the push is answered
// (503, so the backend retries elsewhere: the sessions are closing) and that
// no new connection is accepted meanwhile.
func TestShutdownFinishesInFlightPush(t *testing.T) {
	t.Parallel()
	base, _, stop := startRun(t, "AUTH_TOKEN", "tok")
	addr := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"message":"in flight"}`
	head := fmt.Sprintf("POST /api/u/push HTTP/1.1\r\nHost: x\r\nX-AUTH-TOKEN: tok\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := io.WriteString(conn, head+body[:5]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the server start handling it
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // the listener is closed
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections 5s into its shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := io.WriteString(conn, body[5:]); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight push not answered: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || strings.TrimSpace(string(got)) != `{"error":"server is shutting down"}` {
		t.Errorf("in-flight push answered %d %q, want 503 and a JSON error", resp.StatusCode, got)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestRunGeneratesTokenOnce(t *testing.T) {
	t.Parallel()
	base, logs, _ := startRun(t)
	m := regexp.MustCompile(`token=([0-9a-f]{48})`).FindAllStringSubmatch(logs.String(), -1)
	if len(m) != 1 {
		t.Fatalf("want the generated token logged exactly once, found %d times:\n%s", len(m), logs)
	}
	if code, _ := call(t, "PUT", base+"/api/u/register?connectionId=c", m[0][1], ""); code != 200 {
		t.Fatalf("register with the generated token: %d", code)
	}
	if code, _ := call(t, "PUT", base+"/api/u/register?connectionId=c", "", ""); code != 401 {
		t.Fatalf("register without a token: %d, want 401", code)
	}
}

func TestRunBadConfig(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"-max-queue", "0"}, env(), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "MAX_QUEUE") {
		t.Fatalf("run with MAX_QUEUE 0: %v, want an error naming MAX_QUEUE", err)
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	pong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/status/ping" {
			_, _ = io.WriteString(w, "pong")
			return
		}
		http.NotFound(w, r)
	}))
	defer pong.Close()
	broken := httptest.NewServer(http.NotFoundHandler())
	defer broken.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	tests := []struct {
		name    string
		port    int
		healthy bool
	}{
		{"answers pong", pong.Listener.Addr().(*net.TCPAddr).Port, true},
		{"answers 404", broken.Listener.Addr().(*net.TCPAddr).Port, false},
		{"nothing listening", closedPort, false},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := run(context.Background(), []string{"-healthcheck"}, env("PORT", fmt.Sprint(tt.port)), &out, io.Discard)
		if (err == nil) != tt.healthy {
			t.Errorf("%s: healthcheck = %v (%s), want healthy %v", tt.name, err, out.String(), tt.healthy)
		}
		if err != nil && !errors.Is(err, errUnhealthy) {
			t.Errorf("%s: error %v, want errUnhealthy", tt.name, err)
		}
	}
}
