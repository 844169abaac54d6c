package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// auth lets a request through only if it carries one of the API tokens, in
// X-AUTH-TOKEN (as the original server) or in Authorization: Bearer.
func (a *API) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.validToken(requestToken(r)) {
			a.metrics.authFailures.Add(1)
			writeError(w, http.StatusUnauthorized, "missing or invalid API token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func requestToken(r *http.Request) string {
	// The canonical form of X-AUTH-TOKEN: Get need not rebuild the key.
	if t := r.Header.Get("X-Auth-Token"); t != "" {
		return t
	}
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// validToken compares token with every configured token in constant time:
// both sides are hashed first so neither a token's length nor which token
// matched shows in the timing, and every token is compared without an early
// exit.
func (a *API) validToken(token string) bool {
	if token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	ok := 0
	for i := range a.tokens {
		ok |= subtle.ConstantTimeCompare(sum[:], a.tokens[i][:])
	}
	return ok == 1
}
