package api

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// pushTargets are request targets for pushUserID: the usual ones, and the
// ones the mux escapes, unescapes, cleans or redirects.
var pushTargets = []string{
	"/api/u1/push", "/api/user-1_x.y~z/push", "/api/a$&+,:;=@b/push", "/api/status/push",
	"/api/u1/push?x=1", "/api/%75/push", "/api/a%2Fb/push", "/api/a%25b/push", "/api/a%20b/push",
	"/api/a b/push", "/api/caf%C3%A9/push", "/api/./push", "/api/../push", "/api/.../push",
	"/api/a/../b/push", "/api//push", "/api/push", "/api/u1/push/", "/api/u1/pushx", "/API/u1/push",
	"//api/u1/push", "/api/u1//push", "/x/api/u1/push", "/api/a!b/push", "/api/a*b/push",
	"http://host/api/u1/push", "*", "/api/%zz/push",
}

func TestPushUserID(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"POST", "GET", "post", "PUT"} {
		for _, target := range pushTargets {
			checkPushUserID(t, method, target)
		}
	}
	// The usual ids must take the short path, not only agree with the mux.
	for _, id := range []string{"u1", "user-1_x.y~z", "42", "a@b.c"} {
		r := httptest.NewRequest("POST", "/api/"+id+"/push", nil)
		if got, ok := pushUserID(r); !ok || got != id {
			t.Errorf("pushUserID(/api/%s/push) = %q, %v; want %q, true", id, got, ok, id)
		}
	}
}

// FuzzPushUserID checks pushUserID against the mux on any request target.
func FuzzPushUserID(f *testing.F) {
	for _, target := range pushTargets {
		f.Add("POST", target)
	}
	f.Fuzz(checkPushUserID)
}

// checkPushUserID fails t if pushUserID takes a request the mux would not
// route to pushPattern as it stands, or gives another user id.
func checkPushUserID(t *testing.T, method, target string) {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")))
	if err != nil {
		return
	}
	id, ok := pushUserID(r)
	if !ok {
		return
	}
	var muxID string
	var routed bool
	mux := testRoutes(func(w http.ResponseWriter, r *http.Request) {
		routed = true
		muxID = r.PathValue("userId")
	})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if !routed || muxID != id {
		t.Fatalf("%s %q: pushUserID gives %q, the mux %q (routed %v, status %d)", method, target, id, muxID, routed, w.Code)
	}
}

// testRoutes is a mux with the API's patterns, push handled by push.
func testRoutes(push http.HandlerFunc) *http.ServeMux {
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	mux := http.NewServeMux()
	mux.Handle(pushPattern, push)
	for _, p := range []string{
		"PUT /api/{userId}/register", "GET /api/status/ping", "GET /api/status/info", "GET /metrics",
		"GET /debug/pprof/", "GET /debug/pprof/cmdline", "GET /debug/pprof/profile",
		"GET /debug/pprof/symbol", "GET /debug/pprof/trace", socketPattern,
	} {
		mux.Handle(p, nop)
	}
	return mux
}
