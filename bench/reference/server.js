'use strict';
// The notification-server contract on the official npm Socket.IO v4 server
// (socket.io 4.8.4 on node:http), with an in-memory registry. It exists so
// every benchmark run can measure our Go server and the idiomatic Node.js
// implementation side by side, on the same machine, with the same client.
//
//   PUT  /api/{userId}/register?connectionId={id}  -> 200, records a pending id
//   POST /api/{userId}/push  {"message": <json>}   -> 200 {"sessions": n}
//   GET  /api/status/ping                          -> "pong"
//   GET  /api/status/info                          -> {"name", "version"}
//   socket event `register` (userId, connectionId) binds the socket to the
//   user when that id was registered for that user; every push is then
//   emitted to it as event `message`.
//
// Environment: PORT (default 3000), AUTH_TOKEN (required), HOST (default
// 127.0.0.1). Pending ids expire after PENDING_TTL_MS (default one hour).

const http = require('node:http');
const crypto = require('node:crypto');
const { Server } = require('socket.io');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
const token = process.env.AUTH_TOKEN || '';
const pendingTTL = Number(process.env.PENDING_TTL_MS || 3600 * 1000);
const maxBody = 1 << 20;

if (token === '') {
  console.error('AUTH_TOKEN must be set');
  process.exit(2);
}
const tokenBuf = Buffer.from(token);

// pending maps userId -> Map(connectionId -> expiry in ms since epoch).
const pending = new Map();

function addPending(userId, connectionId) {
  let ids = pending.get(userId);
  if (ids === undefined) {
    ids = new Map();
    pending.set(userId, ids);
  }
  ids.set(connectionId, Date.now() + pendingTTL);
}

function isPending(userId, connectionId) {
  const ids = pending.get(userId);
  if (ids === undefined) return false;
  const expiry = ids.get(connectionId);
  if (expiry === undefined) return false;
  if (expiry < Date.now()) {
    ids.delete(connectionId);
    if (ids.size === 0) pending.delete(userId);
    return false;
  }
  return true;
}

function authorized(req) {
  const got = req.headers['x-auth-token'];
  if (typeof got !== 'string') return false;
  const gotBuf = Buffer.from(got);
  return gotBuf.length === tokenBuf.length && crypto.timingSafeEqual(gotBuf, tokenBuf);
}

function send(res, status, body, type) {
  res.writeHead(status, {
    'Content-Type': type || 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function fail(res, status, what) {
  send(res, status, JSON.stringify({ error: what }));
}

function readBody(req, res, done) {
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > maxBody) {
      fail(res, 413, 'body too large');
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size <= maxBody) done(Buffer.concat(chunks).toString('utf8'));
  });
}

function push(req, res, userId) {
  readBody(req, res, (text) => {
    let body;
    try {
      body = JSON.parse(text);
    } catch (e) {
      fail(res, 400, 'body is not JSON');
      return;
    }
    if (body === null || typeof body !== 'object' || !('message' in body)) {
      fail(res, 400, 'body has no message');
      return;
    }
    const room = io.of('/').adapter.rooms.get(userId);
    const sessions = room === undefined ? 0 : room.size;
    if (sessions > 0) io.to(userId).emit('message', body.message);
    send(res, 200, JSON.stringify({ sessions }));
  });
}

const userRoute = /^\/api\/([^/]+)\/(register|push)$/;

function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/api/status/ping' && req.method === 'GET') {
    send(res, 200, 'pong', 'text/plain; charset=utf-8');
    return;
  }
  if (url.pathname === '/api/status/info' && req.method === 'GET') {
    send(res, 200, JSON.stringify({ name: 'notification-server-reference', version: '1.0.0' }));
    return;
  }
  const m = userRoute.exec(url.pathname);
  if (m === null) {
    fail(res, 404, 'not found');
    return;
  }
  const userId = decodeURIComponent(m[1]);
  const action = m[2];
  if ((action === 'register' && req.method !== 'PUT') || (action === 'push' && req.method !== 'POST')) {
    fail(res, 405, 'method not allowed');
    return;
  }
  if (!authorized(req)) {
    fail(res, 401, 'unauthorized');
    return;
  }
  if (action === 'register') {
    const connectionId = url.searchParams.get('connectionId');
    if (!connectionId) {
      fail(res, 400, 'connectionId is missing');
      return;
    }
    addPending(userId, connectionId);
    res.writeHead(200, { 'Content-Length': 0 });
    res.end();
    return;
  }
  push(req, res, userId);
}

const server = http.createServer(handle);
const io = new Server(server, { serveClient: false });

io.on('connection', (socket) => {
  socket.on('register', (userId, connectionId) => {
    if (typeof userId !== 'string' || typeof connectionId !== 'string') return;
    if (!isPending(userId, connectionId)) return;
    socket.join(userId);
  });
});

server.listen(port, host, () => {
  console.log(`reference server listening on ${host}:${server.address().port} (pid ${process.pid})`);
});

function shutdown() {
  io.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
