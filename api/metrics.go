package api

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pushBuckets are the upper bounds, in seconds, of the push latency
// histogram: from 10µs (an in-memory fan-out to a few sessions) to 100ms.
var pushBuckets = []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1}

// metrics are the API's own counters; the session and handshake counters
// come from the registry and the Engine.IO server when scraped.
type metrics struct {
	pushes       atomic.Uint64
	deliveries   atomic.Uint64
	authFailures atomic.Uint64

	pushBuckets []atomic.Uint64 // cumulative counts are computed when scraped
	pushSumNs   atomic.Uint64

	mu            sync.RWMutex
	requests      map[requestKey]*atomic.Uint64
	registrations map[string]*atomic.Uint64

	// pushOK is the requests counter of pushes answered 200, once one was:
	// the one counter of the hot path, found without the map and its lock.
	pushOK atomic.Pointer[atomic.Uint64]
}

type requestKey struct {
	route string
	code  int
}

func newMetrics() *metrics {
	return &metrics{
		pushBuckets:   make([]atomic.Uint64, len(pushBuckets)+1), // the last is +Inf
		requests:      make(map[requestKey]*atomic.Uint64),
		registrations: make(map[string]*atomic.Uint64),
	}
}

// pushed records one push that reached n sessions and took d.
func (m *metrics) pushed(n int, d time.Duration) {
	m.pushes.Add(1)
	m.deliveries.Add(uint64(n))
	m.pushSumNs.Add(uint64(d))
	s := d.Seconds()
	i, _ := slices.BinarySearch(pushBuckets, s)
	m.pushBuckets[i].Add(1)
}

// request counts one REST request by route pattern and status.
func (m *metrics) request(route string, code int) {
	counter(&m.mu, m.requests, requestKey{route, code}).Add(1)
}

// pushAnswered counts one push request answered with status code.
func (m *metrics) pushAnswered(code int) {
	if code != http.StatusOK {
		m.request(pushPattern, code)
		return
	}
	c := m.pushOK.Load()
	if c == nil {
		c = counter(&m.mu, m.requests, requestKey{pushPattern, code})
		m.pushOK.Store(c)
	}
	c.Add(1)
}

// registration counts one socket register event by result.
func (m *metrics) registration(result string) {
	counter(&m.mu, m.registrations, result).Add(1)
}

// counter returns the counter of key in the map guarded by mu, creating it
// if needed. Keys come from a small fixed set (routes, statuses, results).
func counter[K comparable](mu *sync.RWMutex, m map[K]*atomic.Uint64, key K) *atomic.Uint64 {
	mu.RLock()
	c := m[key]
	mu.RUnlock()
	if c != nil {
		return c
	}
	mu.Lock()
	defer mu.Unlock()
	if c = m[key]; c == nil {
		c = new(atomic.Uint64)
		m[key] = c
	}
	return c
}

// serveMetrics writes every metric in the Prometheus text exposition format
// (version 0.0.4).
func (a *API) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	var b bytes.Buffer
	m := a.metrics
	rs := a.reg.Stats()

	family(&b, "notification_users", "gauge", "Users with at least one live session.")
	sample(&b, "notification_users", "", float64(rs.Users))
	family(&b, "notification_registered_sessions", "gauge", "Live sessions bound to a user.")
	sample(&b, "notification_registered_sessions", "", float64(rs.Sessions))
	family(&b, "notification_pending_connection_ids", "gauge", "Registered connection ids, bound or not.")
	sample(&b, "notification_pending_connection_ids", "", float64(rs.Pending))

	family(&b, "notification_connection_ids_evicted_total", "counter", "Connection ids evicted because their user registered MAX_PENDING_PER_USER newer ones.")
	sample(&b, "notification_connection_ids_evicted_total", "", float64(rs.Evicted))
	family(&b, "notification_connection_ids_expired_total", "counter", "Connection ids removed CONNECTION_TTL after their last use.")
	sample(&b, "notification_connection_ids_expired_total", "", float64(rs.Expired))

	family(&b, "notification_pushes_total", "counter", "Pushes accepted by the REST API.")
	sample(&b, "notification_pushes_total", "", float64(m.pushes.Load()))
	family(&b, "notification_deliveries_total", "counter", "Messages queued to sessions by pushes.")
	sample(&b, "notification_deliveries_total", "", float64(m.deliveries.Load()))
	family(&b, "notification_auth_failures_total", "counter", "REST requests refused for a missing or wrong token.")
	sample(&b, "notification_auth_failures_total", "", float64(m.authFailures.Load()))

	family(&b, "notification_push_duration_seconds", "histogram", "Time to handle a push, from request to enqueued everywhere.")
	var cum uint64
	for i, le := range pushBuckets {
		cum += m.pushBuckets[i].Load()
		sample(&b, "notification_push_duration_seconds_bucket", `le="`+strconv.FormatFloat(le, 'g', -1, 64)+`"`, float64(cum))
	}
	cum += m.pushBuckets[len(pushBuckets)].Load()
	sample(&b, "notification_push_duration_seconds_bucket", `le="+Inf"`, float64(cum))
	sample(&b, "notification_push_duration_seconds_sum", "", float64(m.pushSumNs.Load())/1e9)
	sample(&b, "notification_push_duration_seconds_count", "", float64(cum))

	m.mu.RLock()
	requests := maps.Clone(m.requests)
	registrations := maps.Clone(m.registrations)
	m.mu.RUnlock()
	family(&b, "notification_http_requests_total", "counter", "REST requests by route and status (Socket.IO transport requests excluded).")
	for _, k := range slices.SortedFunc(maps.Keys(requests), func(x, y requestKey) int {
		if x.route != y.route {
			return strings.Compare(x.route, y.route)
		}
		return x.code - y.code
	}) {
		sample(&b, "notification_http_requests_total", fmt.Sprintf("route=%q,code=\"%d\"", k.route, k.code), float64(requests[k].Load()))
	}
	family(&b, "notification_socket_registrations_total", "counter", "Socket register events by result.")
	for _, k := range slices.Sorted(maps.Keys(registrations)) {
		sample(&b, "notification_socket_registrations_total", fmt.Sprintf("result=%q", k), float64(registrations[k].Load()))
	}

	if eng := a.engine(); eng != nil {
		es := eng.Stats()
		family(&b, "notification_sessions", "gauge", "Live Engine.IO sessions by transport and Engine.IO protocol version.")
		for _, tr := range slices.Sorted(maps.Keys(es.Sessions)) {
			for _, p := range slices.Sorted(maps.Keys(es.Sessions[tr])) {
				sample(&b, "notification_sessions", fmt.Sprintf("transport=%q,protocol=\"%d\"", tr, p), float64(es.Sessions[tr][p]))
			}
		}
		family(&b, "notification_handshakes_total", "counter", "Engine.IO sessions opened.")
		sample(&b, "notification_handshakes_total", "", float64(es.Handshakes))
		family(&b, "notification_upgrades_total", "counter", "Sessions upgraded from polling to WebSocket.")
		sample(&b, "notification_upgrades_total", "", float64(es.Upgrades))
		family(&b, "notification_handshakes_rejected_total", "counter", "Refused handshakes by reason.")
		for _, k := range slices.Sorted(maps.Keys(es.Rejected)) {
			sample(&b, "notification_handshakes_rejected_total", fmt.Sprintf("reason=%q", k), float64(es.Rejected[k]))
		}
		family(&b, "notification_session_closes_total", "counter", `Ended sessions by reason ("queue overflow" and "ping timeout" among them).`)
		for _, k := range slices.Sorted(maps.Keys(es.Closes)) {
			sample(&b, "notification_session_closes_total", fmt.Sprintf("reason=%q", k), float64(es.Closes[k]))
		}
	}

	writeRuntimeMetrics(&b)

	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

func family(b *bytes.Buffer, name, typ, help string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func sample(b *bytes.Buffer, name, labels string, v float64) {
	b.WriteString(name)
	if labels != "" {
		b.WriteByte('{')
		b.WriteString(labels)
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	b.WriteByte('\n')
}
