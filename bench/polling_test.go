//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pollPeer is a scripted Engine.IO long-polling server with one session,
// sid "S". Each poll answers with the next body queued on answers (or a
// noop after 5 s); every POST body is passed to posts.
type pollPeer struct {
	t       testing.TB
	answers chan string
	posts   chan string
	closed  atomic.Bool // the session is gone: polls get 400
}

func pollingServer(t testing.TB) (*target, *pollPeer) {
	t.Helper()
	p := &pollPeer{t: t, answers: make(chan string, 16), posts: make(chan string, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /api/{user}/register", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{}`))
	})
	session := func(w http.ResponseWriter, r *http.Request) bool {
		q := r.URL.Query()
		if q.Get("EIO") != "4" || q.Get("transport") != "polling" || q.Get("sid") != "S" || p.closed.Load() {
			http.Error(w, `{"code":1,"message":"Session ID unknown"}`, http.StatusBadRequest)
			return false
		}
		return true
	}
	mux.HandleFunc("GET /socket.io/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "EIO=4&transport=polling" {
			w.Write([]byte(`0{"sid":"S","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
			return
		}
		if !session(w, r) {
			return
		}
		select {
		case body := <-p.answers:
			w.Write([]byte(body))
		case <-time.After(5 * time.Second):
			w.Write([]byte("6"))
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("POST /socket.io/", func(w http.ResponseWriter, r *http.Request) {
		if !session(w, r) {
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != pollContentType {
			t.Errorf("POST Content-Type %q, want %q", ct, pollContentType)
		}
		body, _ := io.ReadAll(r.Body)
		p.posts <- string(body)
		w.Write([]byte("ok"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tgt, err := newTarget(srv.URL, "tok", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	tgt.polling = true
	return tgt, p
}

// expect waits for the next POST and checks its body.
func (p *pollPeer) expect(want string) {
	p.t.Helper()
	select {
	case got := <-p.posts:
		if got != want {
			p.t.Errorf("client POSTed %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		p.t.Errorf("client POSTed nothing, want %q", want)
	}
}

// handshake plays the server's side of connect for u0/c0.
func (p *pollPeer) handshake() {
	p.expect("40")
	p.answers <- `40{"sid":"n"}`
	p.expect(`42["register","u0","c0"]`)
}

// TestPollingSessionReadsWhatServersSend drives a polling session through
// answers with several packets, a ping among messages, and the server's
// close packet.
func TestPollingSessionReadsWhatServersSend(t *testing.T) {
	t.Parallel()
	tgt, p := pollingServer(t)
	f := emptyFleet(tgt, 1, 1, 2)
	script := make(chan struct{})
	go func() {
		defer close(script)
		p.expect("40")
		// A message may come in the same answer as the CONNECT reply.
		p.answers <- `40{"sid":"n"}` + "\x1e" + string(message(1, 10))
		p.expect(`42["register","u0","c0"]`)
		p.answers <- string(message(2, 10)) + "\x1e2\x1e" + string(message(3, 0))
		p.expect("3")
		p.answers <- "6"
		p.answers <- string(message(4, 300)) + "\x1e1"
	}()
	s := connectOne(t, tgt, f)
	if s.poll == nil || s.fd != -1 {
		t.Fatalf("connect over polling made a WebSocket session")
	}
	waitDone(t, s)
	<-script
	checkEndedByServer(t, f, s, 4)
}

// TestPollingSessionHangUp checks both ways a polling client leaves:
// DISCONNECT and an Engine.IO close in one POST, or both connections
// just closing.
func TestPollingSessionHangUp(t *testing.T) {
	t.Parallel()
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprint("clean=", clean), func(t *testing.T) {
			t.Parallel()
			tgt, p := pollingServer(t)
			f := emptyFleet(tgt, 1, 1, 2)
			f.closing.Store(true)
			go p.handshake()
			s := connectOne(t, tgt, f)
			if clean {
				go func() {
					p.expect("41\x1e1")
					p.closed.Store(true)
					p.answers <- "6" // the poll under way ends; the next one finds no session
				}()
			}
			start := time.Now()
			s.hangUp(clean)
			waitDone(t, s)
			if time.Since(start) > time.Second {
				t.Errorf("hang-up took %v", time.Since(start))
			}
			if !f.teardown() {
				t.Fatal("teardown timed out")
			}
			if f.readErrs.Load() != 0 {
				t.Errorf("a hang-up was counted as the server ending the session")
			}
			// No connection is left to the server: a dial after shutdown is refused.
			if _, err := s.poll.get.dial(t.Context()); !errors.Is(err, errSessionEnded) {
				t.Errorf("dial after hang-up: %v, want %v", err, errSessionEnded)
			}
		})
	}
}

// TestPollingConnectRefused: a server that refuses CONNECT fails connect
// with what it said, and the session's connections are closed.
func TestPollingConnectRefused(t *testing.T) {
	t.Parallel()
	tgt, p := pollingServer(t)
	go func() {
		p.expect("40")
		p.answers <- `44{"message":"not allowed"}`
	}()
	_, _, err := tgt.connect(t.Context(), 0, "c0", 0)
	if err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("connect: %v, want the CONNECT_ERROR", err)
	}
}
