package hostile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestShutdownUnderLoad sends SIGTERM while pushes are in flight: pushes
// whose bodies are still arriving are answered, every push answered 200
// before the close reached its sessions, every session receives a close,
// and the process exits with status 0 within SHUTDOWN_TIMEOUT. It runs with
// small users, whose pushes write inline, and with one user large enough
// for its pushes to be queued and written by the registry's flusher.
func TestShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ users, perUser int }{{2, 10}, {1, 600}} {
		t.Run(fmt.Sprintf("%d users of %d sessions", tt.users, tt.perUser), func(t *testing.T) {
			t.Parallel()
			testShutdownUnderLoad(t, tt.users, tt.perUser)
		})
	}
}

func testShutdownUnderLoad(t *testing.T, users, perUser int) {
	const timeout = 3 * time.Second
	s := startServer(t, "SHUTDOWN_TIMEOUT=3s", "MAX_SESSIONS_PER_USER=1000", "MAX_PENDING_PER_USER=1000")
	var socks []*socket
	for u := range users {
		for i := range perUser {
			user, conn := fmt.Sprintf("u%d", u), fmt.Sprintf("c%d-%d", u, i)
			if code, body := s.rest(http.MethodPut, "/api/"+user+"/register?connectionId="+conn, ""); code != http.StatusOK {
				t.Fatalf("register: %d %s", code, body)
			}
			sk := dialSocket(t, s)
			if ack := sk.register(user, conn); ack != `[{"ok":true}]` {
				t.Fatalf("register ack %s", ack)
			}
			socks = append(socks, sk)
		}
	}
	// What each socket receives, until the server closes it.
	type outcome struct {
		events  []string
		closed  error // how the connection ended
		sioGone bool  // a Socket.IO DISCONNECT or Engine.IO close arrived
	}
	outcomes := make([]outcome, len(socks))
	var readers sync.WaitGroup
	for i, sk := range socks {
		readers.Go(func() {
			o := &outcomes[i]
			take := func(f frame) {
				switch {
				case strings.HasPrefix(f.data, "42"):
					o.events = append(o.events, f.data[2:])
				case f.data == "41" || f.data == "1":
					o.sioGone = true
				}
			}
			for {
				select {
				case f := <-sk.frames:
					take(f)
				case <-sk.done:
					// The reader has stopped: take what it queued before.
					for len(sk.frames) > 0 {
						take(<-sk.frames)
					}
					o.closed = sk.err
					return
				}
			}
		})
	}

	// Pushes whose bodies are still on the way when SIGTERM arrives.
	const slow = 10
	slowConns := make([]net.Conn, slow)
	for i := range slowConns {
		c := dialTCP(t, s.addr, "")
		defer c.Close()
		fmt.Fprintf(c, "POST /api/u%d/push HTTP/1.1\r\nHost: x\r\nX-AUTH-TOKEN: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"message\":",
			i%users, token, len(`{"message":"slow"}`))
		slowConns[i] = c
	}

	// Fast pushes, numbered per user, until the server is gone.
	type pushResult struct {
		user, seq int
		code      int // 0 if no answer
		body      string
		err       error
	}
	var (
		mu      sync.Mutex
		results []pushResult
		pushers sync.WaitGroup
	)
	stop := make(chan struct{})
	for u := range users {
		pushers.Go(func() {
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/u%d/push", s.base, u), strings.NewReader(fmt.Sprintf(`{"message":%d}`, seq)))
				req.Header.Set("X-AUTH-TOKEN", token)
				req.Header.Set("Content-Type", "application/json")
				r := pushResult{user: u, seq: seq}
				res, err := client.Do(req)
				if err != nil {
					r.err = err
				} else {
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					r.code, r.body = res.StatusCode, strings.TrimSpace(string(b))
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if err != nil {
					return // the server is gone
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // pushes flowing

	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Finish the slow bodies after the signal: they must still be answered.
	slowAnswers := make([]string, slow)
	var slowWG sync.WaitGroup
	for i, c := range slowConns {
		slowWG.Go(func() {
			time.Sleep(300 * time.Millisecond)
			io.WriteString(c, `"slow"}`)
			c.SetReadDeadline(time.Now().Add(timeout + time.Second))
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				slowAnswers[i] = "no answer: " + err.Error()
				return
			}
			b, _ := io.ReadAll(res.Body)
			slowAnswers[i] = fmt.Sprintf("%d %s", res.StatusCode, b)
		})
	}
	select {
	case <-s.exited:
	case <-time.After(timeout + 2*time.Second):
		t.Fatalf("server still running %v after SIGTERM (SHUTDOWN_TIMEOUT=%v)", time.Since(start), timeout)
	}
	took := time.Since(start)
	if s.err != nil {
		t.Errorf("exit status after SIGTERM: %v", s.err)
	}
	if took > timeout {
		t.Errorf("exit took %v, SHUTDOWN_TIMEOUT is %v", took, timeout)
	}
	close(stop)
	pushers.Wait()
	readers.Wait()
	slowWG.Wait()

	t.Logf("pushes with bodies finished after SIGTERM answered: %q", slowAnswers)
	for i, a := range slowAnswers {
		if !strings.HasPrefix(a, "200 ") && !strings.HasPrefix(a, "503 {\"error\":") {
			t.Errorf("push %d, body sent after SIGTERM: %s, want 200 or 503 JSON", i, a)
		}
	}
	// Every fast push got 200, 503 JSON, or (once the listener closed) no
	// connection at all; pushes answered 200 with n sessions reached
	// those sessions before their close.
	accepted := make([]map[string]bool, users)
	var ok, refused, failed int
	for u := range accepted {
		accepted[u] = make(map[string]bool)
	}
	for _, r := range results {
		switch {
		case r.code == http.StatusOK:
			ok++
			if r.body != fmt.Sprintf(`{"sessions":%d}`, perUser) {
				t.Errorf("push %d to u%d: %s, want all %d sessions", r.seq, r.user, r.body, perUser)
			}
			accepted[r.user][fmt.Sprintf(`["message",%d]`, r.seq)] = true
		case r.code == http.StatusServiceUnavailable && strings.HasPrefix(r.body, `{"error":`):
			refused++
		case r.err != nil && isConnError(r.err):
			failed++
		default:
			t.Errorf("push %d to u%d: %d %q %v", r.seq, r.user, r.code, r.body, r.err)
		}
	}
	t.Logf("SIGTERM to exit %v; fast pushes: %d answered 200, %d answered 503, %d found no server", took, ok, refused, failed)
	closes := make(map[string]int)
	for i, o := range outcomes {
		closes[fmt.Sprintf("disconnect packet %v, close status %v", o.sioGone, websocket.CloseStatus(o.closed))]++
		got := make(map[string]bool)
		for _, e := range o.events {
			got[e] = true
		}
		for msg := range accepted[i/perUser] {
			if !got[msg] {
				t.Errorf("socket %d: accepted push %s not delivered before the close", i, msg)
				break
			}
		}
		if !o.sioGone && websocket.CloseStatus(o.closed) == -1 {
			t.Errorf("socket %d: no close from the server (connection ended with %v)", i, o.closed)
		}
	}
	t.Logf("how the sockets were closed: %v", closes)
}

// isConnError reports whether err means no HTTP exchange took place: the
// connection was refused, reset, or closed before an answer. That includes
// net/http's client finding that the server closed the idle keep-alive
// connection it was about to use (http.Server.Shutdown closes idle
// connections; the client does not retry a POST), an error net/http does
// not export.
func isConnError(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "http: server closed idle connection")
}
