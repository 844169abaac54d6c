package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"notification-server/registry"
)

const (
	token      = "secret-token"
	otherToken = "rotated-token"
)

// fakeSession records the packets pushed to it.
type fakeSession struct {
	mu  sync.Mutex
	got []string
}

func (s *fakeSession) Emit(p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, string(p))
	return nil
}

func (s *fakeSession) Close(string) {}

func (s *fakeSession) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

type testAPI struct {
	*API
	reg *registry.Registry
}

func newTestAPI(t testing.TB, o Options, ro registry.Options) testAPI {
	t.Helper()
	reg, err := registry.New(&ro)
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	t.Cleanup(reg.Close)
	o.Registry = reg
	if o.Tokens == nil {
		o.Tokens = []string{token, otherToken}
	}
	if o.Version == "" {
		o.Version = "1.2.3"
	}
	a, err := New(&o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return testAPI{a, reg}
}

type request struct {
	method, path string
	header       map[string]string
	body         string
}

func (a testAPI) do(t testing.TB, r request) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, req)
	return w
}

var (
	authed     = map[string]string{"X-AUTH-TOKEN": token}
	jsonAuthed = map[string]string{"X-AUTH-TOKEN": token, "Content-Type": "application/json"}
	formAuthed = map[string]string{"X-AUTH-TOKEN": token, "Content-Type": "application/x-www-form-urlencoded"}
)

func TestNewNeedsRegistryAndToken(t *testing.T) {
	t.Parallel()
	reg, err := registry.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	tests := []struct {
		name string
		opts *Options
	}{
		{"nil options", nil},
		{"no registry", &Options{Tokens: []string{"x"}}},
		{"no token", &Options{Registry: reg}},
		{"blank tokens", &Options{Registry: reg, Tokens: []string{"", "  "}}},
	}
	for _, tt := range tests {
		if _, err := New(tt.opts); err == nil {
			t.Errorf("%s: New succeeded, want an error", tt.name)
		}
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, Options{MaxBodyBytes: 64}, registry.Options{})
	tests := []struct {
		name      string
		req       request
		wantCode  int
		wantBody  string // exact, after trimming the trailing newline
		wantAllow string
	}{
		{"ping", request{"GET", "/api/status/ping", nil, ""}, 200, "pong", ""},
		{"info", request{"GET", "/api/status/info", nil, ""}, 200, `{"name":"notification-server","version":"1.2.3"}`, ""},
		{"register", request{"PUT", "/api/u1/register?connectionId=c1", authed, ""}, 200, "", ""},
		{"register with bearer", request{"PUT", "/api/u1/register?connectionId=c1", map[string]string{"Authorization": "Bearer " + token}, ""}, 200, "", ""},
		{"register with rotated token", request{"PUT", "/api/u1/register?connectionId=c1", map[string]string{"X-AUTH-TOKEN": otherToken}, ""}, 200, "", ""},
		{"register without token", request{"PUT", "/api/u1/register?connectionId=c1", nil, ""}, 401, `{"error":"missing or invalid API token"}`, ""},
		{"register with wrong token", request{"PUT", "/api/u1/register?connectionId=c1", map[string]string{"X-AUTH-TOKEN": token + "x"}, ""}, 401, `{"error":"missing or invalid API token"}`, ""},
		{"register with wrong bearer", request{"PUT", "/api/u1/register?connectionId=c1", map[string]string{"Authorization": "Bearer nope"}, ""}, 401, `{"error":"missing or invalid API token"}`, ""},
		{"register with basic auth", request{"PUT", "/api/u1/register?connectionId=c1", map[string]string{"Authorization": "Basic " + token}, ""}, 401, `{"error":"missing or invalid API token"}`, ""},
		{"register without connectionId", request{"PUT", "/api/u1/register", authed, ""}, 400, `{"error":"connectionId query parameter is required"}`, ""},
		{"register with empty connectionId", request{"PUT", "/api/u1/register?connectionId=", authed, ""}, 400, `{"error":"connectionId query parameter is required"}`, ""},
		{"register with a ';' in connectionId", request{"PUT", "/api/u1/register?connectionId=a;b", authed, ""}, 200, "", ""},
		{"register with a bad escape in connectionId", request{"PUT", "/api/u1/register?connectionId=%zz", authed, ""}, 200, "", ""},
		{"register with a non-UTF-8 connectionId", request{"PUT", "/api/u1/register?connectionId=%FF", authed, ""}, 400, `{"error":"userId or connectionId is not valid UTF-8"}`, ""},
		{"register with a non-UTF-8 userId", request{"PUT", "/api/%FF/register?connectionId=c", authed, ""}, 400, `{"error":"userId or connectionId is not valid UTF-8"}`, ""},
		{"register with huge connectionId", request{"PUT", "/api/u1/register?connectionId=" + strings.Repeat("x", MaxIDLength+1), authed, ""}, 400, `{"error":"userId or connectionId longer than 1024 bytes"}`, ""},
		{"push", request{"POST", "/api/u1/push", jsonAuthed, `{"message":{"a":1}}`}, 200, `{"sessions":0}`, ""},
		{"push without content type", request{"POST", "/api/u1/push", authed, `{"message":"hi"}`}, 200, `{"sessions":0}`, ""},
		{"push form", request{"POST", "/api/u1/push", formAuthed, `message=hello+world`}, 200, `{"sessions":0}`, ""},
		{"push JSON sent as form", request{"POST", "/api/u1/push", formAuthed, ` {"message":1}`}, 200, `{"sessions":0}`, ""},
		{"push without token", request{"POST", "/api/u1/push", nil, `{"message":1}`}, 401, `{"error":"missing or invalid API token"}`, ""},
		{"push without message", request{"POST", "/api/u1/push", jsonAuthed, `{"msg":1}`}, 400, `{"error":"body must have a \"message\" field"}`, ""},
		{"push with null message", request{"POST", "/api/u1/push", jsonAuthed, `{"message":null}`}, 400, `{"error":"body must have a \"message\" field"}`, ""},
		{"push with Message", request{"POST", "/api/u1/push", jsonAuthed, `{"Message":1}`}, 400, `{"error":"body must have a \"message\" field"}`, ""},
		{"push with an escaped name", request{"POST", "/api/u1/push", jsonAuthed, `{"m\u0065ssage":1}`}, 200, `{"sessions":0}`, ""},
		{"push with empty body", request{"POST", "/api/u1/push", jsonAuthed, ``}, 400, `{"error":"body is not valid JSON"}`, ""},
		{"push malformed JSON", request{"POST", "/api/u1/push", jsonAuthed, `{"message":`}, 400, `{"error":"body is not valid JSON"}`, ""},
		{"push trailing garbage", request{"POST", "/api/u1/push", jsonAuthed, `{"message":1} x`}, 400, `{"error":"body is not valid JSON"}`, ""},
		{"push array body", request{"POST", "/api/u1/push", jsonAuthed, `[1,2]`}, 400, `{"error":"body must be a JSON object like {\"message\": ...}"}`, ""},
		{"push invalid UTF-8", request{"POST", "/api/u1/push", jsonAuthed, "{\"message\":\"\xff\"}"}, 400, `{"error":"message is not valid UTF-8"}`, ""},
		{"push form without message", request{"POST", "/api/u1/push", formAuthed, `title=x`}, 400, `{"error":"body must have a \"message\" field"}`, ""},
		{"push bad form", request{"POST", "/api/u1/push", formAuthed, `message=%zz`}, 400, `{"error":"body is not valid form encoding"}`, ""},
		{"push body over limit", request{"POST", "/api/u1/push", jsonAuthed, `{"message":"` + strings.Repeat("x", 64) + `"}`}, 413, `{"error":"request body larger than 64 bytes"}`, ""},
		{"unknown route", request{"GET", "/nope", nil, ""}, 404, `{"error":"not found"}`, ""},
		{"unknown api route", request{"GET", "/api/u1/other", authed, ""}, 404, `{"error":"not found"}`, ""},
		{"push with GET", request{"GET", "/api/u1/push", authed, ""}, 405, `{"error":"method not allowed"}`, "POST"},
		{"register with POST", request{"POST", "/api/u1/register?connectionId=c", authed, ""}, 405, `{"error":"method not allowed"}`, "PUT"},
		{"ping with DELETE", request{"DELETE", "/api/status/ping", nil, ""}, 405, `{"error":"method not allowed"}`, "GET, HEAD"},
		{"metrics without token", request{"GET", "/metrics", nil, ""}, 401, `{"error":"missing or invalid API token"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := a.do(t, tt.req)
			if w.Code != tt.wantCode {
				t.Errorf("status = %d, want %d (body %q)", w.Code, tt.wantCode, w.Body.String())
			}
			if got := strings.TrimSuffix(w.Body.String(), "\n"); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if tt.wantCode >= 400 {
				if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("error Content-Type = %q, want JSON", ct)
				}
				var e struct{ Error string }
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Errorf("error body %q is not {\"error\":...}: %v", w.Body.String(), err)
				}
			}
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestPendingLimit(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, Options{}, registry.Options{MaxPending: 1})
	if w := a.do(t, request{"PUT", "/api/u1/register?connectionId=c1", authed, ""}); w.Code != 200 {
		t.Fatalf("first register: %d %s", w.Code, w.Body)
	}
	w := a.do(t, request{"PUT", "/api/u2/register?connectionId=c2", authed, ""})
	if w.Code != http.StatusTooManyRequests || strings.TrimSpace(w.Body.String()) != `{"error":"too many pending connection ids"}` {
		t.Fatalf("register beyond the limit: %d %s, want 429 and a JSON error", w.Code, w.Body)
	}
}

func TestDraining(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, Options{}, registry.Options{})
	a.Drain()
	for _, r := range []request{
		{"PUT", "/api/u1/register?connectionId=c1", authed, ""},
		{"POST", "/api/u1/push", jsonAuthed, `{"message":1}`},
	} {
		w := a.do(t, r)
		if w.Code != http.StatusServiceUnavailable || strings.TrimSpace(w.Body.String()) != `{"error":"server is shutting down"}` {
			t.Errorf("%s %s while draining: %d %s, want 503", r.method, r.path, w.Code, w.Body)
		}
	}
	if w := a.do(t, request{"GET", "/api/status/ping", nil, ""}); w.Code != 200 {
		t.Errorf("ping while draining: %d, want 200", w.Code)
	}
}

// TestDrainDuringPush checks the two pushes that straddle Drain: one whose
// body is still arriving when Drain is called gets 503, not 200 with no
// sessions left; one already queuing holds Drain until its message is
// queued, and is answered 200.
func TestDrainDuringPush(t *testing.T) {
	t.Parallel()
	t.Run("body arriving", func(t *testing.T) {
		t.Parallel()
		a := newTestAPI(t, Options{}, registry.Options{})
		pr, pw := io.Pipe()
		req := httptest.NewRequest("POST", "/api/u1/push", pr)
		for k, v := range jsonAuthed {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.ServeHTTP(w, req)
		}()
		// The write returns once the handler reads the body, past its
		// first look at draining.
		io.WriteString(pw, `{"message":`)
		a.Drain()
		io.WriteString(pw, `1}`)
		pw.Close()
		<-done
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("push whose body ended after Drain: %d %s, want 503", w.Code, w.Body)
		}
	})
	t.Run("queuing", func(t *testing.T) {
		t.Parallel()
		a := newTestAPI(t, Options{}, registry.Options{})
		s := &blockingSession{entered: make(chan struct{}), release: make(chan struct{})}
		if w := a.do(t, request{"PUT", "/api/u1/register?connectionId=c1", authed, ""}); w.Code != 200 {
			t.Fatalf("register: %d", w.Code)
		}
		if err := a.reg.Bind("u1", "c1", s); err != nil {
			t.Fatal(err)
		}
		pushed := make(chan *httptest.ResponseRecorder)
		go func() { pushed <- a.do(t, request{"POST", "/api/u1/push", jsonAuthed, `{"message":1}`}) }()
		<-s.entered
		drained := make(chan struct{})
		go func() {
			a.Drain()
			close(drained)
		}()
		select {
		case <-drained:
			t.Fatal("Drain returned while a push was still queuing")
		case <-time.After(50 * time.Millisecond):
		}
		close(s.release)
		<-drained
		if w := <-pushed; w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"sessions":1}` {
			t.Errorf("push queuing during Drain: %d %s, want 200 with 1 session", w.Code, w.Body)
		}
	})
}

// blockingSession is a session whose Emit waits for release.
type blockingSession struct {
	entered, release chan struct{}
}

func (s *blockingSession) Emit([]byte) error {
	close(s.entered)
	<-s.release
	return nil
}

func (s *blockingSession) Close(string) {}

func TestPushReachesSessions(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, Options{}, registry.Options{})
	s1, s2, other := &fakeSession{}, &fakeSession{}, &fakeSession{}
	for _, b := range []struct {
		user, conn string
		s          *fakeSession
	}{{"u1", "c1", s1}, {"u1", "c2", s2}, {"u2", "c3", other}} {
		if w := a.do(t, request{"PUT", "/api/" + b.user + "/register?connectionId=" + b.conn, authed, ""}); w.Code != 200 {
			t.Fatalf("register: %d", w.Code)
		}
		if err := a.reg.Bind(b.user, b.conn, b.s); err != nil {
			t.Fatal(err)
		}
	}
	bodies := []struct {
		header map[string]string
		body   string
		want   string
	}{
		{jsonAuthed, `{"message": {"title": "T", "n": [1, 2.5, null]}}`, `2["message",{"title": "T", "n": [1, 2.5, null]}]`},
		{jsonAuthed, `{"message":"plain"}`, `2["message","plain"]`},
		{formAuthed, `message=hello+%22world%22`, `2["message","hello \"world\""]`},
		{jsonAuthed, `{"message":false}`, `2["message",false]`},
	}
	var want []string
	for _, b := range bodies {
		w := a.do(t, request{"POST", "/api/u1/push", b.header, b.body})
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"sessions":2}` {
			t.Fatalf("push %s: %d %s, want 200 {\"sessions\":2}", b.body, w.Code, w.Body)
		}
		want = append(want, b.want)
	}
	for i, s := range []*fakeSession{s1, s2} {
		if got := s.received(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("session %d received %q, want %q", i+1, got, want)
		}
	}
	if got := other.received(); len(got) != 0 {
		t.Errorf("another user's session received %q", got)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, Options{}, registry.Options{})
	a.do(t, request{"PUT", "/api/u1/register?connectionId=c1", authed, ""})
	if err := a.reg.Bind("u1", "c1", &fakeSession{}); err != nil {
		t.Fatal(err)
	}
	a.do(t, request{"POST", "/api/u1/push", jsonAuthed, `{"message":1}`})
	a.do(t, request{"POST", "/api/u1/push", jsonAuthed, `{"message":2}`})
	a.do(t, request{"POST", "/api/u1/push", nil, `{"message":3}`})
	a.do(t, request{"POST", "/api/u1/push", jsonAuthed, `{"message":`})
	// An escaped user id, which the mux unescapes: counted like the others.
	a.do(t, request{"POST", "/api/u%31/push", jsonAuthed, `{"message":4}`})
	a.do(t, request{"GET", "/nope", nil, ""})
	w := a.do(t, request{"GET", "/metrics", map[string]string{"Authorization": "Bearer " + token}, ""})
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("metrics: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	body := w.Body.String()
	for _, line := range []string{
		"notification_users 1",
		"notification_registered_sessions 1",
		"notification_pending_connection_ids 1",
		"notification_pushes_total 3",
		"notification_deliveries_total 3",
		"notification_auth_failures_total 1",
		`notification_push_duration_seconds_bucket{le="+Inf"} 3`,
		"notification_push_duration_seconds_count 3",
		`notification_http_requests_total{route="POST /api/{userId}/push",code="200"} 3`,
		`notification_http_requests_total{route="POST /api/{userId}/push",code="400"} 1`,
		`notification_http_requests_total{route="POST /api/{userId}/push",code="401"} 1`,
		`notification_http_requests_total{route="PUT /api/{userId}/register",code="200"} 1`,
		`notification_http_requests_total{route="unmatched",code="404"} 1`,
		"# TYPE notification_push_duration_seconds histogram",
		"# TYPE go_goroutines gauge",
		"# TYPE go_heap_objects_bytes gauge",
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("metrics lack %q; got:\n%s", line, body)
		}
	}
	// Every non-comment line is "name[{labels}] value".
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if strings.HasPrefix(line, "# ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || !(strings.HasPrefix(line, "notification_") || strings.HasPrefix(line, "go_") || strings.HasPrefix(line, "process_")) {
			t.Errorf("malformed sample line %q", line)
			continue
		}
		if _, err := strconv.ParseFloat(line[i+1:], 64); err != nil {
			t.Errorf("sample line %q: value: %v", line, err)
		}
	}
}

func TestPprof(t *testing.T) {
	t.Parallel()
	on := newTestAPI(t, Options{Pprof: true}, registry.Options{})
	off := newTestAPI(t, Options{}, registry.Options{})
	tests := []struct {
		a        testAPI
		header   map[string]string
		wantCode int
	}{
		{on, authed, 200},
		{on, nil, 401},
		{off, authed, 404},
	}
	for i, tt := range tests {
		if w := tt.a.do(t, request{"GET", "/debug/pprof/goroutine?debug=1", tt.header, ""}); w.Code != tt.wantCode {
			t.Errorf("case %d: GET /debug/pprof/goroutine: %d, want %d", i, w.Code, tt.wantCode)
		}
	}
}

func TestMetricsPublic(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, Options{MetricsPublic: true}, registry.Options{})
	if w := a.do(t, request{"GET", "/metrics", nil, ""}); w.Code != 200 {
		t.Fatalf("public metrics without token: %d", w.Code)
	}
}

func TestIDArg(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    string
		wantErr error
	}{
		{`"alice"`, "alice", nil},
		{`"a\"b"`, `a"b`, nil},
		{`42`, "42", nil},
		{`-7`, "-7", nil},
		{`0`, "0", nil},
		{`-0`, "0", nil},
		{`42.0`, "42", nil},
		{`4.2e1`, "42", nil},
		{`12345678901234567890123`, "12345678901234567890123", nil},
		{`9007199254740991.0`, "9007199254740991", nil},
		{`1e300`, "", errIDType},
		{`1.5`, "", errIDType},
		{`""`, "", errIDEmpty},
		{`"` + strings.Repeat("x", MaxIDLength+1) + `"`, "", errIDLength},
		{`null`, "", errIDType},
		{`true`, "", errIDType},
		{`{"id":1}`, "", errIDType},
		{`["a"]`, "", errIDType},
		{``, "", errIDType},
		{`"unterminated`, "", errIDType},
	}
	for _, tt := range tests {
		got, err := idArg(json.RawMessage(tt.raw))
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("idArg(%s) = %q, %v; want %q, %v", tt.raw, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestBindSocket(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, Options{}, registry.Options{})
	for _, p := range [][2]string{{"u1", "c1"}, {"u2", "c2"}, {"42", "7"}} {
		if err := a.reg.Register(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	s := &socketSession{id: "sock"}
	raw := func(v ...string) []json.RawMessage {
		out := make([]json.RawMessage, len(v))
		for i := range v {
			out[i] = json.RawMessage(v[i])
		}
		return out
	}
	steps := []struct {
		args    []json.RawMessage
		wantErr bool
		want    map[string]int // live sessions per user afterwards
	}{
		{raw(`"u1"`), true, map[string]int{"u1": 0}},
		{raw(`"u1"`, `"c2"`), true, map[string]int{"u1": 0, "u2": 0}},
		{raw(`"u1"`, `{}`), true, map[string]int{"u1": 0}},
		{raw(`"u1"`, `"c1"`), false, map[string]int{"u1": 1}},
		{raw(`"u1"`, `"c1"`), false, map[string]int{"u1": 1}},                     // again: a no-op
		{raw(`"u2"`, `"nope"`), true, map[string]int{"u1": 1, "u2": 0}},           // failure keeps the binding
		{raw(`"u2"`, `"c2"`, `"extra"`), false, map[string]int{"u1": 0, "u2": 1}}, // moves
		{raw(`42`, `7`), false, map[string]int{"u2": 0, "42": 1}},                 // numbers
	}
	for i, st := range steps {
		err := a.bindSocket(s, st.args)
		if (err != nil) != st.wantErr {
			t.Fatalf("step %d: bindSocket(%s) = %v, want error %v", i, st.args, err, st.wantErr)
		}
		for user, n := range st.want {
			if got := a.reg.Sessions(user); got != n {
				t.Fatalf("step %d: %s has %d sessions, want %d", i, user, got, n)
			}
		}
	}
	if got := a.reg.Stats().Sessions; got != 1 {
		t.Fatalf("%d live sessions, want 1", got)
	}
}

func BenchmarkPushHandler(b *testing.B) {
	a := newTestAPI(b, Options{}, registry.Options{})
	if err := a.reg.Register("u1", "c1"); err != nil {
		b.Fatal(err)
	}
	if err := a.reg.Bind("u1", "c1", nopSession{}); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"message":{"title":"Title of message","body":"Body of message","params":{}}}`)
	// One request, its body rewound each time, so the benchmark measures the
	// server's handling rather than the building of test requests.
	rb := &rewindBody{}
	req := httptest.NewRequest("POST", "/api/u1/push", rb)
	req.Header.Set("X-AUTH-TOKEN", token)
	req.ContentLength = int64(len(body))
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		rb.Reset(body)
		req.Body = rb
		clear(w.h)
		w.code = 0
		a.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
}

// rewindBody is a request body that can be reset to new contents.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

type nopSession struct{}

func (nopSession) Emit([]byte) error { return nil }
func (nopSession) Close(string)      {}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return io.Discard.Write(p)
}
func (w *discardWriter) WriteHeader(code int) { w.code = code }

// SetReadDeadline accepts the push handler's body deadline, as net/http's
// writer does.
func (w *discardWriter) SetReadDeadline(time.Time) error { return nil }

// TestQueryValue checks that connectionId is read as the original's query
// parser read it, where net/url would drop the pair.
func TestQueryValue(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ raw, want string }{
		{"connectionId=abc", "abc"},
		{"x=1&connectionId=a%20b+c", "a b c"},
		{"connectionId=a;b", "a;b"},
		{"connectionId=%zz+1", "%zz 1"},
		{"connectionId=first&connectionId=second", "first"},
		{"connection%49d=enc", "enc"},
		{"connectionId", ""},
		{"connectionid=x", ""},
		{"", ""},
	} {
		if got := queryValue(tt.raw, "connectionId"); got != tt.want {
			t.Errorf("queryValue(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
