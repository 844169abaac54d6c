// Plays the fixture scenario (scenario.js) with a real socket.io client
// against a server, for the Go end-to-end tests.
//
//   node socketio/client.js <v4|v2|v1> <url> <websocket|polling|upgrade>
//
// Prints "ok <final transport>" and exits 0 when every step succeeded.
"use strict";

const scenario = require("./scenario.js");

const [version, url, mode] = process.argv.slice(2);
const transports = { websocket: ["websocket"], polling: ["polling"], upgrade: ["polling", "websocket"] }[mode];
if (!transports) {
  console.error("usage: node socketio/client.js <v4|v2|v1> <url> <websocket|polling|upgrade>");
  process.exit(2);
}

const clients = {
  v4: {
    connect: (u, opts) => require("socket.io-client").io(u, { ...opts, transports }),
    namespace: (socket, nsp, auth) => socket.io.socket(nsp, { auth }),
  },
  v2: legacy(require("socket.io-client-v2")),
  v1: legacy(require("socket.io-client-v1")),
};

// legacy adapts socket.io-client 1 and 2, which carry no auth payload: the
// query stands in for it.
function legacy(io) {
  return {
    connect: (u, opts) => {
      const o = { ...opts, transports, query: opts.auth };
      delete o.auth;
      return io(u, o);
    },
    // socket.io-client 1 sends a namespace query only as a string.
    namespace: (socket, nsp, auth) => socket.io.socket(nsp, { query: new URLSearchParams(auth).toString() }),
  };
}

const client = clients[version];
if (!client) {
  console.error("unknown client version " + version);
  process.exit(2);
}

// transport is the Engine.IO transport in use before the final disconnect;
// with "upgrade" the scenario waits there until the upgrade has completed.
let transport = "";
const wrapped = {
  connect: client.connect,
  namespace: client.namespace,
  beforeDisconnect: async (socket) => {
    const engine = socket.io.engine;
    for (let i = 0; mode === "upgrade" && engine.transport.name !== "websocket" && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    transport = engine.transport.name;
  },
};

async function main() {
  const timer = setTimeout(() => {
    console.error("timeout");
    process.exit(1);
  }, 20000);
  await scenario.drive(wrapped, url);
  clearTimeout(timer);
  console.log("ok " + transport);
  process.exit(0);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
