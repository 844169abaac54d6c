package api

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"
)

// writeError writes the one error shape of the API: {"error":"<msg>"} with
// status code, and returns code. Every error answer goes through it.
func writeError(w http.ResponseWriter, code int, msg string) {
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	writeJSON(w, code, body)
}

// Header values shared by every JSON answer: net/http only reads them, so
// one slice each saves allocations on the push path.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	noSniff         = []string{"nosniff"}
	noStore         = []string{"no-store"}
)

// writeJSON writes an encoded JSON body with status code.
func writeJSON(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	h["Cache-Control"] = noStore
	h["Date"] = httpDate(time.Now())
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// date is the Date header value of one second.
type date struct {
	unix  int64
	value []string
}

// currentDate is the last second httpDate formatted.
var currentDate atomic.Pointer[date]

// httpDate returns the Date header value for now, as net/http would write
// it. net/http formats the time for every answer without a Date; the
// value changes once a second, so it is formatted once a second here.
func httpDate(now time.Time) []string {
	sec := now.Unix()
	if d := currentDate.Load(); d != nil && d.unix == sec {
		return d.value
	}
	d := &date{unix: sec, value: []string{now.UTC().Format(http.TimeFormat)}}
	currentDate.Store(d)
	return d.value
}
