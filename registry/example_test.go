package registry_test

import (
	"fmt"

	"notification-server/registry"
)

// printSession stands in for a client connection: it prints what it is sent.
type printSession struct{ name string }

func (s *printSession) Emit(packet []byte) error {
	fmt.Printf("%s <- %s\n", s.name, packet)
	return nil
}

func (s *printSession) Close(reason string) { fmt.Printf("%s closed: %s\n", s.name, reason) }

func Example() {
	reg, err := registry.New(nil) // all defaults: 64 shards, ids valid 1h after last use
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	// The backend registers a connection id for a user...
	_ = reg.Register("alice", "3f2c")
	// ...and the client presenting it is bound to her.
	tab := &printSession{"tab"}
	if err := reg.Bind("alice", "3f2c", tab); err != nil {
		panic(err)
	}
	// A wrong pair binds nothing.
	fmt.Println(reg.Bind("bob", "3f2c", &printSession{"intruder"}))

	n := reg.Push("alice", []byte(`2["message","hi"]`))
	fmt.Println("sessions:", n)

	// A newer session with the same id replaces the older one.
	_ = reg.Bind("alice", "3f2c", &printSession{"new tab"})
	reg.Unbind("alice", "3f2c", tab) // the old one's late disconnect changes nothing
	fmt.Println("sessions:", reg.Push("alice", []byte(`2["message","again"]`)))
	// Output:
	// connection id not registered for this user
	// tab <- 2["message","hi"]
	// sessions: 1
	// tab closed: replaced by a newer session with the same connection id
	// new tab <- 2["message","again"]
	// sessions: 1
}
