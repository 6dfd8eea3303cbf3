#!/usr/bin/env node
// Reference for bench/run: a Node.js reverse proxy doing cmux-proxy's core job (SPEC §2), written
// the way the code being replaced is written — node:http / node:http2 on the main thread, one
// keep-alive agent upstream, no worker threads, no native add-ons. It is what "N× the Node.js
// proxy" in bench/README.md is measured against, so it is deliberately idiomatic, not tuned.
//
//   node node-reverse-proxy.js [--host 127.0.0.1] [--upstream-host 127.0.0.1]
//                              [--tls-cert FILE --tls-key FILE]
//
// Without TLS it listens on two ports (Node has no single cleartext port for HTTP/1.1 and h2c):
// an HTTP/1.1 port (node:http) and an h2c prior-knowledge port (node:http2). With TLS it listens
// on one port: node:http2 createSecureServer with allowHTTP1 (ALPN h2, http/1.1). Prints one JSON
// line {"h1":port,"h2c":port} or {"tls":port} once listening.
//
// Routing as in cmux-proxy: X-Cmux-Port-Internal picks the port (400 without it),
// X-Cmux-Workspace-Internal the workspace IP (127.18.x.y), X-Cmux-Host-Override the Host.
// Hop-by-hop and internal headers are dropped both ways. Upgrades (WebSocket) and HTTP/1.1
// CONNECT become raw tunnels.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const net = require('node:net');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const HOST = opt('--host', '127.0.0.1');
const UPSTREAM_HOST = opt('--upstream-host', '127.0.0.1');
const TLS_CERT = opt('--tls-cert');
const TLS_KEY = opt('--tls-key');

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection', 'http2-settings']);
const INTERNAL = new Set(['x-cmux-port-internal', 'x-cmux-workspace-internal', 'x-cmux-host-override']);

function workspaceIp(name) {
  const last = name.split('/').pop();
  const digits = /(\d+)$/.exec(last);
  let n;
  if (digits) {
    n = Number(digits[1]);
    if (!Number.isSafeInteger(n) || n > 0xffffffff) return null;
  } else {
    let h = 0x811c9dc5;
    for (const b of Buffer.from(last.toLowerCase())) h = Math.imul(h ^ b, 0x01000193) >>> 0;
    n = h & 0xffff;
  }
  return `127.18.${(n >> 8) & 255}.${n & 255}`;
}

// -> { host, port, authority } or { status, message }
function route(headers, authority) {
  const portValue = headers['x-cmux-port-internal'];
  if (portValue === undefined) return { status: 400, message: 'missing required header: X-Cmux-Port-Internal' };
  const p = String(portValue).trim();
  if (p === '') return { status: 400, message: 'header value cannot be empty' };
  const port = /^\d+$/.test(p) ? Number(p) : 0;
  if (port < 1 || port > 65535) return { status: 400, message: 'invalid port in X-Cmux-Port-Internal' };
  let host = UPSTREAM_HOST;
  const ws = headers['x-cmux-workspace-internal'];
  if (ws !== undefined) {
    host = workspaceIp(String(ws).trim());
    if (!host) return { status: 400, message: `invalid workspace name: ${ws}` };
  }
  const override = headers['x-cmux-host-override'];
  return { host, port, authority: override ? String(override).trim() : authority };
}

function forwardHeaders(raw) {
  const drop = new Set(HOP_BY_HOP);
  if (raw.connection) for (const n of String(raw.connection).split(',')) drop.add(n.trim().toLowerCase());
  const out = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k[0] === ':' || drop.has(k) || INTERNAL.has(k) || k === 'host') continue;
    out[k] = v;
  }
  return out;
}

function sendError(res, status, message) {
  if (res.headersSent) { res.destroy(); return; }
  const body = Buffer.from(message);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length });
  res.end(body);
}

// One handler for node:http and node:http2's compatibility API (what the replaced code uses).
function onRequest(req, res) {
  const authority = req.headers[':authority'] || req.headers.host || '';
  const r = route(req.headers, authority);
  if (r.status) return sendError(res, r.status, r.message);
  const headers = forwardHeaders(req.headers);
  headers.host = r.authority;
  const up = http.request({ host: r.host, port: r.port, method: req.method, path: req.url, headers, agent });
  up.on('response', (ures) => {
    res.writeHead(ures.statusCode, forwardHeaders(ures.headers));
    ures.pipe(res);
    ures.on('error', () => res.destroy());
  });
  up.on('error', (err) => sendError(res, 502, `upstream request error: ${err.message}`));
  req.pipe(up);
  res.on('close', () => { if (!res.writableFinished) up.destroy(); });
}

// Raw tunnels: HTTP/1.1 CONNECT and upgrades.
function pipeBoth(a, b) {
  a.pipe(b); b.pipe(a);
  a.on('error', () => b.destroy()); b.on('error', () => a.destroy());
  a.on('close', () => b.destroy()); b.on('close', () => a.destroy());
}

function onConnect(req, socket, head) {
  if (req.httpVersionMajor === 2) return onConnectH2(req, socket);
  const r = route(req.headers, req.url);
  if (r.status) { socket.end(`HTTP/1.1 ${r.status} Bad Request\r\ncontent-length: 0\r\n\r\n`); return; }
  const up = net.connect(r.port, r.host, () => {
    up.setNoDelay(true);
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head && head.length) up.write(head);
    pipeBoth(socket, up);
  });
  up.on('error', () => socket.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'));
}

// HTTP/2 CONNECT (node:http2's compatibility API emits it as 'connect' with (req, res)).
function onConnectH2(req, res) {
  const r = route(req.headers, req.headers[':authority'] || '');
  if (r.status) return sendError(res, r.status, r.message);
  const stream = req.stream;
  const up = net.connect(r.port, r.host, () => {
    stream.respond({ ':status': 200 });
    req.pipe(up); up.pipe(stream);
  });
  up.on('error', () => sendError(res, 502, 'upstream request error: connect failed'));
  stream.on('close', () => up.destroy());
}

function onUpgrade(req, socket, head) {
  const r = route(req.headers, req.headers.host || '');
  if (r.status) { socket.end(`HTTP/1.1 ${r.status} Bad Request\r\ncontent-length: 0\r\n\r\n`); return; }
  const headers = forwardHeaders(req.headers);
  headers.host = r.authority;
  headers.connection = 'upgrade';
  headers.upgrade = req.headers.upgrade;
  const up = http.request({ host: r.host, port: r.port, method: req.method, path: req.url, headers, agent: false });
  up.on('upgrade', (ures, usocket, uhead) => {
    let head101 = `HTTP/1.1 101 Switching Protocols\r\n`;
    for (let i = 0; i < ures.rawHeaders.length; i += 2) head101 += `${ures.rawHeaders[i]}: ${ures.rawHeaders[i + 1]}\r\n`;
    socket.write(head101 + '\r\n');
    if (uhead.length) socket.write(uhead);
    if (head && head.length) usocket.write(head);
    pipeBoth(socket, usocket);
  });
  up.on('response', (ures) => { socket.end(`HTTP/1.1 ${ures.statusCode} Upgrade Refused\r\ncontent-length: 0\r\n\r\n`); });
  up.on('error', () => socket.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'));
  up.end();
}

const ports = {};
let pending = 0;
function listen(name, server) {
  pending++;
  server.on('connect', onConnect);
  server.on('upgrade', onUpgrade);
  server.listen(0, HOST, () => {
    ports[name] = server.address().port;
    if (--pending === 0) console.log(JSON.stringify(ports));
  });
}

if (TLS_CERT && TLS_KEY) {
  const server = http2.createSecureServer({
    cert: fs.readFileSync(TLS_CERT), key: fs.readFileSync(TLS_KEY), allowHTTP1: true,
    settings: { maxConcurrentStreams: 100 },
  }, onRequest);
  server.on('sessionError', () => {});
  listen('tls', server);
} else {
  const h1 = http.createServer({ keepAliveTimeout: 300000, requestTimeout: 0 }, onRequest);
  const h2c = http2.createServer({ settings: { maxConcurrentStreams: 100 } }, onRequest);
  h2c.on('sessionError', () => {});
  listen('h1', h1);
  listen('h2c', h2c);
}
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
