'use strict';
// The chain and the workspace apps of tests/e2e/apps/apps.test.js (issue 8). Processes, temporary
// directories, certificates and waiting come from the shared helpers (tests/js/helpers.js); this
// file only adds what the dev-server suite needs on top:
//
//   Chromium ──(proxy http://127.0.0.1:<pp>, Basic credentials of a routed context)──▶
//   build/bin/cmux-preview-proxy (--route https://port-39379-morphvm-apps.http.cloud.morph.so/,
//   TLS interception, --log) ──(TLS, ALPN h2, --resolve, throwaway CA)──▶ build/bin/cmux-proxy
//   (--metrics-listen) ──(HTTP/1.1)──▶ the dev server on 127.0.0.1:<port chosen at run time>

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');

const H = require('../../js/helpers.js');
const { CHROMIUM_ARGS } = H;

const HERE = __dirname;
const BUILD = H.BUILD;
const CHROMIUM = process.env.CMUX_E2E_CHROMIUM || '/usr/bin/chromium';
const MORPH_HOST = 'port-39379-morphvm-apps.http.cloud.morph.so';
const ROUTE = `https://${MORPH_HOST}/`;


function requireBuilt() {
  for (const bin of ['cmux-proxy', 'cmux-preview-proxy']) {
    const p = path.join(BUILD, 'bin', bin);
    assert.ok(fs.existsSync(p), `${p} is missing: build first (make build)`);
  }
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/bootstrap`);
  assert.ok(fs.existsSync(path.join(HERE, 'node_modules', 'vite')),
    'tests/e2e/apps/node_modules missing: run scripts/bootstrap (npm ci in tests/e2e/apps)');
}

// A binary of build/ can vanish for a moment while it is being rebuilt: retry the start a few
// times when the file is missing, never when the process itself failed.
async function startBinary(label, bin, args, ready) {
  const file = path.join(BUILD, 'bin', bin);
  for (let attempt = 0; ; attempt++) {
    if (fs.existsSync(file)) return H.startProcess(label, file, args, ready);
    if (attempt >= 50) throw new Error(`${file} is missing`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ------------------------------------------------------------------------------------------
// cmux-proxy and its metrics

async function startCmuxProxy(certs) {
  const p = await startBinary('cmux-proxy', 'cmux-proxy',
    ['--listen', '127.0.0.1:0', '--tls-cert', certs.cert, '--tls-key', certs.key,
      '--upstream-host', '127.0.0.1', '--metrics-listen', '127.0.0.1:0', '--log-level', 'warn'],
    (lines) => lines.some((l) => l.startsWith('cmux-proxy listening on ')) &&
      lines.some((l) => l.startsWith('cmux-proxy metrics on ')));
  p.addr = p.stdout.find((l) => l.startsWith('cmux-proxy listening on ')).slice('cmux-proxy listening on '.length);
  p.metricsAddr = p.stdout.find((l) => l.startsWith('cmux-proxy metrics on ')).slice('cmux-proxy metrics on '.length);
  return p;
}

function httpGetText(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode} ${body}`))));
    }).on('error', reject);
  });
}

// cmux-proxy's /metrics as numbers: {requests: {"http1.1": {status: n}, http2: {...}},
// connections_total, active_connections, active_streams, tunnels_total, active_tunnels, ...}.
async function cmuxMetrics(cmux) {
  const text = await httpGetText(`http://${cmux.metricsAddr}/metrics`);
  const m = { requests: { 'http1.1': {}, http2: {} } };
  for (const line of text.split('\n')) {
    const r = /^cmux_proxy_requests_total\{protocol="([^"]+)",status="(\d+)"\}\s+(\S+)$/.exec(line);
    if (r) {
      m.requests[r[1]][r[2]] = Number(r[3]);
      continue;
    }
    const g = /^cmux_proxy_(\w+)\s+(\S+)$/.exec(line);
    if (g) m[g[1]] = Number(g[2]);
  }
  m.total = (proto) => Object.values(m.requests[proto]).reduce((a, b) => a + b, 0);
  return m;
}

// ------------------------------------------------------------------------------------------
// the preview proxy

// A cmux-preview-proxy with one routed context, pointed at cmux-proxy; `caDir` is shared by every
// instance of a run, so Chromium trusts them all through one SPKI.
async function startPreviewProxy(cmux, certs, caDir, label = 'cmux-preview-proxy') {
  const [host, port] = [cmux.addr.replace(/:\d+$/, ''), cmux.addr.split(':').pop()];
  const p = await startBinary(label, 'cmux-preview-proxy',
    ['--listen', '127.0.0.1:0', '--route', ROUTE,
      '--resolve', `${MORPH_HOST}:443:${host}:${port}`,
      '--upstream-ca', certs.caCert, '--ca-dir', caDir, '--log'],
    (lines) => lines.some((l) => l.startsWith('{')));
  const m = /^cmux-preview-proxy listening on 127\.0\.0\.1:(\d+)$/.exec(p.stdout[0]);
  assert.ok(m, `first stdout line of the preview proxy: ${p.stdout[0]}`);
  p.port = Number(m[1]);
  p.context = JSON.parse(p.stdout.find((l) => l.startsWith('{')));
  assert.ok(p.context.route && p.context.route.cmuxProxyOrigin, `not a routed context: ${JSON.stringify(p.context)}`);
  return p;
}

// The preview proxy's --log events (JSON lines on stderr) from index `from` on.
function logEvents(pp, from = 0) {
  const out = [];
  for (const line of pp.stderr.slice(from)) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // not an event
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// workspace apps

// A port the OS says is free on 127.0.0.1 right now (for a server that must start later on a
// port known in advance).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// A throwaway copy of fixture `name` (react-app, vue-app) in `dir`, whose node_modules is a link
// to this suite's node_modules. The tests edit files of the copy, never the fixture.
function copyFixture(name, dir) {
  const dest = path.join(dir, name);
  fs.cpSync(path.join(HERE, name), dest, { recursive: true });
  fs.symlinkSync(path.join(HERE, 'node_modules'), path.join(dest, 'node_modules'), 'dir');
  return dest;
}

// Adds many.html to a React copy: one entry module importing `n` tiny modules (the "module
// graph of hundreds of small requests" of a cold page load).
function addManyModules(root, n) {
  fs.mkdirSync(path.join(root, 'src', 'many'), { recursive: true });
  const imports = [];
  for (let i = 0; i < n; i++) {
    const name = `m${String(i).padStart(3, '0')}`;
    fs.writeFileSync(path.join(root, 'src', 'many', `${name}.js`), `export default ${i};\n`);
    imports.push(`import ${name} from './many/${name}.js';`);
  }
  const sum = (n * (n - 1)) / 2;
  fs.writeFileSync(path.join(root, 'src', 'many.js'), `${imports.join('\n')}\n` +
    `const values = [${Array.from({ length: n }, (_, i) => `m${String(i).padStart(3, '0')}`).join(', ')}];\n` +
    'document.body.dataset.sum = String(values.reduce((a, b) => a + b, 0));\n' +
    `document.body.dataset.count = String(values.length);\n`);
  fs.writeFileSync(path.join(root, 'many.html'), '<!doctype html>\n<html lang="en"><head><meta charset="UTF-8" />' +
    `<title>${n} modules</title></head>\n<body><script type="module" src="/src/many.js"></script></body></html>\n`);
  return { count: n, sum };
}

async function startVite(root, port = 0) {
  const p = await H.startProcess(`vite ${path.basename(root)}`, process.execPath,
    [path.join(HERE, 'vite-server.mjs'), '--root', root, '--port', String(port)],
    (lines) => lines.some((l) => l.startsWith('{"vite"')), { timeoutMs: 60000, cwd: HERE });
  p.info = JSON.parse(p.stdout.find((l) => l.startsWith('{"vite"')));
  p.port = p.info.port;
  p.root = root;
  return p;
}

async function startRealtime(bigFile, port = 0) {
  const p = await H.startProcess('realtime-server', process.execPath,
    [path.join(HERE, 'realtime-server.js'), '--port', String(port), ...(bigFile ? ['--big', bigFile] : [])],
    (lines) => lines.some((l) => l.startsWith('{')), { cwd: HERE });
  p.info = JSON.parse(p.stdout.find((l) => l.startsWith('{')));
  p.port = p.info.port;
  return p;
}

// ------------------------------------------------------------------------------------------
// the browser

function chainContext(browser, pp) {
  return browser.newContext({
    proxy: {
      server: `http://127.0.0.1:${pp.port}`,
      username: pp.context.username,
      password: pp.context.password,
      bypass: '<-loopback>',
    },
  });
}

// A page that records its console and its main-frame navigations.
async function trackedPage(context) {
  const page = await context.newPage();
  page.consoleLines = [];
  page.navigations = 0;
  page.on('console', (m) => page.consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.consoleLines.push(`pageerror: ${e.message}`));
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) page.navigations++;
  });
  return page;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

module.exports = {
  H,
  HERE,
  BUILD,
  CHROMIUM,
  CHROMIUM_ARGS,
  MORPH_HOST,
  requireBuilt,
  startCmuxProxy,
  cmuxMetrics,
  startPreviewProxy,
  logEvents,
  freePort,
  copyFixture,
  addManyModules,
  startVite,
  startRealtime,
  chainContext,
  trackedPage,
  median,
  fmt,
};
