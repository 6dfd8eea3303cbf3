#!/usr/bin/env node
// Reference for bench/run: a Node.js preview proxy in the style of the Electron main-process code
// it replaces (SPEC §1, §3): `http.createServer` (HTTP/1.1 only) on the main thread, one context
// with Basic credentials, loopback targets rewritten to the cmux-proxy origin, upstream over one
// node:http2 session (default) or an https keep-alive agent (--http1). Deliberately idiomatic, not
// tuned: it is what the C++ chain's "≥ 5× the Node.js chain" target is measured against.
//
//   node node-preview-proxy.js --upstream https://HOST[:PORT] [--connect IP:PORT] [--ca FILE]
//                              [--http1] [--host 127.0.0.1]
//
// --upstream is the cmux-proxy origin (its Host / :authority and TLS server name); --connect
// where to actually connect (like the C++ CLI's --resolve). Prints one JSON line
// {"port":N,"username":"...","password":"..."} once listening.
// SIGUSR2 prints {"upstream_connections":N}: the TLS connections it opened to the upstream.
//
// Requests: absolute-form `http://host:port/path` with `Proxy-Authorization: Basic`; 407 without
// valid credentials. A loopback target goes to the upstream with X-Cmux-Port-Internal: <port>
// and X-Cmux-Host-Override: <host:port>; anything else goes direct. CONNECT to a loopback target
// is tunnelled through the upstream (HTTP/2 CONNECT stream, or HTTP/1.1 CONNECT), else direct.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const https = require('node:https');
const net = require('node:net');
const tls = require('node:tls');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const UPSTREAM = new URL(opt('--upstream', 'https://127.0.0.1:39379'));
const CONNECT_TO = opt('--connect');  // ip:port
const CA = opt('--ca') ? [fs.readFileSync(opt('--ca'))] : undefined;
const HTTP1 = args.includes('--http1');
const HOST = opt('--host', '127.0.0.1');
const USERNAME = crypto.randomBytes(8).toString('hex');
const PASSWORD = crypto.randomBytes(16).toString('hex');
const EXPECTED_AUTH = 'Basic ' + Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64');

const upstreamPort = Number(UPSTREAM.port) || 443;
const [connectHost, connectPort] = CONNECT_TO
  ? [CONNECT_TO.slice(0, CONNECT_TO.lastIndexOf(':')), Number(CONNECT_TO.slice(CONNECT_TO.lastIndexOf(':') + 1))]
  : [UPSTREAM.hostname, upstreamPort];
const tlsOptions = { ca: CA, servername: UPSTREAM.hostname, host: connectHost, port: connectPort };

const directAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 64 });
const upstreamAgent = new https.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, ...tlsOptions });
let upstreamConnections = 0;

// One HTTP/2 session to the cmux-proxy origin, re-established when it goes away.
let session = null;
function h2session() {
  if (session && !session.closed && !session.destroyed) return session;
  session = http2.connect(UPSTREAM.origin, {
    createConnection: () => { upstreamConnections++; return tls.connect({ ...tlsOptions, ALPNProtocols: ['h2'] }); },
  });
  session.on('error', () => {});
  session.on('close', function () { if (session === this) session = null; });
  return session;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection', 'host', 'http2-settings']);

function isLoopback(host) {
  host = host.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\./.test(host);
}

function cleanHeaders(raw) {
  const drop = new Set(HOP_BY_HOP);
  if (raw.connection) for (const n of String(raw.connection).split(',')) drop.add(n.trim().toLowerCase());
  const out = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k[0] === ':' || drop.has(k) || k.startsWith('x-cmux-')) continue;
    out[k] = v;
  }
  return out;
}

function fail(res, status, message, extra = {}) {
  if (res.headersSent) { res.destroy(); return; }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...extra });
  res.end(message);
}

function authorized(req) {
  return req.headers['proxy-authorization'] === EXPECTED_AUTH;
}

function forwardH2(req, res, target, headers) {
  const stream = h2session().request({
    ':method': req.method, ':scheme': 'https', ':authority': UPSTREAM.host, ':path': target.pathname + target.search,
    ...headers,
  }, { endStream: req.method === 'GET' || req.method === 'HEAD' });
  stream.on('response', (h) => {
    const status = h[':status'];
    res.writeHead(status, cleanHeaders(h));
    stream.pipe(res);
  });
  stream.on('error', () => fail(res, 502, 'Bad Gateway'));
  if (req.method !== 'GET' && req.method !== 'HEAD') req.pipe(stream);
  else req.resume();
  res.on('close', () => { if (!res.writableFinished) stream.close(http2.constants.NGHTTP2_CANCEL); });
}

function forwardH1(req, res, options) {
  const up = options.agent === upstreamAgent ? https.request(options) : http.request(options);
  up.on('response', (ures) => { res.writeHead(ures.statusCode, cleanHeaders(ures.headers)); ures.pipe(res); });
  up.on('error', (err) => { if (process.env.BENCH_NODE_DEBUG) console.error(err); fail(res, 502, 'Bad Gateway'); });
  req.pipe(up);
  res.on('close', () => { if (!res.writableFinished) up.destroy(); });
}

const server = http.createServer({ keepAliveTimeout: 300000, requestTimeout: 0 }, (req, res) => {
  if (!authorized(req)) return fail(res, 407, 'Proxy Authentication Required', { 'proxy-authenticate': 'Basic realm="cmux"' });
  let target;
  try { target = new URL(req.url); } catch { return fail(res, 400, 'Bad Request'); }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return fail(res, 400, 'Bad Request');
  const port = Number(target.port) || (target.protocol === 'https:' ? 443 : 80);
  const headers = cleanHeaders(req.headers);
  if (!isLoopback(target.hostname)) {
    headers.host = target.host;
    return forwardH1(req, res, { host: target.hostname, port, method: req.method, path: target.pathname + target.search, headers, agent: directAgent });
  }
  headers['x-cmux-port-internal'] = String(port);
  headers['x-cmux-host-override'] = `${target.hostname}:${port}`;
  if (!HTTP1) return forwardH2(req, res, target, headers);
  headers.host = UPSTREAM.host;
  forwardH1(req, res, { method: req.method, path: target.pathname + target.search, headers, agent: upstreamAgent, ...tlsOptions });
});

function pipeBoth(a, b) {
  a.pipe(b); b.pipe(a);
  a.on('error', () => b.destroy()); b.on('error', () => a.destroy());
  a.on('close', () => b.destroy()); b.on('close', () => a.destroy());
}

server.on('connect', (req, socket, head) => {
  if (!authorized(req)) { socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm="cmux"\r\ncontent-length: 0\r\n\r\n'); return; }
  const i = req.url.lastIndexOf(':');
  const host = req.url.slice(0, i), port = Number(req.url.slice(i + 1));
  const established = (up) => {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head && head.length) up.write(head);
    pipeBoth(socket, up);
  };
  const bad = () => socket.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n');
  if (!isLoopback(host)) {
    const up = net.connect(port, host.replace(/^\[|\]$/g, ''), () => established(up));
    up.on('error', bad);
    return;
  }
  const internal = { 'x-cmux-port-internal': String(port), 'x-cmux-host-override': `${host}:${port}` };
  if (!HTTP1) {
    const stream = h2session().request({ ':method': 'CONNECT', ':authority': `${host}:${port}`, ...internal });
    stream.on('response', (h) => (h[':status'] === 200 ? established(stream) : bad()));
    stream.on('error', bad);
    return;
  }
  const up = https.request({ method: 'CONNECT', path: `${host}:${port}`, headers: { host: UPSTREAM.host, ...internal }, agent: false, ...tlsOptions });
  up.on('connect', (ures, usocket) => (ures.statusCode === 200 ? established(usocket) : bad()));
  up.on('error', bad);
  up.end();
});

server.on('upgrade', (req, socket, head) => {
  if (!authorized(req)) { socket.end('HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n'); return; }
  let target;
  try { target = new URL(req.url); } catch { socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n'); return; }
  const port = Number(target.port) || 80;
  const headers = cleanHeaders(req.headers);
  headers.connection = 'upgrade';
  headers.upgrade = req.headers.upgrade;
  const loop = isLoopback(target.hostname);
  if (loop) {
    headers['x-cmux-port-internal'] = String(port);
    headers['x-cmux-host-override'] = `${target.hostname}:${port}`;
    headers.host = UPSTREAM.host;
  } else headers.host = target.host;
  const options = loop
    ? { method: 'GET', path: target.pathname + target.search, headers, agent: false, ...tlsOptions }
    : { host: target.hostname, port, method: 'GET', path: target.pathname + target.search, headers, agent: false };
  const up = (loop ? https : http).request(options);
  up.on('upgrade', (ures, usocket, uhead) => {
    let head101 = 'HTTP/1.1 101 Switching Protocols\r\n';
    for (let i = 0; i < ures.rawHeaders.length; i += 2) head101 += `${ures.rawHeaders[i]}: ${ures.rawHeaders[i + 1]}\r\n`;
    socket.write(head101 + '\r\n');
    if (uhead.length) socket.write(uhead);
    if (head && head.length) usocket.write(head);
    pipeBoth(socket, usocket);
  });
  up.on('response', (ures) => socket.end(`HTTP/1.1 ${ures.statusCode} Upgrade Refused\r\ncontent-length: 0\r\n\r\n`));
  up.on('error', () => socket.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'));
  up.end();
});

upstreamAgent.createConnection = function (options, cb) { upstreamConnections++; return https.Agent.prototype.createConnection.call(this, options, cb); };

server.listen(0, HOST, () => {
  console.log(JSON.stringify({ port: server.address().port, username: USERNAME, password: PASSWORD }));
});
// SIGUSR2 -> one JSON line with the number of upstream TCP connections opened so far.
process.on('SIGUSR2', () => console.log(JSON.stringify({ upstream_connections: upstreamConnections })));
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
