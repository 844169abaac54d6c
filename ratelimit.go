package main

import (
	"net"
	"net/http"
	"sync"
	"time"

	"notification-server/engineio"
)

// maxLimitedIPs bounds the client addresses the handshake limiter tracks.
const maxLimitedIPs = 100_000

// errHandshakeRate refuses a handshake over the per-IP rate with 429 and the
// Engine.IO JSON error body.
var errHandshakeRate = &engineio.HandshakeError{Status: http.StatusTooManyRequests, Message: "too many handshakes from this address"}

// ipLimiter is a token bucket per client IP for new Engine.IO sessions.
// Its memory is bounded: buckets that have refilled are forgotten, and when
// maxLimitedIPs addresses are tracked, unknown addresses are refused until
// some refill.
type ipLimiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastPrune time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newIPLimiter(rate float64, burst int) *ipLimiter {
	return &ipLimiter{rate: rate, burst: float64(burst), now: time.Now, buckets: make(map[string]*bucket)}
}

// allowRequest is an engineio Options.AllowRequest.
func (l *ipLimiter) allowRequest(r *http.Request) error {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !l.allow(host) {
		return errHandshakeRate
	}
	return nil
}

func (l *ipLimiter) allow(ip string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= maxLimitedIPs && !l.prune(now) {
			return false
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[ip] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// prune forgets full buckets, at most once a second, and reports whether
// there is room for a new one.
func (l *ipLimiter) prune(now time.Time) bool {
	if now.Sub(l.lastPrune) >= time.Second {
		l.lastPrune = now
		for ip, b := range l.buckets {
			if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
				delete(l.buckets, ip)
			}
		}
	}
	return len(l.buckets) < maxLimitedIPs
}
