package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"notification-server/api"
	"notification-server/registry"
)

func ExampleNew() {
	reg, err := registry.New(nil)
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	// In the server, Options.Sockets is the socketio.Server clients connect
	// to; without it only the REST API is served.
	a, err := api.New(&api.Options{Registry: reg, Tokens: []string{"s3cret"}})
	if err != nil {
		panic(err)
	}

	do := func(method, target, body string) {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("X-AUTH-TOKEN", "s3cret")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, req)
		fmt.Println(strings.TrimSpace(fmt.Sprint(w.Code, " ", w.Body.String())))
	}
	do(http.MethodPut, "/api/42/register?connectionId=3f2c", "")
	do(http.MethodPost, "/api/42/push", `{"message":{"title":"hi"}}`)
	do(http.MethodPost, "/api/42/push", `{"title":"hi"}`)
	// Output:
	// 200
	// 200 {"sessions":0}
	// 400 {"error":"body must have a \"message\" field"}
}
