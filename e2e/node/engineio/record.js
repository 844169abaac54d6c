// Records Engine.IO exchanges with the reference npm servers, engine.io 6
// (protocol 4) and engine.io 3 (protocol 3), as fixtures that the Go tests
// of package engineio replay against our server.
//
//   cd e2e/node && node engineio/record.js ../../testdata/engineio
//
// Each server echoes every message, with pingInterval 25000, pingTimeout
// 20000 and maxHttpBufferSize 1e6. Every step is a raw HTTP request or a
// WebSocket frame; responses are kept byte for byte, with the session id
// replaced by {sid}. Run it by hand when the fixtures must change; CI only
// replays them.
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");
const WebSocket = require("ws");

const outDir = process.argv[2];
if (!outDir) {
  console.error("usage: record.js <output dir>");
  process.exit(2);
}

const OPTIONS = { pingInterval: 25000, pingTimeout: 20000, maxHttpBufferSize: 1e6 };

function startServer(engine) {
  return new Promise((resolve) => {
    const httpServer = http.createServer();
    const server = engine.attach(httpServer, { ...OPTIONS, path: "/engine.io/" });
    server.on("connection", (socket) => {
      socket.on("message", (data) => socket.send(data));
    });
    httpServer.listen(0, "127.0.0.1", () => resolve({ httpServer, server, port: httpServer.address().port }));
  });
}

function isText(buf) {
  return !buf.includes(0) && !buf.includes(0xff) && Buffer.from(buf.toString("utf8"), "utf8").equals(buf);
}

// body fields: text when the bytes are printable UTF-8, hex otherwise.
function bodyFields(prefix, buf) {
  if (buf.length === 0) return { [prefix]: "" };
  return isText(buf) ? { [prefix]: buf.toString("utf8") } : { [prefix + "Hex"]: buf.toString("hex") };
}

function request(port, method, query, contentType, body) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (contentType) headers["Content-Type"] = contentType;
    if (body !== undefined) headers["Content-Length"] = body.length;
    const req = http.request({ host: "127.0.0.1", port, method, path: "/engine.io/?" + query, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, contentType: res.headers["content-type"] || "", body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// A session of steps against one server; sid is learnt from the open packet.
class Recorder {
  constructor(port) {
    this.port = port;
    this.sid = "";
    this.steps = [];
    this.ws = null;
    this.inbox = [];
    this.waiting = null;
  }

  learnSid(text) {
    // Also the JSONP form, where the quotes are escaped.
    const m = /\\?"sid\\?":\\?"([^"\\]+)/.exec(text);
    if (m) this.sid = m[1];
  }

  hideSid(buf) {
    if (!this.sid) return buf;
    return Buffer.from(buf.toString("latin1").split(this.sid).join("{sid}"), "latin1");
  }

  async http(method, query, contentType, body) {
    const raw = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
    const res = await request(this.port, method, query.replace("{sid}", this.sid), contentType, raw);
    this.learnSid(res.body.toString("latin1"));
    const step = { do: method.toLowerCase(), query };
    if (contentType) step.contentType = contentType;
    if (raw !== undefined) Object.assign(step, bodyFields("body", raw));
    step.status = res.status;
    step.resContentType = res.contentType;
    Object.assign(step, bodyFields("resBody", this.hideSid(res.body)));
    this.steps.push(step);
  }

  wsOpen(query) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${this.port}/engine.io/?${query.replace("{sid}", this.sid)}`);
      ws.on("message", (data, isBinary) => {
        const msg = { binary: isBinary, data: Buffer.from(data) };
        if (this.waiting) {
          const w = this.waiting;
          this.waiting = null;
          w(msg);
        } else {
          this.inbox.push(msg);
        }
      });
      ws.on("open", () => {
        this.ws = ws;
        this.steps.push({ do: "ws-open", query });
        resolve();
      });
      ws.on("error", reject);
    });
  }

  wsSend(data, binary) {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, "utf8");
    this.ws.send(buf, { binary });
    this.steps.push({ do: "ws-send", ...(binary ? { binaryHex: buf.toString("hex") } : { text: buf.toString("utf8") }) });
  }

  async wsRecv() {
    const msg = this.inbox.length ? this.inbox.shift() : await new Promise((resolve) => (this.waiting = resolve));
    if (!msg.binary) this.learnSid(msg.data.toString("utf8"));
    const data = this.hideSid(msg.data);
    this.steps.push({ do: "ws-recv", ...(msg.binary ? { binaryHex: data.toString("hex") } : { text: data.toString("utf8") }) });
  }

  close() {
    if (this.ws) this.ws.terminate();
  }
}

const TEXT = "héllo wörld € 😀";

// exchanges returns the named step sequences for protocol eio.
function exchanges(eio) {
  const poll = `EIO=${eio}&transport=polling`;
  const sess = `${poll}&sid={sid}`;
  const list = [];
  const add = (name, fn) => list.push({ name, fn });

  add("handshake polling", async (r) => r.http("GET", poll));
  add("handshake websocket", async (r) => {
    await r.wsOpen(`EIO=${eio}&transport=websocket`);
    await r.wsRecv();
  });
  add("unknown transport", async (r) => r.http("GET", `EIO=${eio}&transport=abc`));
  add("missing transport", async (r) => r.http("GET", `EIO=${eio}`));
  add("unknown sid", async (r) => r.http("GET", `${poll}&sid=AAAAAAAAAAAAAAAAAAAA`));
  add("handshake with POST", async (r) => r.http("POST", poll, "text/plain;charset=UTF-8", "1:6"));
  if (eio === 4) {
    add("bad EIO", async (r) => r.http("GET", "EIO=abc&transport=polling"));
    add("echo text and binary", async (r) => {
      await r.http("GET", poll);
      await r.http("POST", sess, "text/plain;charset=UTF-8", `4${TEXT}\x1ebAQIDBA==\x1e4second`);
      await r.http("GET", sess);
    });
  } else {
    add("echo text, base64 mode", async (r) => {
      await r.http("GET", poll + "&b64=1");
      // é is one UTF-16 unit, € one, 😀 two: "4héllo wörld € 😀" counts 17.
      await r.http("POST", sess, "text/plain;charset=UTF-8", `17:4${TEXT}10:b4AQIDBA==`);
      await r.http("GET", sess);
    });
    add("echo ASCII text and binary, XHR2 binary payloads", async (r) => {
      await r.http("GET", poll);
      const payload = Buffer.concat([Buffer.from([0, 6, 255]), Buffer.from("4hello"), Buffer.from([1, 4, 255, 4, 1, 2, 3])]);
      await r.http("POST", sess, "application/octet-stream", payload);
      await r.http("GET", sess);
    });
    add("JSONP", async (r) => {
      await r.http("GET", poll + "&j=1");
      await r.http("POST", sess + "&j=1", "application/x-www-form-urlencoded", "d=" + encodeURIComponent(`18:4${TEXT}`) + "%5Cn");
      await r.http("GET", sess + "&j=1");
    });
    add("ping pong over polling", async (r) => {
      await r.http("GET", poll + "&b64=1");
      await r.http("POST", sess, "text/plain;charset=UTF-8", "1:2");
      await r.http("GET", sess);
    });
  }
  add("upgrade", async (r) => {
    await r.http("GET", poll + (eio === 3 ? "&b64=1" : ""));
    await r.wsOpen(`EIO=${eio}&transport=websocket&sid={sid}`);
    r.wsSend("2probe", false);
    await r.wsRecv();
    await r.http("GET", sess);
    r.wsSend("5", false);
    r.wsSend(`4${TEXT}`, false);
    await r.wsRecv();
    r.wsSend(eio === 3 ? Buffer.from([4, 1, 2, 3]) : Buffer.from([1, 2, 3]), true);
    await r.wsRecv();
    await r.http("GET", sess);
  });
  return list;
}

async function record(engine, eio, file) {
  const { httpServer, server, port } = await startServer(engine);
  const out = [];
  for (const { name, fn } of exchanges(eio)) {
    const r = new Recorder(port);
    await fn(r);
    r.close();
    out.push({ name, steps: r.steps });
  }
  server.close();
  httpServer.close();
  fs.writeFileSync(file, JSON.stringify(out, null, 1) + "\n");
  console.log("wrote", file);
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  await record(require("engine.io"), 4, path.join(outDir, "eio4.json"));
  await record(require("engine.io-v3"), 3, path.join(outDir, "eio3.json"));
  process.exit(0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
