// Drives one real npm Engine.IO client against a server that echoes every
// message, and prints what came back as one JSON line.
//
//   node engineio/client.js <v6|v3|v1> <http://host:port> <polling|websocket|upgrade>
//
// v6 is engine.io-client 6, v3 is engine.io-client 3 (socket.io-client 2.x
// generation), v1 is the engine.io-client bundled with socket.io-client 1.x.
// On open the client sends a non-ASCII text message and a binary one; in
// upgrade mode it sends one text message at once (over polling) and the rest
// after the upgrade. It exits 0 once every echo arrived, 1 otherwise.
"use strict";

const [, , variant, url, mode] = process.argv;

const clients = {
  v6: () => require("engine.io-client").Socket,
  v3: () => require("engine.io-client-v3"),
  v1: () => require("socket.io-client-v1/node_modules/engine.io-client"),
};
const transports = {
  polling: ["polling"],
  websocket: ["websocket"],
  upgrade: ["polling", "websocket"],
}[mode];
if (!clients[variant] || !transports) {
  console.error("usage: client.js <v6|v3|v1> <url> <polling|websocket|upgrade>");
  process.exit(2);
}

const Socket = clients[variant]();
const socket = new Socket(url, {
  path: "/engine.io/",
  transports,
  upgrade: mode === "upgrade",
});

const TEXT = "héllo wörld € 😀 \u2028 \"quoted\" \\ end";
const BINARY = Buffer.from([0, 1, 2, 250, 255]);
const want = mode === "upgrade" ? 3 : 2;
const got = [];
const transportsSeen = [];

function describe(data) {
  if (typeof data === "string") return { text: data };
  return { binary: Buffer.from(data).toString("hex") };
}

function sendBoth() {
  socket.send(TEXT);
  socket.send(BINARY);
}

const timer = setTimeout(() => finish(1, "timeout"), 15000);

function finish(code, why) {
  clearTimeout(timer);
  console.log(JSON.stringify({ ok: code === 0, why, transports: transportsSeen, got }));
  try {
    socket.close();
  } catch (e) {}
  setTimeout(() => process.exit(code), 50);
}

socket.on("open", () => {
  transportsSeen.push(socket.transport.name);
  if (mode === "upgrade") {
    socket.send("before upgrade");
  } else {
    sendBoth();
  }
});
socket.on("upgrade", () => {
  transportsSeen.push(socket.transport.name);
  sendBoth();
});
socket.on("message", (data) => {
  got.push(describe(data));
  if (got.length === want) finish(0, "done");
});
socket.on("error", (err) => finish(1, "error: " + (err && err.message)));
socket.on("close", (reason) => {
  if (got.length < want) finish(1, "closed: " + reason);
});
