package api

import (
	"encoding/json"
	"net/http"
)

// writeError writes the one error shape of the API: {"error":"<msg>"} with
// status code. Every error answer goes through it.
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
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}
