#!/usr/bin/env node
// The "workspace app" for the real-time cases of tests/e2e/apps/apps.test.js: Server-Sent
// Events, Socket.IO (the npm `socket.io` server; the page loads the `socket.io-client` browser
// bundle from here), a plain WebSocket echo (the `ws` package) and a big static asset.
//
//   node realtime-server.js [--host 127.0.0.1] [--port 0] [--big FILE]
//
// Prints one JSON line {"port":N,"host":"...","instance":"<random hex>","pid":N} on stdout once
// listening. `instance` is new on every start, so a client can tell a restarted server apart.
// SIGTERM/SIGINT: close everything (open connections too) and exit 0.
//
// Endpoints:
//   /                     the test page: loads /socket.io-client.js and /page.js
//   /page.js              the page's helpers (window.sseRun, ioStart, ioRoundTrips, wsOpen, ...)
//   /socket.io-client.js  node_modules/socket.io-client/dist/socket.io.min.js
//   /events?n=N&interval=MS   SSE: N events, one every MS ms; each `data:` is JSON {i, t} with
//                         t = Date.now() taken right before the event is written (no buffering
//                         here: every event is its own write on a socket with Nagle off)
//   /big.bin              the --big file, streamed with Content-Length (application/octet-stream)
//   /_stats               JSON counters
//   /socket.io/           Socket.IO (polling, then the upgrade to WebSocket); event "echo"
//                         (value, ack) acks {value, instance}
//   /ws                   WebSocket echo (text and binary)
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const crypto = require('node:crypto');
const path = require('node:path');
const { Server: IoServer } = require('socket.io');
const { WebSocketServer } = require('ws');

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 0, big: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--host') opts.host = next();
    else if (a === '--port') opts.port = Number(next());
    else if (a === '--big') opts.big = next();
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const instance = crypto.randomBytes(6).toString('hex');
// The package's "exports" hide dist/, so the bundle is found from its package.json's directory.
const CLIENT_BUNDLE = path.join(path.dirname(require.resolve('socket.io-client/package.json')), 'dist', 'socket.io.min.js');
const stats = { requests: 0, sse: 0, sseEvents: 0, big: 0, ws: 0, ioConnections: 0, ioEchoes: 0 };

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>cmux e2e: realtime</title></head>
<body>
<h1 id="instance">${instance}</h1>
<script src="/socket.io-client.js"></script>
<script src="/page.js"></script>
</body>
</html>
`;

// Runs in the browser. Every helper resolves with plain data for page.evaluate().
const PAGE_JS = `'use strict';
window.pageReady = true;

// SSE: n events; records each one's send time (from the server) and arrival time (here).
window.sseRun = (n, interval) => new Promise((resolve) => {
  const got = [];
  const es = new EventSource('/events?n=' + n + '&interval=' + interval);
  let opened = null;
  const done = (error) => { es.close(); clearTimeout(timer); resolve({ got, error, opened }); };
  const timer = setTimeout(() => done('timeout after ' + got.length + ' events'), 30000);
  es.onopen = () => { opened = Date.now(); };
  es.onmessage = (e) => {
    const recv = Date.now();
    const d = JSON.parse(e.data);
    got.push({ i: d.i, sent: d.t, recv, id: e.lastEventId });
    if (got.length === n) done(null);
  };
  es.onerror = () => { if (got.length < n) done('EventSource error after ' + got.length + ' events (readyState ' + es.readyState + ')'); };
});

// Socket.IO: one socket per page, with a quick reconnection schedule; every engine (a new one
// per reconnection) reports its first transport and its upgrades.
window.ioStart = () => {
  const st = window.io$ = { engines: [], connects: 0, disconnects: 0, errors: [], instances: [] };
  const socket = window.ioSocket = io({ reconnectionDelay: 100, reconnectionDelayMax: 400, randomizationFactor: 0 });
  socket.io.on('open', () => {
    const eng = socket.io.engine;
    const rec = { first: eng.transport.name, upgrades: [] };
    st.engines.push(rec);
    eng.on('upgrade', (t) => rec.upgrades.push(t.name));
  });
  socket.on('connect', () => { st.connects++; });
  socket.on('disconnect', (reason) => { st.disconnects++; st.lastDisconnect = reason; });
  socket.on('connect_error', (err) => { st.errors.push(String(err && err.message)); });
  return true;
};
window.ioState = () => {
  const s = window.io$;
  return { engines: s.engines, connects: s.connects, disconnects: s.disconnects, errors: s.errors.length,
    lastError: s.errors[s.errors.length - 1] || null, connected: window.ioSocket.connected,
    transport: window.ioSocket.io.engine ? window.ioSocket.io.engine.transport.name : null };
};
// n sequential acknowledged round trips; returns the time and what answered.
window.ioRoundTrips = async (n) => {
  const socket = window.ioSocket;
  const t0 = performance.now();
  const instances = new Set();
  for (let i = 0; i < n; i++) {
    let r;
    try {
      r = await socket.timeout(5000).emitWithAck('echo', i);
    } catch (e) {
      return { ok: false, error: 'round trip ' + i + ': ' + e.message, done: i };
    }
    if (!r || r.value !== i) return { ok: false, error: 'round trip ' + i + ' answered ' + JSON.stringify(r), done: i };
    instances.add(r.instance);
  }
  return { ok: true, done: n, ms: performance.now() - t0, instances: [...instances], transport: socket.io.engine.transport.name };
};

// A plain WebSocket kept in window.wsIdle[key], with every close/error recorded.
window.wsIdle = {};
window.wsOpen = (key) => new Promise((resolve) => {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  const ws = new WebSocket(url);
  const rec = window.wsIdle[key] = { ws, url, events: [] };
  ws.onopen = () => { rec.openedAt = Date.now(); resolve({ url, readyState: ws.readyState }); };
  ws.onerror = () => rec.events.push('error at ' + Date.now());
  ws.onclose = (e) => { rec.events.push('close ' + e.code + ' ' + e.reason + ' at ' + Date.now()); resolve({ url, readyState: ws.readyState, events: rec.events }); };
});
window.wsStatus = (key) => {
  const rec = window.wsIdle[key];
  return { url: rec.url, readyState: rec.ws.readyState, events: rec.events, openedAt: rec.openedAt };
};
window.wsEchoOnce = (key, text) => new Promise((resolve) => {
  const ws = window.wsIdle[key].ws;
  const timer = setTimeout(() => resolve({ error: 'no echo within 10 s' }), 10000);
  ws.addEventListener('message', (e) => { clearTimeout(timer); resolve({ data: e.data }); }, { once: true });
  try { ws.send(text); } catch (e) { clearTimeout(timer); resolve({ error: String(e) }); }
});

// Downloads url whole; time to the last byte, then the SHA-256 of what arrived.
window.bigFetch = async (url) => {
  const t0 = performance.now();
  const r = await fetch(url, { cache: 'no-store' });
  const buf = await r.arrayBuffer();
  const ms = performance.now() - t0;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
  const sha = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  return { status: r.status, bytes: buf.byteLength, ms, sha };
};
`;

function send(res, status, type, body, extra = {}) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(body);
}

function handleEvents(req, res, url) {
  const n = Math.min(Number(url.searchParams.get('n')) || 100, 10000);
  const interval = Math.max(Number(url.searchParams.get('interval')) || 20, 1);
  stats.sse++;
  req.socket.setNoDelay(true);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(': stream start\n\n');
  let i = 0;
  const timer = setInterval(() => {
    if (i >= n) {
      clearInterval(timer);
      res.end();
      return;
    }
    res.write(`id: ${i}\ndata: ${JSON.stringify({ i, t: Date.now() })}\n\n`);
    stats.sseEvents++;
    i++;
  }, interval);
  res.on('close', () => clearInterval(timer));
}

function handleBig(req, res) {
  if (!opts.big) return send(res, 404, 'text/plain', 'no --big file\n');
  const size = fs.statSync(opts.big).size;
  stats.big++;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, 'cache-control': 'no-store' });
  if (req.method === 'HEAD') return res.end();
  fs.createReadStream(opts.big, { highWaterMark: 256 * 1024 }).pipe(res);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname !== '/_stats') stats.requests++;
  switch (url.pathname) {
    case '/': return send(res, 200, 'text/html; charset=utf-8', PAGE);
    case '/page.js': return send(res, 200, 'application/javascript', PAGE_JS);
    case '/socket.io-client.js':
      return send(res, 200, 'application/javascript', fs.readFileSync(CLIENT_BUNDLE));
    case '/events': return handleEvents(req, res, url);
    case '/big.bin': return handleBig(req, res);
    case '/_stats': return send(res, 200, 'application/json', JSON.stringify({ instance, ...stats }));
    default:
      // /socket.io/ is answered by socket.io's own request listener (attached below).
      if (url.pathname.startsWith('/socket.io/')) return undefined;
      return send(res, 404, 'text/plain', 'not found\n');
  }
});

const io = new IoServer(server, { serveClient: false });
io.on('connection', (socket) => {
  stats.ioConnections++;
  socket.on('echo', (value, ack) => {
    stats.ioEchoes++;
    if (typeof ack === 'function') ack({ value, instance });
  });
});

// Plain WebSocket echo on /ws; socket.io keeps /socket.io/ (it only answers its own path and
// leaves other upgrades alone).
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  if (new URL(req.url, 'http://x').pathname !== '/ws') return;
  stats.ws++;
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
});

server.listen(opts.port, opts.host, () => {
  const addr = server.address();
  process.stdout.write(JSON.stringify({ port: addr.port, host: addr.address, instance, pid: process.pid }) + '\n');
});

let closing = false;
function stop() {
  if (closing) return;
  closing = true;
  for (const c of wss.clients) c.terminate();
  io.close(); // closes the http server too
  server.closeAllConnections();
  server.close(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
