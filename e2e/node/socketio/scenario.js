// The scenario the fixture recorder and the end-to-end tests run: serve()
// sets up a reference server the way the Go replay test sets up ours, and
// drive() plays the client side with one socket.io-client.
"use strict";

// serve installs the scenario's handlers on a socket.io server (v2 or v4).
function serve(io) {
  io.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth || { token: socket.handshake.query.token });
    socket.on("message", (...args) => socket.emit("message-back", ...args));
    socket.on("message-with-ack", (...args) => {
      const ack = args.pop();
      ack(...args);
    });
    socket.on("ask", () => {
      socket.emit("question", 42, Buffer.from([9, 8, 7]), (...answer) => {
        socket.emit("answer", ...answer);
      });
    });
  });
  io.of("/custom").on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth || { token: socket.handshake.query.token });
  });
}

function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}

function withTimeout(p, ms, what) {
  return Promise.race([
    p,
    new Promise((_, reject) => setTimeout(() => reject(new Error("timeout: " + what)), ms)),
  ]);
}

function check(cond, what) {
  if (!cond) throw new Error("unexpected: " + what);
}

function bytes(b) {
  return Array.from(new Uint8Array(b.buffer ? b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) : b));
}

// drive connects with client.connect(url, opts), joins a second namespace on
// the same session with client.namespace(socket, nsp, auth), and plays every
// step, throwing on anything unexpected.
async function drive(client, url) {
  const socket = client.connect(url, { auth: { token: "abc" }, reconnection: false, forceNew: true });
  const [auth] = await withTimeout(once(socket, "auth"), 5000, "auth");
  check(auth && auth.token === "abc", "auth " + JSON.stringify(auth));

  socket.emit("message", 1, "2", { 3: [true] });
  const back = await withTimeout(once(socket, "message-back"), 5000, "message-back");
  check(JSON.stringify(back) === '[1,"2",{"3":[true]}]', "message-back " + JSON.stringify(back));

  socket.emit("message", Buffer.from([1, 2, 3]), { nested: "x" }, Buffer.from([4, 5, 6]));
  const bin = await withTimeout(once(socket, "message-back"), 5000, "binary message-back");
  check(bytes(bin[0]).join() === "1,2,3" && bytes(bin[2]).join() === "4,5,6", "binary echo");

  const acked = await withTimeout(new Promise((resolve) => socket.emit("message-with-ack", "a", 2, (...a) => resolve(a))), 5000, "ack");
  check(JSON.stringify(acked) === '["a",2]', "ack " + JSON.stringify(acked));

  const binAck = await withTimeout(new Promise((resolve) => socket.emit("message-with-ack", Buffer.from([7]), (...a) => resolve(a))), 5000, "binary ack");
  check(bytes(binAck[0]).join() === "7", "binary ack");

  const answered = once(socket, "answer");
  socket.once("question", (n, buf, ack) => {
    check(n === 42 && bytes(buf).join() === "9,8,7", "question");
    ack("forty-two", Buffer.from([4, 2]));
  });
  socket.emit("ask");
  const answer = await withTimeout(answered, 5000, "answer");
  check(answer[0] === "forty-two" && bytes(answer[1]).join() === "4,2", "answer");

  const custom = client.namespace(socket, "/custom", { token: "custom" });
  const [customAuth] = await withTimeout(once(custom, "auth"), 5000, "custom auth");
  check(customAuth && customAuth.token === "custom", "custom auth " + JSON.stringify(customAuth));
  custom.disconnect();

  const nope = client.namespace(socket, "/nope", { token: "nope" });
  const [refusal] = await withTimeout(Promise.race([once(nope, "connect_error"), once(nope, "error")]), 5000, "invalid namespace");
  const reason = refusal && refusal.message !== undefined ? refusal.message : refusal;
  check(reason === "Invalid namespace", "refusal " + JSON.stringify(reason));
  nope.close();

  socket.emit("message", "after custom");
  await withTimeout(once(socket, "message-back"), 5000, "message-back after custom");
  await new Promise((r) => setTimeout(r, 50));
  if (client.beforeDisconnect) await client.beforeDisconnect(socket);
  socket.disconnect();
  await new Promise((r) => setTimeout(r, 100));
}

module.exports = { serve, drive };
