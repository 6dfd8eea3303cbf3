#!/usr/bin/env node
// Fake "workspace app" origin for the black-box tests of cmux-proxy (tests/integration/).
// A plain Node.js HTTP/1.1 server (node:http) plus a WebSocket echo (the `ws` package), so the
// proxy is exercised against a server nobody in this project wrote.
//
//   node origin.js --host 127.0.0.1 --port 0 [--name X]
//
// prints one JSON line {"port":N,"host":"...","name":"..."} on stdout once listening.
//
// Endpoints (every response carries `x-origin-name`):
//   /echo                 JSON: method, url, httpVersion, rawHeaders (in order), host, body length
//                         and sha256 (streamed, never buffered whole), rawTrailers, name, local/remote
//   /status/<code>        that status; body "<code>\n" unless 1xx/204/304/HEAD
//   /bytes/<n>            n bytes of the deterministic pattern below, with Content-Length;
//                         ?chunked=1 streams without Content-Length (chunked)
//   /trailers             chunked body with `Trailer: x-checksum` and trailer x-checksum=sha256(body)
//   /set-cookies          three Set-Cookie headers (a=1, b=2, c=3) in that order
//   /headers?k=v&...      every query pair becomes a response header, in order (hop-by-hop too)
//   /slow?ms=N            waits N ms, then answers 200 "slow <N>\n"
//   /drop                 200 with Content-Length 1 MiB (?chunked=1: chunked), writes 64 KiB and
//                         destroys the socket
//   /raw/<case>           a malformed response written raw on the socket, then close (SPEC §6
//                         response side): te-cl, te-gzip, cl-list, cl-differ, obs-fold, bare-lf,
//                         nul, bad-chunk, garbage; and the valid close-delimited and cl-overrun
//                         (100 000 bytes of Content-Length, then bytes past it)
//   /close-after?ms=N     200 (after delay=D ms), then the origin closes the (idle keep-alive)
//                         connection after N ms
//   /_requests            JSON counters of what this origin saw (requests excluding /_requests,
//                         parse errors, upgrades) and the last 200 request lines
//   /app/                 an HTML page for the browser tests (tests/e2e/): its title and <h1> carry
//                         the origin's name; it loads /app/app.js, which fetch()es /app/data.json
//                         and writes the answer into #fetch, and defines wsEcho(n) (a WebSocket
//                         to ws(s)://<page host>/app/ws echoing n messages)
//   /app/app.js           that script (application/javascript)
//   /app/data.json        JSON: name, method, url, host, httpVersion of this request
//   anything else         404
// Upgrades (any path):
//   Upgrade: websocket    WebSocket echo (text stays text, binary stays binary); the 101 carries
//                         x-origin-host / x-origin-name / x-origin-url
//   Upgrade: echo-proto   raw 101, then every byte is echoed; on the client's FIN the origin writes
//                         "<echo-proto:eof>" and closes its side (tests half-close)
//   Upgrade: refuse       answered with an ordinary 200 (body "upgrade refused\n") and closed
//
// Pattern of /bytes: consecutive 16-byte records; record k is k as 15 lower-case hex digits
// followed by "\n". It is not periodic, so a duplicated or dropped chunk changes the hash.
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const { WebSocketServer } = require('ws');

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 0, name: 'origin' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--host') opts.host = next();
    else if (a === '--port') opts.port = Number(next());
    else if (a === '--name') opts.name = next();
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ---- deterministic pattern -------------------------------------------------------------
const RECORD = 16;
const RECORDS_PER_CHUNK = 4096; // low 3 hex digits vary inside a chunk
const CHUNK = RECORD * RECORDS_PER_CHUNK; // 64 KiB
const TEMPLATE = Buffer.alloc(CHUNK);
for (let j = 0; j < RECORDS_PER_CHUNK; j++) {
  TEMPLATE.write(j.toString(16).padStart(3, '0') + '\n', j * RECORD + 12, 'latin1');
}

// Chunk number `c` (64 KiB) of the pattern: records c*4096 .. c*4096+4095.
function patternChunk(c) {
  const buf = Buffer.from(TEMPLATE);
  const prefix = Buffer.from(c.toString(16).padStart(12, '0'), 'latin1');
  for (let j = 0; j < RECORDS_PER_CHUNK; j++) prefix.copy(buf, j * RECORD);
  return buf;
}

// Writes n pattern bytes to res with back-pressure, then ends it.
function streamPattern(res, n, endCb) {
  let sent = 0;
  let c = 0;
  const pump = () => {
    while (sent < n) {
      let chunk = patternChunk(c++);
      if (n - sent < chunk.length) chunk = chunk.subarray(0, n - sent);
      sent += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (endCb) endCb();
    else res.end();
  };
  res.on('close', () => {
    sent = n; // stop pumping if the client went away
  });
  pump();
}

// ---- bookkeeping -------------------------------------------------------------------------
const stats = {
  requests: 0, // requests whose head was parsed (excluding /_requests)
  echoCompleted: 0, // /echo requests whose body arrived completely
  clientErrors: 0, // bytes Node's parser rejected (llhttp HPE_* errors)
  socketErrors: 0, // aborts: resets, messages cut short by a close
  aborted: 0, // responses whose connection closed before they were finished
  upgrades: 0,
  connections: 0,
  closedConnections: 0,
  droppedIdle: 0, // connections /close-after closed (counted once closed)
  recent: [],
  recentErrors: [],
};
function record(req, kind) {
  stats.requests++;
  if (kind === 'upgrade') stats.upgrades++;
  stats.recent.push(`${req.method} ${req.url}${kind ? ' [' + kind + ']' : ''}`);
  if (stats.recent.length > 200) stats.recent.shift();
}

function sendText(res, status, text, extra = {}) {
  const body = Buffer.from(text);
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': body.length,
    'x-origin-name': opts.name,
    ...extra,
  });
  res.end(body);
}

function sendJson(res, status, obj) {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': body.length,
    'x-origin-name': opts.name,
  });
  res.end(body);
}

// Malformed responses for /raw/<case>: a strict proxy answers 502 (or, once the response has
// started, aborts the downstream response) and never relays them as they are.
const RAW_RESPONSES = {
  'te-cl': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'te-gzip': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello',
  'cl-list': 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello',
  'cl-differ': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  'obs-fold': 'HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 5\r\n\r\nhello',
  'bare-lf': 'HTTP/1.1 200 OK\nContent-Length: 5\n\nhello',
  'nul': 'HTTP/1.1 200 OK\r\nX-Bad: a\0b\r\nContent-Length: 5\r\n\r\nhello',
  'bad-chunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
  garbage: 'NOT HTTP AT ALL\r\n\r\n',
  // Valid, for contrast: a body delimited by the close of the connection (RFC 9112 §6.3).
  'close-delimited': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n' +
    'body delimited by close\n'.repeat(1000),
  // Valid, then bytes past the Content-Length: the proxy relays the body and drops the rest.
  'cl-overrun': 'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(100000) +
    'HTTP/1.1 200 OK\r\nX-Smuggled: 1\r\nContent-Length: 5\r\n\r\nextra',
};

// ---- request handlers ----------------------------------------------------------------------
function handleEcho(req, res) {
  const hash = crypto.createHash('sha256');
  let length = 0;
  req.on('data', (chunk) => {
    length += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    stats.echoCompleted++;
    sendJson(res, 200, {
      name: opts.name,
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      host: req.headers.host === undefined ? null : req.headers.host,
      rawHeaders: req.rawHeaders,
      rawTrailers: req.rawTrailers,
      bodyLength: length,
      bodySha256: hash.digest('hex'),
      localAddress: req.socket.localAddress,
      localPort: req.socket.localPort,
      remoteAddress: req.socket.remoteAddress,
    });
  });
}

// The browser page of /app/ (tests/e2e/). Everything the page needs comes from this origin, so a
// browser that shows the name and the fetch() result got the page, the script and the data through
// whatever proxies sit in front.
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const APP_SCRIPT = `'use strict';
(async () => {
  const out = document.getElementById('fetch');
  try {
    const r = await fetch('/app/data.json?from=fetch', { cache: 'no-store' });
    const body = await r.json();
    out.textContent = JSON.stringify({ status: r.status, origin: r.headers.get('x-origin-name'), body });
    document.body.dataset.fetch = 'done';
  } catch (err) {
    out.textContent = 'fetch failed: ' + err;
    document.body.dataset.fetch = 'failed';
  }
})();
// Opens a WebSocket to /app/ws on the page's host and sends n messages one after another, each
// after the echo of the previous one; resolves with what came back.
window.wsEcho = (n, timeoutMs = 20000) => new Promise((resolve) => {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/app/ws';
  const ws = new WebSocket(url);
  const echoed = [];
  let i = 0;
  const done = (error) => {
    clearTimeout(timer);
    try { ws.close(); } catch {}
    resolve({ url, sent: i, echoed, error: error || null });
  };
  const timer = setTimeout(() => done('timeout'), timeoutMs);
  const sendNext = () => { ws.send('message ' + i + ' ' + 'x'.repeat(i)); i++; };
  ws.onopen = () => sendNext();
  ws.onmessage = (ev) => {
    echoed.push(ev.data);
    if (echoed.length >= n) done(null);
    else sendNext();
  };
  ws.onerror = () => done('error');
  ws.onclose = (ev) => { if (echoed.length < n) done('closed ' + ev.code); };
});
`;

function handleApp(req, res, path) {
  const common = { 'x-origin-name': opts.name, 'cache-control': 'no-store' };
  if (path === '/app/app.js') {
    const body = Buffer.from(APP_SCRIPT);
    res.writeHead(200, { ...common, 'content-type': 'application/javascript; charset=utf-8',
      'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  if (path === '/app/data.json') {
    sendJson(res, 200, {
      name: opts.name,
      method: req.method,
      url: req.url,
      host: req.headers.host === undefined ? null : req.headers.host,
      httpVersion: req.httpVersion,
    });
    return;
  }
  const name = escapeHtml(opts.name);
  const body = Buffer.from(
    '<!doctype html>\n<html><head><meta charset="utf-8">' +
      `<title>cmux e2e app ${name}</title>` +
      '<script src="/app/app.js" defer></script></head>\n' +
      `<body><h1 id="name">${name}</h1><pre id="fetch">pending</pre></body></html>\n`,
  );
  res.writeHead(200, { ...common, 'content-type': 'text/html; charset=utf-8',
    'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function handleRequest(req, res) {
  const url = new URL(req.url, 'http://origin.invalid');
  const path = url.pathname;
  if (path === '/_requests') {
    req.resume();
    sendJson(res, 200, {
      name: opts.name,
      requests: stats.requests,
      echoCompleted: stats.echoCompleted,
      clientErrors: stats.clientErrors,
      socketErrors: stats.socketErrors,
      aborted: stats.aborted,
      closedConnections: stats.closedConnections,
      droppedIdle: stats.droppedIdle,
      upgrades: stats.upgrades,
      connections: stats.connections,
      recent: stats.recent,
      recentErrors: stats.recentErrors,
    });
    return;
  }
  record(req);
  res.on('close', () => {
    if (!res.writableFinished) stats.aborted++;
  });

  if (path === '/echo' || path.startsWith('/echo/')) return handleEcho(req, res);

  // Everything else ignores the request body (but drains it so keep-alive works).
  req.resume();

  let m;
  if ((m = /^\/status\/(\d{3})$/.exec(path))) {
    const code = Number(m[1]);
    if (code === 204 || code === 304 || req.method === 'HEAD') {
      res.writeHead(code, { 'x-origin-name': opts.name });
      res.end();
    } else {
      sendText(res, code, `${code}\n`);
    }
    return;
  }
  if ((m = /^\/bytes\/(\d+)$/.exec(path))) {
    const n = Number(m[1]);
    const chunked = url.searchParams.get('chunked') === '1';
    const headers = { 'content-type': 'application/octet-stream', 'x-origin-name': opts.name };
    if (!chunked) headers['content-length'] = n;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') return res.end();
    streamPattern(res, n);
    return;
  }
  if (path === '/trailers') {
    const parts = ['first part\n', 'second part\n', 'third part\n'];
    const hash = crypto.createHash('sha256');
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum', 'x-origin-name': opts.name });
    for (const p of parts) {
      hash.update(p);
      res.write(p);
    }
    res.addTrailers({ 'x-checksum': hash.digest('hex') });
    res.end();
    return;
  }
  if (path === '/set-cookies') {
    res.writeHead(200, [
      'x-origin-name', opts.name,
      'content-type', 'text/plain',
      'set-cookie', 'a=1; Path=/',
      'set-cookie', 'b=2; Path=/; HttpOnly',
      'set-cookie', 'c=3; Path=/; Secure',
      'content-length', '8',
    ]);
    res.end('cookies\n');
    return;
  }
  if (path === '/headers') {
    const raw = ['x-origin-name', opts.name];
    for (const [k, v] of url.searchParams) raw.push(k, v);
    raw.push('content-type', 'text/plain', 'content-length', '8');
    res.writeHead(200, raw);
    res.end('headers\n');
    return;
  }
  if (path === '/slow') {
    const ms = Number(url.searchParams.get('ms') || '1000');
    const timer = setTimeout(() => sendText(res, 200, `slow ${ms}\n`), ms);
    res.on('close', () => clearTimeout(timer));
    return;
  }
  if (path === '/drop') {
    const chunked = url.searchParams.get('chunked') === '1';
    const headers = { 'content-type': 'application/octet-stream', 'x-origin-name': opts.name };
    if (!chunked) headers['content-length'] = 1024 * 1024;
    res.writeHead(200, headers);
    res.write(patternChunk(0), () => {
      // Let the bytes leave, then kill the connection mid-body.
      setImmediate(() => req.socket.destroy());
    });
    return;
  }
  if ((m = /^\/raw\/([a-z-]+)$/.exec(path)) && RAW_RESPONSES[m[1]]) {
    req.socket.end(Buffer.from(RAW_RESPONSES[m[1]], 'latin1'));
    return;
  }
  if (path === '/close-after') {
    // An ordinary keep-alive response, then the origin drops the idle connection (as Node's
    // own 5 s keepAliveTimeout does), without announcing it.
    const ms = Number(url.searchParams.get('ms') || '0');
    res.on('finish', () => setTimeout(() => {
      req.socket.once('close', () => stats.droppedIdle++);
      req.socket.destroy();
    }, ms));
    setTimeout(() => sendText(res, 200, 'closing soon\n'), Number(url.searchParams.get('delay') || '0'));
    return;
  }
  if (path === '/app/' || path === '/app/app.js' || path === '/app/data.json') {
    return handleApp(req, res, path);
  }
  if (path === '/') {
    sendText(res, 200, `hello from ${opts.name}\n`);
    return;
  }
  sendText(res, 404, 'not found\n');
}

// ---- upgrades --------------------------------------------------------------------------------
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
wss.on('headers', (headers, req) => {
  headers.push(`x-origin-name: ${opts.name}`);
  headers.push(`x-origin-host: ${req.headers.host || ''}`);
  headers.push(`x-origin-url: ${req.url}`);
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});

function handleUpgrade(req, socket, head) {
  record(req, 'upgrade');
  socket.on('error', () => {});
  const proto = String(req.headers.upgrade || '').toLowerCase();
  if (proto === 'websocket') {
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    return;
  }
  if (proto === 'echo-proto') {
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Connection: Upgrade\r\n' +
        'Upgrade: echo-proto\r\n' +
        `x-origin-name: ${opts.name}\r\n` +
        `x-origin-host: ${req.headers.host || ''}\r\n` +
        '\r\n',
    );
    if (head && head.length) socket.write(head);
    socket.on('data', (d) => socket.write(d));
    socket.on('end', () => socket.end('<echo-proto:eof>'));
    return;
  }
  // `Upgrade: refuse` (and any unknown protocol): an ordinary response, then close.
  const body = 'upgrade refused\n';
  socket.end(
    'HTTP/1.1 200 OK\r\n' +
      'Content-Type: text/plain\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `x-origin-name: ${opts.name}\r\n` +
      'Connection: close\r\n' +
      '\r\n' +
      body,
  );
}

// ---- server ------------------------------------------------------------------------------------
const server = http.createServer(
  {
    requireHostHeader: false, // show what the proxy sends instead of answering 400 ourselves
    maxHeaderSize: 256 * 1024,
    keepAliveTimeout: 30000,
    headersTimeout: 60000,
    requestTimeout: 0,
  },
  handleRequest,
);
// The socket must stay half-open after an upgrade so echo-proto can answer after the client's FIN.
server.on('connection', (socket) => {
  stats.connections++;
  socket.allowHalfOpen = true;
  socket.on('close', () => stats.closedConnections++);
});
server.on('upgrade', handleUpgrade);
server.on('clientError', (err, socket) => {
  // A message cut short by the peer closing (HPE_INVALID_EOF_STATE) is an abort, not bytes the
  // parser rejected.
  const code = String(err.code || '');
  if (code.startsWith('HPE_') && code !== 'HPE_INVALID_EOF_STATE') stats.clientErrors++;
  else stats.socketErrors++;
  stats.recentErrors.push(`${err.code || ''} ${err.message}`);
  if (stats.recentErrors.length > 50) stats.recentErrors.shift();
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
});

server.listen(opts.port, opts.host, () => {
  const addr = server.address();
  process.stdout.write(JSON.stringify({ port: addr.port, host: addr.address, name: opts.name }) + '\n');
});
server.on('error', (err) => {
  process.stderr.write(`origin: ${err.message}\n`);
  process.exit(1);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0));
}
// When stdin is a pipe (the test harness), exit once the parent closes it, so a crashed test
// leaves nothing behind.
try {
  if (require('node:fs').fstatSync(0).isFIFO()) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => {});
    process.stdin.resume();
  }
} catch {
  // no stdin at all
}
