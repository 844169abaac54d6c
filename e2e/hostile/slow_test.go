package hostile

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// slowSessions is how many never-reading sessions TestSlowConsumers opens
// (fewer if the file descriptor limit does not allow it).
const slowSessions = 10000

// slowRSSBound is the memory the server may use while holding
// slowSessions sessions whose queues and socket buffers are full: about
// 20 KiB per session of our own, plus what the kernel does not count in
// RSS. A server that buffered without bound (MAX_QUEUE ignored) would pass
// it within the first few pushes.
const slowRSSBound = 1 << 30

// TestSlowConsumers opens thousands of WebSocket sessions that register and
// then never read, pushes to them until every one is closed as slow
// ("queue overflow" in /metrics, or "transport error" when its blocked write
// fails first), and checks that meanwhile the server's memory stays bounded
// and legitimate clients get every push in order. The queue bound itself is
// tested in engineio; here either end is right, and which one comes first
// depends on how fast the machine pushes.
// Not parallel: it takes most of the machine's sockets for a while.
func TestSlowConsumers(t *testing.T) {
	n := slowSessions
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(n)+1000 {
		n = int(lim.Cur) - 1000
		t.Logf("file descriptor limit %d: %d sessions instead of %d", lim.Cur, n, slowSessions)
	}
	if testing.Short() {
		n = min(n, 1000)
	}
	if n < 500 {
		t.Skipf("file descriptor limit %d is too low for this test", lim.Cur)
	}
	const perUser = 1000
	users := (n + perUser - 1) / perUser
	s := startServer(t,
		"MAX_QUEUE=64", "MAX_SESSIONS_PER_USER=1000", "MAX_PENDING_PER_USER=1000",
		"PING_INTERVAL=10m", "PING_TIMEOUT=10m",
	)

	// Register every connection id over a few keep-alive connections.
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var failed atomic.Int64
	flood(16, func(w int) {
		for i := w; i < n; i += 16 {
			req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/api/slow-%d/register?connectionId=c-%d", s.base, i/perUser, i), nil)
			req.Header.Set("X-AUTH-TOKEN", token)
			res, err := client.Do(req)
			if err != nil || res.StatusCode != http.StatusOK {
				failed.Add(1)
			}
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}
	})
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d registers failed", f, n)
	}

	// Open the sessions, each with a tiny receive buffer so that little
	// is parked in the kernel, connect to "/", register, and never read
	// again.
	conns := make([]*rawWS, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var dialErr atomic.Value
	flood(32, func(w int) {
		for i := w; i < n; i += 32 {
			c, err := dialSmallWS(s.addr)
			if err != nil {
				dialErr.Store(err)
				return
			}
			conns[i] = c
			args, _ := json.Marshal([]string{"register", fmt.Sprintf("slow-%d", i/perUser), fmt.Sprintf("c-%d", i)})
			c.writeFrame(0x1, "40")
			c.writeFrame(0x1, "42"+string(args))
		}
	})
	if err := dialErr.Load(); err != nil {
		t.Fatalf("dial: %v", err)
	}
	if v := s.waitMetric(t, "notification_registered_sessions ", 30*time.Second, func(v float64) bool { return v >= float64(n) }); v < float64(n) {
		t.Fatalf("%v of %d slow sessions registered", v, n)
	}
	idleRSS := s.rss()
	t.Logf("%d never-reading sessions registered; server RSS %d MiB", n, idleRSS>>20)

	// Three legitimate clients of one user.
	const legitUser = "legit"
	var legit []*socket
	for i := range 3 {
		conn := fmt.Sprintf("legit-%d", i)
		if code, body := s.rest(http.MethodPut, "/api/"+legitUser+"/register?connectionId="+conn, ""); code != http.StatusOK {
			t.Fatalf("register: %d %s", code, body)
		}
		sk := dialSocket(t, s)
		if ack := sk.register(legitUser, conn); ack != `[{"ok":true}]` {
			t.Fatalf("register ack %s", ack)
		}
		legit = append(legit, sk)
	}
	var mu sync.Mutex // guards received
	received := make([][]string, len(legit))
	var readers sync.WaitGroup
	stopReading := make(chan struct{})
	for i, sk := range legit {
		readers.Go(func() {
			for {
				select {
				case f := <-sk.frames:
					if d, ok := strings.CutPrefix(f.data, "42"); ok {
						mu.Lock()
						received[i] = append(received[i], d)
						mu.Unlock()
					}
				case <-stopReading:
					return
				case <-sk.done:
					if len(sk.frames) == 0 {
						return
					}
				}
			}
		})
	}

	// Push 16 KiB messages to the slow users, and small ones to the legit
	// user between them, until every slow session is closed.
	big := `{"message":"` + strings.Repeat("x", 16<<10) + `"}`
	var maxRSS int64
	legitPushes := 0
	deadline := time.Now().Add(60 * time.Second)
	// A slow session ends in one of two ways: its queue overflows
	// (MAX_QUEUE), or, when pushes come too slowly to fill it within the
	// write timeout (a loaded machine), its blocked write fails.
	closes := func(reason string) float64 {
		return s.metric(t, `notification_session_closes_total{reason="`+reason+`"}`)
	}
	for round := 0; closes("queue overflow")+closes("transport error") < float64(n); round++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d rounds of pushes, %v of %d slow sessions closed as slow (%v by a failed write); %v sessions still registered",
				round, closes("queue overflow"), n, closes("transport error"), s.metric(t, "notification_registered_sessions "))
		}
		flood(users, func(u int) {
			for range 4 {
				req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/slow-%d/push", s.base, u), strings.NewReader(big))
				req.Header.Set("X-AUTH-TOKEN", token)
				res, err := client.Do(req)
				if err != nil {
					t.Errorf("push to slow-%d: %v", u, err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Errorf("push to slow-%d: %d", u, res.StatusCode)
					return
				}
			}
		})
		code, body := s.rest(http.MethodPost, "/api/"+legitUser+"/push", fmt.Sprintf(`{"message":%d}`, legitPushes))
		if code != http.StatusOK || body != `{"sessions":3}` {
			t.Fatalf("legit push %d: %d %s", legitPushes, code, body)
		}
		legitPushes++
		maxRSS = max(maxRSS, s.rss())
	}
	if v := s.waitMetric(t, "notification_registered_sessions ", 10*time.Second, func(v float64) bool { return v == 3 }); v != 3 {
		t.Errorf("%v registered sessions after the slow ones were closed, want the 3 legit ones", v)
	}
	overflowed := closes("queue overflow")
	t.Logf("%d slow sessions closed after %d rounds of pushes, %v as slow and %v by a failed write; server RSS: %d MiB idle, at most %d MiB under pushes, %d MiB after",
		n, legitPushes, overflowed, float64(n)-overflowed, idleRSS>>20, maxRSS>>20, s.rss()>>20)
	if maxRSS > slowRSSBound {
		t.Errorf("server RSS reached %d MiB, bound %d MiB", maxRSS>>20, slowRSSBound>>20)
	}

	// Every legit client got every push, in order.
	deadline = time.Now().Add(10 * time.Second)
	for done := false; !done; {
		done = true
		mu.Lock()
		for i := range legit {
			if len(received[i]) < legitPushes {
				done = false
			}
		}
		mu.Unlock()
		if !done {
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	close(stopReading)
	readers.Wait()
	for i, got := range received {
		if len(got) != legitPushes {
			t.Errorf("legit client %d got %d of %d pushes", i, len(got), legitPushes)
			continue
		}
		for j, d := range got {
			if d != fmt.Sprintf(`["message",%d]`, j) {
				t.Errorf("legit client %d: push %d arrived as %s", i, j, d)
				break
			}
		}
	}
	s.checkHealthy(t, slowRSSBound)
}

// dialSmallWS opens a WebSocket session whose TCP receive buffer is as
// small as the kernel allows.
func dialSmallWS(addr string) (*rawWS, error) {
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return upgradeRaw(c, addr, "/socket.io/?EIO=4&transport=websocket")
}
