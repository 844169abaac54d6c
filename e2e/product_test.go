package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

var wantOK = `{"ok":true}`

// checkAcks fails unless r got exactly one ack per connect and every ack is
// {"ok":true} (ok) or {"ok":false,"error":...} (!ok).
func checkAcks(t *testing.T, name string, r clientResult, ok bool) {
	t.Helper()
	if len(r.Acks) == 0 {
		t.Errorf("%s: no register ack", name)
	}
	for _, a := range r.Acks {
		var ack struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(a, &ack); err != nil {
			t.Errorf("%s: ack %s: %v", name, a, err)
			continue
		}
		if ack.OK != ok || (ok && string(a) != wantOK) || (!ok && ack.Error == "") {
			t.Errorf("%s: ack %s, want ok=%v (with an error message when false)", name, a, ok)
		}
	}
}

// checkSequence fails unless msgs are exactly want, in order.
func checkSequence(t *testing.T, name string, msgs []json.RawMessage, want []string) {
	t.Helper()
	if len(msgs) != len(want) {
		t.Errorf("%s: received %d messages, want %d", name, len(msgs), len(want))
	}
	for i := range min(len(msgs), len(want)) {
		if !jsonEqual(msgs[i], want[i]) {
			t.Errorf("%s: message %d is %s, want %s", name, i, msgs[i], want[i])
			return
		}
	}
}

func jsonEqual(a json.RawMessage, b string) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// TestWorkflow runs the original product's whole workflow with several
// clients at once: a user with four sessions (socket.io-client 4 over
// WebSocket, socket.io-client 4 polling only, socket.io-client 2, and the
// original's socket.io-client 1) gets every push, in order, none lost or
// duplicated; another user gets nothing; clients
// presenting a wrong userId/connectionId pair get nothing.
func TestWorkflow(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.register("alice", "alice-ws")
	s.register("alice", "alice-polling")
	s.register("alice", "alice-v2")
	s.register("alice", "alice-v1")
	s.register("bob", "bob-1")

	const pushes = 500
	first := `{"title":"Title of message","body":"Body of message","params":{"n":[1,2.5,null,true],"s":"q\" b\\ nl\n <>&"}}`
	want := []string{first}
	for i := range pushes {
		want = append(want, fmt.Sprintf(`{"seq":%d}`, i))
	}
	alice := []clientSpec{
		{Name: "alice-ws", Version: "v4", Transports: []string{"websocket"}, UserID: "alice", ConnectionID: "alice-ws", Expect: len(want)},
		{Name: "alice-polling", Version: "v4", Transports: []string{"polling"}, UserID: "alice", ConnectionID: "alice-polling", Expect: len(want)},
		{Name: "alice-v2", Version: "v2", UserID: "alice", ConnectionID: "alice-v2", Expect: len(want)},
		{Name: "alice-v1", Version: "v1", UserID: "alice", ConnectionID: "alice-v1", Expect: len(want)},
	}
	others := []clientSpec{
		{Name: "bob", Version: "v4", UserID: "bob", ConnectionID: "bob-1"},
		{Name: "alice-with-bobs-id", Version: "v4", UserID: "alice", ConnectionID: "bob-1"},
		{Name: "bob-with-alices-id", Version: "v2", UserID: "bob", ConnectionID: "alice-ws"},
		{Name: "unknown-id", Version: "v4", Transports: []string{"polling"}, UserID: "alice", ConnectionID: "never-registered"},
	}
	c := startClients(t, s, 60*time.Second, append(alice, others...)...)
	c.waitEvents("registered ", len(alice)+len(others), 20*time.Second)

	for metric, want := range map[string]string{
		"notification_users":                  "2",
		"notification_registered_sessions":    "5",
		"notification_pending_connection_ids": "5",
	} {
		if got := s.metric(metric); got != want {
			t.Errorf("%s = %q, want %q", metric, got, want)
		}
	}

	if got := s.sessionsByTransport(); got != len(alice)+len(others) {
		t.Errorf("notification_sessions add up to %d, want %d", got, len(alice)+len(others))
	}

	var msg any
	if err := json.Unmarshal([]byte(first), &msg); err != nil {
		t.Fatal(err)
	}
	if n := s.push("alice", msg); n != len(alice) {
		t.Fatalf("first push reached %d sessions, want %d", n, len(alice))
	}
	for i := range pushes {
		if n := s.push("alice", map[string]int{"seq": i}); n != len(alice) {
			t.Fatalf("push %d reached %d sessions, want %d", i, n, len(alice))
		}
	}
	if n := s.push("nobody", "x"); n != 0 {
		t.Errorf("push to a user without sessions reached %d, want 0", n)
	}

	res := c.results()
	for _, spec := range alice {
		r := res[spec.Name]
		checkAcks(t, spec.Name, r, true)
		checkSequence(t, spec.Name, r.Messages, want)
	}
	if got := res["alice-polling"].Transports; len(got) == 0 || got[0] != "polling" {
		t.Errorf("alice-polling registered over %q, want polling", got)
	}
	if got := res["alice-ws"].Transports; len(got) == 0 || got[0] != "websocket" {
		t.Errorf("alice-ws registered over %q, want websocket", got)
	}
	checkAcks(t, "bob", res["bob"], true)
	for _, spec := range others {
		if spec.Name != "bob" {
			checkAcks(t, spec.Name, res[spec.Name], false)
		}
		if got := res[spec.Name].Messages; len(got) != 0 {
			t.Errorf("%s received %d messages, want none (first: %s)", spec.Name, len(got), got[0])
		}
	}
	if got := s.metric("notification_pushes_total"); got != fmt.Sprint(pushes+2) {
		t.Errorf("notification_pushes_total = %s, want %d", got, pushes+2)
	}
	if got := s.metric("notification_deliveries_total"); got != fmt.Sprint(len(alice)*(pushes+1)) {
		t.Errorf("notification_deliveries_total = %s, want %d", got, len(alice)*(pushes+1))
	}
}

// TestLargeFanOut gives one user more sessions than the registry fans out
// to inline (512), so pushes are queued in every session and written by the
// user's flusher, and pushes sent back to back share writes. Real clients
// of every kind, WebSocket and polling (some over keep-alive connections, as
// browsers poll, so their polls can be parked), must each get every push,
// in order.
func TestLargeFanOut(t *testing.T) {
	t.Parallel()
	const sessions, pushes = 560, 150
	s := startServer(t, "MAX_SESSIONS_PER_USER=1000", "MAX_PENDING_PER_USER=1000", "LOG_LEVEL=info")
	var want []string
	for i := range pushes {
		want = append(want, fmt.Sprintf(`{"seq":%d}`, i))
	}
	specs := make([]clientSpec, sessions)
	for i := range specs {
		specs[i] = clientSpec{Name: fmt.Sprint("c", i), Version: "v4", Transports: []string{"websocket"},
			UserID: "crowd", ConnectionID: fmt.Sprint("c", i), Expect: pushes}
		switch i % 40 {
		case 1:
			specs[i].Transports = []string{"polling"}
		case 21:
			specs[i].Transports, specs[i].KeepAlive = []string{"polling"}, true
		case 2:
			specs[i].Version, specs[i].Transports = "v2", nil
		case 3:
			specs[i].Version, specs[i].Transports = "v1", nil
		}
		s.register("crowd", specs[i].ConnectionID.(string))
	}
	c := startClients(t, s, 120*time.Second, specs...)
	c.waitEvents("registered ", sessions, 60*time.Second)
	for i := range pushes {
		if n := s.push("crowd", map[string]int{"seq": i}); n != sessions {
			t.Fatalf("push %d reached %d sessions, want %d", i, n, sessions)
		}
	}
	res := c.results()
	for _, spec := range specs {
		checkSequence(t, spec.Name, res[spec.Name].Messages, want)
	}
	if got := s.metric("notification_deliveries_total"); got != fmt.Sprint(sessions*pushes) {
		t.Errorf("notification_deliveries_total = %s, want %d", got, sessions*pushes)
	}
}

// TestSparsePushesOverPolling pushes to polling-only clients of every
// protocol further apart than the 100 ms a poll waits in its handler before
// the server parks it, so their polls park, and then park at once; a burst
// follows, whose polls are answered in their handlers again. Each client
// gets every push, in order.
func TestSparsePushesOverPolling(t *testing.T) {
	t.Parallel()
	const sparse, burst = 6, 50
	s := startServer(t)
	var want []string
	for i := range sparse + burst {
		want = append(want, fmt.Sprintf(`{"seq":%d}`, i))
	}
	var specs []clientSpec
	for _, v := range []string{"v4", "v2", "v1"} {
		id := "sparse-" + v
		s.register("sparse", id)
		specs = append(specs, clientSpec{Name: id, Version: v, Transports: []string{"polling"}, KeepAlive: true,
			UserID: "sparse", ConnectionID: id, Expect: len(want)})
	}
	c := startClients(t, s, 60*time.Second, specs...)
	c.waitEvents("registered ", len(specs), 20*time.Second)
	for i := range sparse + burst {
		if i < sparse {
			time.Sleep(300 * time.Millisecond)
		}
		if n := s.push("sparse", map[string]int{"seq": i}); n != len(specs) {
			t.Fatalf("push %d reached %d sessions, want %d", i, n, len(specs))
		}
	}
	res := c.results()
	for _, spec := range specs {
		r := res[spec.Name]
		checkSequence(t, spec.Name, r.Messages, want)
		for _, tr := range r.Transports {
			if tr != "polling" {
				t.Errorf("%s: transport %q, want polling only", spec.Name, tr)
			}
		}
	}
}

// TestUnicodeMessages pushes text beyond ASCII (2, 3 and 4 byte UTF-8,
// which is a surrogate pair in JavaScript) to every kind of client.
func TestUnicodeMessages(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	specs := []clientSpec{
		{Name: "v4-websocket", Version: "v4", Transports: []string{"websocket"}},
		{Name: "v4-polling", Version: "v4", Transports: []string{"polling"}},
		{Name: "v2-websocket", Version: "v2", Transports: []string{"websocket"}},
		{Name: "v2-polling", Version: "v2", Transports: []string{"polling"}},
		{Name: "v1-websocket", Version: "v1", Transports: []string{"websocket"}},
		// socket.io-client 1.x over polling is left out: it expects Engine.IO 3
		// payloads in the XHR2 binary form (as engine.io 1.x sent them) and
		// drops text payloads holding non-ASCII characters.
	}
	for i := range specs {
		specs[i].UserID, specs[i].ConnectionID, specs[i].Expect = "zoë", specs[i].Name, 2
		s.register("zo%C3%AB", specs[i].Name)
	}
	c := startClients(t, s, 20*time.Second, specs...)
	c.waitEvents("registered ", len(specs), 20*time.Second)
	msgs := []string{`"é € 😀 \u2028"`, `{"ключ":["值","🎉"]}`}
	for _, m := range msgs {
		var v any
		if err := json.Unmarshal([]byte(m), &v); err != nil {
			t.Fatal(err)
		}
		if n := s.push("zo%C3%AB", v); n != len(specs) {
			t.Fatalf("push reached %d sessions, want %d", n, len(specs))
		}
	}
	res := c.results()
	for _, spec := range specs {
		checkAcks(t, spec.Name, res[spec.Name], true)
		checkSequence(t, spec.Name, res[spec.Name].Messages, msgs)
	}
}

// TestNumericIDs checks that ids sent as JSON numbers match their decimal
// form in the REST path, and that other types are refused.
func TestNumericIDs(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.register("42", "7")
	s.register("43", "1001")
	c := startClients(t, s, 20*time.Second,
		clientSpec{Name: "numbers-v4", Version: "v4", UserID: 42, ConnectionID: 7, Expect: 1},
		clientSpec{Name: "mixed-v2", Version: "v2", UserID: "43", ConnectionID: 1001, Expect: 1},
		clientSpec{Name: "object-id", Version: "v4", UserID: map[string]int{"id": 42}, ConnectionID: 7},
		clientSpec{Name: "null-id", Version: "v4", UserID: 42, ConnectionID: nil},
		clientSpec{Name: "fraction", Version: "v4", UserID: 42.5, ConnectionID: 7},
	)
	c.waitEvents("registered ", 5, 20*time.Second)
	if n := s.push("42", "to 42"); n != 1 {
		t.Errorf("push to 42 reached %d sessions, want 1", n)
	}
	if n := s.push("43", "to 43"); n != 1 {
		t.Errorf("push to 43 reached %d sessions, want 1", n)
	}
	res := c.results()
	checkAcks(t, "numbers-v4", res["numbers-v4"], true)
	checkSequence(t, "numbers-v4", res["numbers-v4"].Messages, []string{`"to 42"`})
	checkAcks(t, "mixed-v2", res["mixed-v2"], true)
	checkSequence(t, "mixed-v2", res["mixed-v2"].Messages, []string{`"to 43"`})
	for _, name := range []string{"object-id", "null-id", "fraction"} {
		checkAcks(t, name, res[name], false)
		if len(res[name].Messages) != 0 {
			t.Errorf("%s received %d messages, want none", name, len(res[name].Messages))
		}
	}
}

// TestReconnectAfterDrop cuts a client's transport the way a network drop
// does; the client reconnects, re-emits register with the same connection id
// and keeps receiving.
func TestReconnectAfterDrop(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.register("carol", "carol-1")
	s.register("carol", "carol-2")
	s.register("carol", "carol-3")
	c := startClients(t, s, 30*time.Second,
		clientSpec{Name: "ws", Version: "v4", Transports: []string{"websocket"}, UserID: "carol", ConnectionID: "carol-1", Expect: 2, DropAfter: 1},
		clientSpec{Name: "v2", Version: "v2", UserID: "carol", ConnectionID: "carol-2", Expect: 2, DropAfter: 1},
		clientSpec{Name: "polling-keepalive", Version: "v4", Transports: []string{"polling"}, KeepAlive: true, UserID: "carol", ConnectionID: "carol-3", Expect: 2, DropAfter: 1},
	)
	c.waitEvents("registered ", 3, 20*time.Second)
	if n := s.push("carol", "before"); n != 3 {
		t.Fatalf("push before the drop reached %d sessions, want 3", n)
	}
	c.waitEvents("disconnected ", 3, 20*time.Second)
	c.waitEvents("registered ", 6, 20*time.Second) // all registered again
	if n := s.push("carol", "after"); n != 3 {
		t.Fatalf("push after the reconnect reached %d sessions, want 3", n)
	}
	res := c.results()
	for _, name := range []string{"ws", "v2", "polling-keepalive"} {
		r := res[name]
		if r.Connects != 2 || len(r.Acks) != 2 {
			t.Errorf("%s: %d connects and %d acks, want 2 of each", name, r.Connects, len(r.Acks))
		}
		checkAcks(t, name, r, true)
		checkSequence(t, name, r.Messages, []string{`"before"`, `"after"`})
	}
}

// TestDisconnectThenPush checks that a client's disconnect removes its
// session at once, and that its connection id still binds a new socket.
func TestDisconnectThenPush(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.register("dave", "dave-1")
	c := startClients(t, s, 20*time.Second,
		clientSpec{Name: "leaver", Version: "v4", UserID: "dave", ConnectionID: "dave-1", DisconnectAfterRegister: true})
	c.results()
	deadline := time.Now().Add(5 * time.Second)
	for s.metric("notification_registered_sessions") != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the session was not removed within 5s of the client's disconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := s.do("POST", "/api/dave/push", `{"message":"anyone?"}`); code != 200 || body != `{"sessions":0}` {
		t.Fatalf("push after disconnect: %d %s, want 200 {\"sessions\":0}", code, body)
	}
	// The connection id stays valid for a reconnect.
	c = startClients(t, s, 20*time.Second,
		clientSpec{Name: "back", Version: "v2", UserID: "dave", ConnectionID: "dave-1", Expect: 1})
	c.waitEvents("registered ", 1, 20*time.Second)
	if n := s.push("dave", "welcome back"); n != 1 {
		t.Fatalf("push after the new connect reached %d sessions, want 1", n)
	}
	res := c.results()
	checkAcks(t, "back", res["back"], true)
	checkSequence(t, "back", res["back"].Messages, []string{`"welcome back"`})
}

// TestSameConnectionIDReplaces checks that a second socket presenting a
// connection id already in use takes it over: the first socket is
// disconnected by the server and pushes go to the second only.
func TestSameConnectionIDReplaces(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.register("frank", "shared")
	older := startClients(t, s, 20*time.Second,
		clientSpec{Name: "older", Version: "v4", UserID: "frank", ConnectionID: "shared", ExpectDisconnects: 1})
	older.waitEvents("registered ", 1, 20*time.Second)
	newer := startClients(t, s, 20*time.Second,
		clientSpec{Name: "newer", Version: "v2", UserID: "frank", ConnectionID: "shared", Expect: 1})
	newer.waitEvents("registered ", 1, 20*time.Second)
	older.waitEvents("disconnected ", 1, 10*time.Second)
	if n := s.push("frank", "to the newer"); n != 1 {
		t.Fatalf("push reached %d sessions, want 1", n)
	}
	o, n := older.results()["older"], newer.results()["newer"]
	checkAcks(t, "older", o, true)
	checkAcks(t, "newer", n, true)
	if len(o.Disconnects) == 0 || o.Disconnects[0] != "io server disconnect" || o.Connects != 1 {
		t.Errorf("older: disconnects %q after %d connects, want one \"io server disconnect\" and no reconnect", o.Disconnects, o.Connects)
	}
	if len(o.Messages) != 0 {
		t.Errorf("older received %s, want nothing", o.Messages)
	}
	checkSequence(t, "newer", n.Messages, []string{`"to the newer"`})
}

// TestRESTErrors checks the REST error answers of the real binary.
func TestRESTErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, "MAX_BODY_BYTES=100", "MAX_PENDING=1")
	tests := []struct {
		method, path, body string
		noToken            bool
		wantCode           int
	}{
		{"PUT", "/api/u/register?connectionId=c", "", true, 401},
		{"PUT", "/api/u/register", "", false, 400},
		{"POST", "/api/u/push", `{"nomessage":1}`, false, 400},
		{"POST", "/api/u/push", `{"message":`, false, 400},
		{"POST", "/api/u/push", `{"message":"` + strings.Repeat("x", 200) + `"}`, false, 413},
		{"GET", "/api/u/push", "", false, 405},
		{"GET", "/no/such/route", "", false, 404},
		{"PUT", "/api/u/register?connectionId=c1", "", false, 200},
		{"PUT", "/api/u/register?connectionId=c2", "", false, 429},
	}
	for _, tt := range tests {
		var code int
		var body string
		if tt.noToken {
			resp, err := s.client.Do(mustRequest(t, tt.method, s.url+tt.path))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			code = resp.StatusCode
		} else {
			code, body = s.do(tt.method, tt.path, tt.body)
		}
		if code != tt.wantCode {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, code, body, tt.wantCode)
		}
		if code >= 400 && body != "" && !strings.HasPrefix(body, `{"error":"`) {
			t.Errorf("%s %s: body %q is not a JSON error", tt.method, tt.path, body)
		}
	}
}

// TestGracefulShutdown sends SIGTERM to a server with live clients of every
// kind, polling ones also over keep-alive connections (whose polls wait
// parked): each client gets disconnected by the server, and the process
// exits cleanly well within SHUTDOWN_TIMEOUT.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := startServer(t, "SHUTDOWN_TIMEOUT=5s")
	names := []string{"ws", "polling", "v2", "polling-keepalive", "v2-polling-keepalive"}
	for _, id := range names {
		s.register("erin", id)
	}
	noReconnect := false
	c := startClients(t, s, 20*time.Second,
		clientSpec{Name: "ws", Version: "v4", Transports: []string{"websocket"}, UserID: "erin", ConnectionID: "ws", ExpectDisconnects: 1, Reconnection: &noReconnect},
		clientSpec{Name: "polling", Version: "v4", Transports: []string{"polling"}, UserID: "erin", ConnectionID: "polling", ExpectDisconnects: 1, Reconnection: &noReconnect},
		clientSpec{Name: "v2", Version: "v2", UserID: "erin", ConnectionID: "v2", ExpectDisconnects: 1, Reconnection: &noReconnect},
		clientSpec{Name: "polling-keepalive", Version: "v4", Transports: []string{"polling"}, KeepAlive: true, UserID: "erin", ConnectionID: "polling-keepalive", ExpectDisconnects: 1, Reconnection: &noReconnect},
		clientSpec{Name: "v2-polling-keepalive", Version: "v2", Transports: []string{"polling"}, KeepAlive: true, UserID: "erin", ConnectionID: "v2-polling-keepalive", ExpectDisconnects: 1, Reconnection: &noReconnect},
	)
	c.waitEvents("registered ", len(names), 20*time.Second)
	// Long enough for the keep-alive clients' polls to be parked.
	time.Sleep(300 * time.Millisecond)
	took, err := s.stop(syscall.SIGTERM, 6*time.Second)
	if err != nil {
		t.Errorf("server exited with %v, want status 0", err)
	}
	if took > 5*time.Second {
		t.Errorf("shutdown took %v, beyond SHUTDOWN_TIMEOUT", took)
	}
	c.waitEvents("disconnected ", len(names), 10*time.Second)
	res := c.results()
	for _, name := range names {
		if got := res[name].Disconnects; len(got) != 1 {
			t.Errorf("%s: disconnects %q, want exactly one", name, got)
		}
	}
	if logs := s.logs.String(); !strings.Contains(logs, `"msg":"shut down"`) {
		t.Errorf("server did not log a clean shutdown")
	}
}

// TestLimitSettings checks that the capacity settings reach the Socket.IO
// side: handshakes beyond MAX_SESSIONS get 503, handshakes beyond the per-IP
// HANDSHAKE_RATE get 429, and both are counted.
func TestLimitSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings []string
		wantCode int
		reason   string
	}{
		{"session limit", []string{"MAX_SESSIONS=2"}, 503, "session limit"},
		{"handshake rate", []string{"HANDSHAKE_RATE=0.01", "HANDSHAKE_BURST=2"}, 429, "rate limited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, tt.settings...)
			handshake := func() int {
				resp, err := s.client.Get(s.url + "/socket.io/?EIO=4&transport=polling")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			for i := range 2 {
				if code := handshake(); code != 200 {
					t.Fatalf("handshake %d: %d, want 200", i+1, code)
				}
			}
			if code := handshake(); code != tt.wantCode {
				t.Fatalf("third handshake: %d, want %d", code, tt.wantCode)
			}
			if got := s.metric(`notification_handshakes_rejected_total{reason="` + tt.reason + `"}`); got != "1" {
				t.Errorf("rejected handshakes (%s) = %q, want 1", tt.reason, got)
			}
		})
	}
}
