module notification-server

go 1.26.8

require (
	github.com/coder/websocket v1.8.15 // indirect
	golang.org/x/sync v0.25.0 // indirect
)
