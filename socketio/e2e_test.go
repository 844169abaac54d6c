package socketio

import (
	"strings"
	"testing"
	"time"

	"notification-server/internal/nodetest"
)

// TestRealClients plays the fixture scenario (connect with auth, events,
// acks both ways, binary events and acks, a second namespace on the same
// session, disconnect) with the real npm clients over each transport mode.
func TestRealClients(t *testing.T) {
	t.Parallel()
	nodetest.Dir(t)
	srv := newTestServer(t, func(o *Options) {
		o.Engine.PingInterval = 500 * time.Millisecond
		o.Engine.PingTimeout = 2 * time.Second
	})
	serveScenario(srv)
	base := startServer(t, srv)
	for _, version := range []string{"v4", "v2", "v1"} {
		for _, mode := range []string{"websocket", "polling", "upgrade"} {
			t.Run(version+"/"+mode, func(t *testing.T) {
				t.Parallel()
				res := nodetest.Run(t, 30*time.Second, nil, "socketio/client.js", version, base, mode)
				if res.Err != nil {
					t.Fatalf("client failed: %v\nstdout: %s\nstderr: %s", res.Err, res.Stdout, res.Stderr)
				}
				want := map[string]string{"websocket": "ok websocket", "polling": "ok polling", "upgrade": "ok websocket"}[mode]
				if got := strings.TrimSpace(res.Stdout); got != want {
					t.Errorf("client printed %q, want %q", got, want)
				}
			})
		}
	}
}
