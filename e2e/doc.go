// Package e2e holds the end-to-end tests of the notification server: they
// build the real binary, start it on a loopback port with PORT and
// AUTH_TOKEN as an operator would, and drive it with the real npm Socket.IO
// clients (socket.io-client 4 over WebSocket and long-polling, and
// socket.io-client 2 and 1 over Engine.IO 3) through the node scripts in
// e2e/node/product, while the test plays the backend over the REST API.
//
// The clients come from e2e/node/node_modules (installed by scripts/test.sh);
// without them the tests are skipped, or fail when CI is set.
package e2e
