// Records the Socket.IO packets exchanged between the reference servers and
// the reference clients, for the Go replay tests in socketio/.
//
//   cd e2e/node && node socketio/record.js ../../testdata/socketio
//
// Each session runs the scenario of scenario.js over WebSocket only: socket.io
// 4.8 server with socket.io-client 4 (protocol 5 over Engine.IO 4), and
// socket.io 2.5 with socket.io-client 2 (protocol 4 over Engine.IO 3). Every
// Engine.IO "message" packet is written in order, as seen by the server:
// {"dir":"in"|"out","text":"..."} or {"dir":...,"binary":"<base64>"}. Pings,
// pongs and the Engine.IO handshake are left out.
"use strict";

const fs = require("fs");
const path = require("path");
const http = require("http");
const scenario = require("./scenario.js");

const outDir = process.argv[2];
if (!outDir) {
  console.error("usage: node socketio/record.js <output dir>");
  process.exit(2);
}

// hook wraps an Engine.IO Socket class so the message packets of each
// session are appended to that session's list in sessions.
function hook(Socket, sessions) {
  const framesOf = (sock) => {
    if (!sock.__frames) {
      sock.__frames = [];
      sessions.push({ frames: sock.__frames });
    }
    return sock.__frames;
  };
  const onPacket = Socket.prototype.onPacket;
  Socket.prototype.onPacket = function (packet) {
    if (packet.type === "message") framesOf(this).push(frame("in", packet.data));
    return onPacket.apply(this, arguments);
  };
  const sendPacket = Socket.prototype.sendPacket;
  Socket.prototype.sendPacket = function (type, data) {
    if (type === "message") framesOf(this).push(frame("out", data));
    return sendPacket.apply(this, arguments);
  };
}

function frame(dir, data) {
  // socket.io 2 hands its pre-encoded initial CONNECT over as a one-element array.
  if (Array.isArray(data) && data.length === 1) data = data[0];
  if (typeof data === "string") return { dir, text: data };
  return { dir, binary: Buffer.from(data).toString("base64") };
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
}

async function record(name, meta, makeServer, client, sessions) {
  const httpServer = http.createServer();
  const io = makeServer(httpServer);
  scenario.serve(io);
  const port = await listen(httpServer);
  await scenario.drive(client, `http://127.0.0.1:${port}`);
  io.close();
  httpServer.close();
  const file = path.join(outDir, name + ".json");
  fs.writeFileSync(file, JSON.stringify({ ...meta, sessions }, null, 1) + "\n");
  console.log(`${file}: ${sessions.length} sessions`);
}

async function main() {
  const v5frames = [];
  hook(require("engine.io").Socket, v5frames);
  await record(
    "v5-websocket",
    { protocol: 5, eio: 4, server: "socket.io@4.8.4", client: "socket.io-client@4.8.4" },
    (srv) => new (require("socket.io").Server)(srv, { transports: ["websocket"] }),
    {
      connect: (url, opts) => require("socket.io-client").io(url, { ...opts, transports: ["websocket"] }),
      namespace: (socket, nsp, auth) => socket.io.socket(nsp, { auth }),
    },
    v5frames
  );

  const v4frames = [];
  hook(require("socket.io-v2/node_modules/engine.io/lib/socket.js"), v4frames);
  await record(
    "v4-websocket",
    { protocol: 4, eio: 3, server: "socket.io@2.5.1", client: "socket.io-client@2.5.0" },
    (srv) => require("socket.io-v2")(srv, { transports: ["websocket"] }),
    {
      // Protocol 4 has no auth payload: the query carries it.
      connect: (url, opts) => {
        const o = { ...opts, transports: ["websocket"], query: opts.auth };
        delete o.auth;
        return require("socket.io-client-v2")(url, o);
      },
      namespace: (socket, nsp, auth) => socket.io.socket(nsp, { query: auth }),
    },
    v4frames
  );
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
