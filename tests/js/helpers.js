'use strict';
// Shared helpers of the node:test suites of @cmux/proxy-electron (tests/js/*.test.js).
// Everything is real: the built addon (build/lib/cmux_proxy.node through js/index.js), real
// sockets on loopback, ports chosen by the OS, the sample origin (tests/support/origin.js) and
// this project's cmux-proxy (build/bin/cmux-proxy) as child processes, certificates made with
// the openssl CLI. Nothing sleeps: waits are on conditions (a line printed, an event seen).
//
// Env: CMUX_BUILD_DIR (default <repo>/build) — where bin/cmux-proxy lives. The addon itself is
// loaded the way users load it: require(<repo>) (package.json "main" -> js/index.js).

const { spawn, execFile, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const tls = require('node:tls');

const REPO = path.resolve(__dirname, '..', '..');
const BUILD = path.resolve(process.env.CMUX_BUILD_DIR || path.join(REPO, 'build'));
const ORIGIN_JS = path.join(REPO, 'tests', 'support', 'origin.js');
const CMUX_PROXY = path.join(BUILD, 'bin', 'cmux-proxy');
const MORPH_HOST = 'port-39379-morphvm-js.http.cloud.morph.so';

// The proxy reads these at start (js/index.js): a developer's shell must not change the tests.
for (const k of ['CMUX_PREVIEW_TLS_MITM', 'CMUX_PREVIEW_PROXY_LOG', 'CMUX_PREVIEW_PROXY_LOGGING']) {
  delete process.env[k];
}

// ------------------------------------------------------------------------------------------
// temporary files and child processes, cleaned up at exit

const children = [];
const tmpDirs = [];

function cleanupAll() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanupAll);

function tmpDir(prefix = 'cmux-js-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}

// The environment of child processes: no CMUX_* settings, no proxy variables (curl honours
// http_proxy / no_proxy; the tests pass -x explicitly).
function childEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('CMUX_')) continue;
    if (/^(https?|all|no|ftp)_proxy$/i.test(k)) continue;
    env[k] = v;
  }
  return env;
}

// Starts a process; resolves once ready(stdoutLines) is true. stdout and stderr are kept as lines.
function startProcess(label, cmd, args, ready, { timeoutMs = 15000, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv(), cwd });
    children.push(proc);
    const p = { label, proc, stdout: [], stderr: [] };
    let settled = false;
    const fail = (why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        proc.kill('SIGKILL');
      } catch {
        // already gone
      }
      reject(new Error(`${label} (${cmd} ${args.join(' ')}): ${why}\nstdout: ${p.stdout.join('\n')}\n` +
        `stderr: ${p.stderr.slice(-40).join('\n')}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      p.stdout.push(line);
      if (!settled && ready(p.stdout)) {
        settled = true;
        clearTimeout(timer);
        resolve(p);
      }
    });
    readline.createInterface({ input: proc.stderr }).on('line', (line) => p.stderr.push(line));
    proc.on('error', (err) => fail(err.message));
    proc.on('exit', (code, sig) => fail(`exited (${sig || code}) before it was ready`));
  });
}

async function stopProcess(p) {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return null;
  const exited = new Promise((resolve) => p.proc.once('exit', (code, sig) => resolve(sig || code)));
  p.proc.kill('SIGTERM');
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), 5000);
  const how = await exited;
  clearTimeout(timer);
  return how;
}

// tests/support/origin.js (as tests/support/harness.py start_origin): prints one JSON line
// {"port":N,"host":"...","name":"..."} once listening.
async function startOrigin(name = 'app', host = '127.0.0.1') {
  if (!fs.existsSync(path.join(REPO, 'tests', 'support', 'node_modules', 'ws'))) {
    throw new Error('tests/support/node_modules missing: run scripts/bootstrap (npm ci in tests/support)');
  }
  const p = await startProcess(`origin ${name}`, process.execPath,
    [ORIGIN_JS, '--host', host, '--port', '0', '--name', name],
    (lines) => lines.some((l) => l.startsWith('{')), { cwd: path.dirname(ORIGIN_JS) });
  p.info = JSON.parse(p.stdout.find((l) => l.startsWith('{')));
  p.port = p.info.port;
  return p;
}

// ------------------------------------------------------------------------------------------
// certificates (openssl CLI)

function openssl(...args) {
  execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

// A throwaway EC P-256 CA and a leaf for cmux-proxy's name (MORPH_HOST unless told otherwise).
function makeCerts(dir, host = MORPH_HOST) {
  const f = (n) => path.join(dir, n);
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=cmux test CA', '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', f('ca.key'), '-out', f('ca.pem'));
  fs.writeFileSync(f('server.ext'), `subjectAltName=DNS:${host}\n` +
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' +
    'extendedKeyUsage=serverAuth\n');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', `/CN=${host}`, '-keyout', f('server.key'), '-out', f('server.csr'));
  openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-set_serial', String(BigInt('0x' + crypto.randomBytes(8).toString('hex'))), '-days', '2',
    '-extfile', f('server.ext'), '-out', f('server.pem'));
  return { caCert: f('ca.pem'), caPem: fs.readFileSync(f('ca.pem'), 'utf8'), cert: f('server.pem'), key: f('server.key') };
}

// build/bin/cmux-proxy with TLS for MORPH_HOST, upstream 127.0.0.1 (the origin's address).
async function startCmuxProxy(certs) {
  if (!fs.existsSync(CMUX_PROXY)) throw new Error(`${CMUX_PROXY} missing: build first (cmake --build --preset default)`);
  const p = await startProcess('cmux-proxy', CMUX_PROXY,
    ['--listen', '127.0.0.1:0', '--tls-cert', certs.cert, '--tls-key', certs.key, '--upstream-host', '127.0.0.1'],
    (lines) => lines.some((l) => l.startsWith('cmux-proxy listening on ')));
  p.addr = p.stdout.find((l) => l.startsWith('cmux-proxy listening on ')).slice('cmux-proxy listening on '.length);
  return p;
}

// ------------------------------------------------------------------------------------------
// talking to the proxy

function basic(ctx, password = ctx.password) {
  return 'Basic ' + Buffer.from(`${ctx.username}:${password}`).toString('base64');
}

// One request written raw on a fresh connection to the proxy; resolves with the parsed head
// ({status, headers (lower-cased names), head}) once the response head arrived. The body of a
// non-CONNECT request is read too when `body` is set (until close: send Connection: close).
function rawRequest(port, text, { body = false, keep = false } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let parsed = null;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no response from the proxy to ${JSON.stringify(text.split('\r\n')[0])}`));
    }, 10000);
    const finish = (result) => {
      clearTimeout(timer);
      if (!keep) sock.destroy();
      resolve(result);
    };
    const parseHead = () => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return null;
      const head = buf.subarray(0, end).toString('latin1');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      return { status: Number(statusLine.split(' ')[1]), statusLine, headers, head, rest: buf.subarray(end + 4), socket: sock };
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!parsed) {
        parsed = parseHead();
        if (parsed && !body) {
          sock.pause();
          finish(parsed);
        }
      }
    });
    sock.on('end', () => {
      if (!parsed) parsed = parseHead();
      if (!parsed) {
        clearTimeout(timer);
        reject(new Error(`the proxy closed without a response to ${JSON.stringify(text.split('\r\n')[0])}`));
        return;
      }
      if (body) {
        parsed.body = buf.subarray(buf.indexOf('\r\n\r\n') + 4).toString('utf8');
        finish(parsed);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.write(text);
  });
}

// GET http://<host>:<port><path> through the proxy (absolute-form), raw.
function rawGet(proxyPort, url, auth, extra = '') {
  const u = new URL(url);
  return rawRequest(proxyPort,
    `GET ${url} HTTP/1.1\r\nHost: ${u.host}\r\n` +
    (auth !== undefined ? `Proxy-Authorization: ${auth}\r\n` : '') + extra + 'Connection: close\r\n\r\n');
}

function rawConnect(proxyPort, authority, auth, opts) {
  return rawRequest(proxyPort,
    `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n` +
    (auth !== undefined ? `Proxy-Authorization: ${auth}\r\n` : '') + '\r\n', opts);
}

// The leaf certificate the proxy serves inside an intercepted CONNECT tunnel (routed context,
// loopback host): CONNECT, then a TLS handshake with SNI `servername`. Resolves
// {leaf, issuer}: the PEM of the leaf and of the certificate the server sent after it (or null).
async function interceptedLeaf(proxyPort, ctx, authority, servername) {
  const r = await rawConnect(proxyPort, authority, basic(ctx), { keep: true });
  if (r.status !== 200) {
    r.socket.destroy();
    throw new Error(`CONNECT ${authority}: ${r.statusLine}`);
  }
  r.socket.resume();
  return new Promise((resolve, reject) => {
    const s = tls.connect({ socket: r.socket, servername: net.isIP(servername) ? undefined : servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    s.once('secureConnect', () => {
      const peer = s.getPeerCertificate(true);
      const issuer = peer.issuerCertificate && peer.issuerCertificate !== peer ? toPem(peer.issuerCertificate.raw) : null;
      s.destroy();
      r.socket.destroy();
      resolve({ leaf: toPem(peer.raw), issuer });
    });
    s.once('error', reject);
  });
}

function toPem(der) {
  const b64 = der.toString('base64').match(/.{1,64}/g).join('\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

// curl through the proxy: resolves {status, body}. `args` are curl's arguments after -x.
function curl(proxyUrl, args) {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '10', '-x', proxyUrl, '-w', '\n%{http_code}', ...args],
      { env: childEnv() }, (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`curl ${args.join(' ')}: ${err.message}\n${stderr}`));
          return;
        }
        const i = stdout.lastIndexOf('\n');
        resolve({ status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) });
      });
  });
}

// Waits until cond() is truthy, checking after every turn of the event loop (bounded).
async function waitFor(cond, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// base64(sha256(DER SubjectPublicKeyInfo)) with node:crypto.
function spkiSha256(pem) {
  const der = new crypto.X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(der).digest('base64');
}

function listen(server, port = 0, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve(server.address().port);
    });
  });
}

// Headless Chromium flags shared by the browser suites (tests/e2e/): no sandbox or GPU in CI, no
// QUIC (the proxy speaks TCP), no background traffic, and loopback goes THROUGH the proxy
// (Chromium bypasses it for loopback by default; playwright-core adds this to each context's
// bypass list too, it is named here so the intent is explicit).
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--proxy-bypass-list=<-loopback>',
];

module.exports = {
  CHROMIUM_ARGS,
  REPO,
  BUILD,
  MORPH_HOST,
  addon: () => require(REPO),
  tmpDir,
  childEnv,
  startProcess,
  stopProcess,
  startOrigin,
  makeCerts,
  openssl,
  startCmuxProxy,
  basic,
  rawRequest,
  rawGet,
  rawConnect,
  interceptedLeaf,
  toPem,
  curl,
  waitFor,
  spkiSha256,
  listen,
};
