'use strict';
// Drives real Socket.IO clients against the notification server for the Go
// end-to-end tests (package e2e). Run from e2e/node:
//
//   node product/clients.js '<spec JSON>'
//
// spec: {
//   url,                      server base URL
//   eventsFile,               a line is appended here on every register ack
//                             ("registered <name> <n>") and disconnect, so the
//                             Go test knows when to act
//   timeoutMs, graceMs,       give up after timeoutMs; once every client is
//                             satisfied, wait graceMs for unexpected extras
//   clients: [{
//     name, version ('v4' | 'v2' | 'v1'), transports (optional),
//     userId, connectionId,   sent as given: strings or numbers
//     reconnection,           default true
//     expect,                 messages to wait for (default 0)
//     expectDisconnects,      disconnects to wait for (default 0)
//     dropAfter,              after this many messages, cut the transport as a
//                             network drop would (the client reconnects)
//     disconnectAfterRegister close the socket once register is acked
//     keepAlive,              polling over keep-alive connections, as
//                             browsers poll (Node's default opens a
//                             connection per request, "Connection: close")
//   }]
// }
//
// Prints one JSON object: {timedOut, clients: {name: {messages, acks,
// disconnects, connects, errors, transports}}}.
const fs = require('fs');
const http = require('http');
const { io } = require('socket.io-client');
const ioV2 = require('socket.io-client-v2');
const ioV1 = require('socket.io-client-v1');

const spec = JSON.parse(process.argv[2]);
const results = {};
const clients = [];

function mark(line) {
  if (spec.eventsFile) fs.appendFileSync(spec.eventsFile, line + '\n');
}

function satisfied() {
  return clients.every(({ c, r }) =>
    r.messages.length >= (c.expect || 0) &&
    r.disconnects.length >= (c.expectDisconnects || 0) &&
    (r.acks.length > 0 || c.expectDisconnects > 0 && r.disconnects.length > 0 || r.closed));
}

let graceTimer = null;
function check() {
  if (graceTimer === null && satisfied()) {
    graceTimer = setTimeout(() => finish(false), spec.graceMs || 300);
  }
}

function finish(timedOut) {
  for (const { sock } of clients) {
    try { sock.close(); } catch (e) { /* already closed */ }
  }
  process.stdout.write(JSON.stringify({ timedOut, clients: results }) + '\n', () => process.exit(0));
}

setTimeout(() => finish(true), spec.timeoutMs || 20000);

for (const c of spec.clients) {
  const r = results[c.name] = { messages: [], acks: [], disconnects: [], connects: 0, errors: [], transports: [] };
  const opts = {
    forceNew: true,
    reconnection: c.reconnection !== false,
    reconnectionDelay: 100,
    reconnectionDelayMax: 300,
    timeout: 5000,
  };
  if (c.transports) opts.transports = c.transports;
  if (c.keepAlive) opts.agent = new http.Agent({ keepAlive: true });
  const connect = { v1: ioV1, v2: ioV2, v4: io }[c.version];
  if (!connect) throw new Error(`unknown client version ${c.version}`);
  const sock = connect(spec.url, opts);
  clients.push({ c, r, sock });

  sock.on('connect', () => {
    r.connects++;
    sock.emit('register', c.userId, c.connectionId, (ack) => {
      r.acks.push(ack);
      r.transports.push(sock.io.engine.transport.name);
      mark(`registered ${c.name} ${r.acks.length}`);
      if (c.disconnectAfterRegister) {
        r.closed = true;
        sock.disconnect();
        mark(`closed ${c.name}`);
      }
      check();
    });
  });
  sock.on('message', (msg) => {
    r.messages.push(msg);
    if (c.dropAfter && r.messages.length === c.dropAfter) {
      // What a network drop looks like to the client: the transport dies
      // without a Socket.IO disconnect, so the manager reconnects.
      sock.io.engine.close();
    }
    check();
  });
  sock.on('disconnect', (reason) => {
    r.disconnects.push(reason);
    mark(`disconnected ${c.name} ${reason}`);
    check();
  });
  sock.on('connect_error', (err) => {
    r.errors.push(String((err && err.message) || err));
  });
}
