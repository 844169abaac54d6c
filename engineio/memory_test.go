package engineio

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestIdleMemory measures what an idle WebSocket session costs: a server
// in a child process, N sessions opened from this one, the child's RSS
// before and after. Opt-in (it needs many file descriptors and reports a
// number rather than checking one):
//
//	ENGINEIO_MEMPROBE=5000 go test ./engineio -run TestIdleMemory -v
func TestIdleMemory(t *testing.T) {
	if os.Getenv("ENGINEIO_MEMPROBE_SERVER") != "" {
		serveMemProbe()
		return
	}
	n, _ := strconv.Atoi(os.Getenv("ENGINEIO_MEMPROBE"))
	if n <= 0 {
		t.Skip("ENGINEIO_MEMPROBE not set")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleMemory$")
	cmd.Env = append(os.Environ(), "ENGINEIO_MEMPROBE_SERVER=1")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr = strings.TrimSpace(addr)
	time.Sleep(200 * time.Millisecond)
	before := rssKB(t, cmd.Process.Pid)
	conns := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{}).DialContext}}
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := websocket.Dial(ctx, "ws://"+addr+"/engine.io/?EIO=4&transport=websocket", &websocket.DialOptions{HTTPClient: client})
		if err == nil {
			_, _, err = c.Read(ctx)
		}
		cancel()
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	time.Sleep(2 * time.Second)
	after := rssKB(t, cmd.Process.Pid)
	if res, err := http.Get("http://" + addr + "/memstats"); err == nil {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Logf("server: %s", b)
	}
	t.Logf("%d idle WebSocket sessions: server RSS %d KB -> %d KB, %.1f KB per session", n, before, after, float64(after-before)/float64(n))
}

func serveMemProbe() {
	srv := NewServer(&Options{PingInterval: time.Hour, PingTimeout: time.Hour, OnConnection: func(c *Conn) {
		c.OnMessage(func(data []byte, binary bool) { c.Send(data, binary) })
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	mux.HandleFunc("/memstats", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, "heap in use %d KB, stacks %d KB, goroutines %d, sys %d KB", m.HeapInuse>>10, m.StackInuse>>10, runtime.NumGoroutine(), m.Sys>>10)
		if f, err := os.Create(os.Getenv("ENGINEIO_MEMPROBE_HEAP")); err == nil && os.Getenv("ENGINEIO_MEMPROBE_HEAP") != "" {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	})
	http.Serve(ln, mux)
}

func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
