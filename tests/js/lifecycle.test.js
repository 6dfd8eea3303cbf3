'use strict';
// Lifecycle of the addon (SPEC §4, issue 5): 200 start/stop cycles and 10 000 create/release
// cycles without RSS growth (< 5 MB, after a warm-up, with gc() when --expose-gc is given);
// stop() idempotent; a stopped server refuses contexts (a rejection, not a throw); a process that
// starts a server and returns exits by itself; environment teardown with a server running.
// This file runs in its own process (node --test), so its RSS is its own.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const v8 = require('node:v8');
const vm = require('node:vm');

const h = require('./helpers.js');

const { ProxyServer } = h.addon();

const MB = 1024 * 1024;

function gc() {
  if (typeof global.gc !== 'function') {
    v8.setFlagsFromString('--expose-gc');
    global.gc = vm.runInNewContext('gc');
  }
  for (let i = 0; i < 3; i++) global.gc();
}

async function rss() {
  // Let finalizers and the event loop settle, then collect.
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  return process.memoryUsage().rss;
}

const caDir = h.tmpDir();

async function startStopCycles(n, { gcEach = false } = {}) {
  for (let i = 0; i < n; i++) {
    const s = await ProxyServer.start({ listenAddr: '127.0.0.1:0', caDir });
    if (i % 2 === 0) await s.createContext({ webContentsId: i, route: null });
    await s.stop();
    if (gcEach) {
      await new Promise((r) => setImmediate(r));
      global.gc();
    }
  }
}

async function createReleaseCycles(server, n) {
  const route = { morphId: 'm', scope: 'base', domainSuffix: 'cmux.app', cmuxProxyOrigin: 'https://port-39379-morphvm-m.http.cloud.morph.so' };
  for (let i = 0; i < n; i++) {
    const ctx = await server.createContext({ webContentsId: i % 50, persistKey: `k${i}`, route: i % 2 ? route : null });
    await ctx.release();
  }
}

const fig = (b) => `${(b / MB).toFixed(2)} MB`;

function report(t, line) {
  t.diagnostic(line);
  console.log(`# ${line}`);
}

// The RSS tests run in this order on purpose: RSS is a high-water mark (glibc keeps freed
// memory), so the test that may grow it most runs last.
test('warm-up (20 start/stop cycles, 1000 create/release cycles)', async () => {
  gc();
  await startStopCycles(20, { gcEach: true });
  const warm = await ProxyServer.start({ listenAddr: '127.0.0.1:0', caDir });
  await createReleaseCycles(warm, 1000);
  await warm.stop();
});

test('10 000 create/release cycles on one server: RSS growth < 5 MB', async (t) => {
  const server = await ProxyServer.start({ listenAddr: '127.0.0.1:0', caDir });
  const rss0 = await rss();
  const t0 = Date.now();
  await createReleaseCycles(server, 10000);
  const ms = Date.now() - t0;
  assert.equal(server.stats().contexts, 0);
  const rss1 = await rss();
  await server.stop();
  report(t, `10000 create/release: RSS ${fig(rss0)} -> ${fig(rss1)} (${fig(rss1 - rss0)}), ${ms} ms`);
  assert.ok(rss1 - rss0 < 5 * MB, `10000 create/release cycles grew RSS by ${fig(rss1 - rss0)}`);
});

test('200 start/stop cycles with a gc() after each stop: RSS growth < 5 MB (nothing leaks for good)', async (t) => {
  const rss0 = await rss();
  const t0 = Date.now();
  await startStopCycles(200, { gcEach: true });
  const ms = Date.now() - t0;
  const rss1 = await rss();
  report(t, `200 start/stop, gc() after each: RSS ${fig(rss0)} -> ${fig(rss1)} (${fig(rss1 - rss0)}), ${ms} ms`);
  assert.ok(rss1 - rss0 < 5 * MB, `200 start/stop cycles (gc after each) grew RSS by ${fig(rss1 - rss0)}`);
});

// SPEC §4: stop() "frees all memory". A stopped server must not hold its native memory until
// the garbage collector happens to finalize the JS handle (V8 does not see that memory, so
// hundreds of stopped servers can pile up between two collections).
test('200 start/stop cycles, gc() only before and after: RSS growth < 5 MB (stop() frees)', async (t) => {
  const rss0 = await rss();
  const t0 = Date.now();
  await startStopCycles(200);
  const ms = Date.now() - t0;
  const rss1 = await rss();
  report(t, `200 start/stop, no gc() in between: RSS ${fig(rss0)} -> ${fig(rss1)} (${fig(rss1 - rss0)}), ${ms} ms; ` +
    `gc exposed by the command line: ${process.execArgv.includes('--expose-gc')}`);
  assert.ok(rss1 - rss0 < 5 * MB, `200 start/stop cycles grew RSS by ${fig(rss1 - rss0)}`);
});

test('stop() is idempotent: concurrent and repeated calls all resolve', async () => {
  const s = await ProxyServer.start({ listenAddr: '127.0.0.1:0', caDir });
  const ctx = await s.createContext({ webContentsId: 1, route: null });
  const [a, b] = await Promise.all([s.stop(), s.stop()]);
  assert.equal(a, undefined);
  assert.equal(b, undefined);
  await s.stop();
  // A stopped server: stats are zeros, getContext null, a new context is refused by a rejection.
  assert.equal(s.stats().contexts, 0);
  assert.equal(s.getContext(1), null);
  const p = s.createContext({ webContentsId: 2, route: null });
  assert.ok(p instanceof Promise, 'createContext on a stopped server returns a promise');
  await assert.rejects(p, (err) => err instanceof Error && /stopped/.test(err.message));
  await ctx.release(); // releasing after stop is harmless
  // The port is free again.
  const port = s.port;
  assert.equal(typeof port, 'number');
});

test('stop() closes the listener: connections to the old port are refused', async () => {
  const s = await ProxyServer.start({ listenAddr: '127.0.0.1:0', caDir });
  const port = s.port;
  await s.stop();
  await assert.rejects(h.rawGet(port, 'http://127.0.0.1:1/'), (err) => err.code === 'ECONNREFUSED');
});

function runNode(script, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { cwd: h.tmpDir(), env: h.childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let startedAt = null;
    const t0 = Date.now();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node -e did not exit within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`));
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      if (startedAt === null && out.includes('started')) startedAt = Date.now();
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const end = Date.now();
      resolve({ code, signal, out, err, totalMs: end - t0, afterStartMs: startedAt === null ? null : end - startedAt });
    });
  });
}

const NODE_E = {
  'a server': `require(PKG).ProxyServer.start({listenAddr:'127.0.0.1:0', caDir:CA}).then((s) => console.log('started', s.port));`,
  'two servers (4 threads), a context': `const {ProxyServer} = require(PKG);
    ProxyServer.start({listenAddr:'127.0.0.1:0', caDir:CA, threads: 4}).then(async (s) => {
      await s.createContext({webContentsId: 1, route: null});
      const t = await ProxyServer.start({listenAddr:'127.0.0.1:0', caDir:CA});
      console.log('started', s.port, t.port);
    });`,
  // The "listening" event is still queued for the logger when the script returns.
  'a server with a logging callback': `require(PKG).ProxyServer.start({listenAddr:'127.0.0.1:0', caDir:CA, logging: (e) => {}})
    .then((s) => console.log('started', s.port));`,
};

for (const [name, body] of Object.entries(NODE_E)) {
  test(`node -e that starts ${name} and returns exits by itself (code 0), within 3 s`, async (t) => {
    const r = await runNode(`const CA = ${JSON.stringify(caDir)}, PKG = ${JSON.stringify(h.REPO)};\n${body}`);
    report(t, `node -e (${name}): exit code ${r.code}, signal ${r.signal}, ${r.afterStartMs} ms after "started", ${r.totalMs} ms in all`);
    assert.equal(r.signal, null, `killed by ${r.signal}; stderr:\n${r.err.trim().split('\n').slice(0, 4).join('\n')}`);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^started \d+/);
    assert.ok(r.afterStartMs !== null && r.afterStartMs < 3000, `exited ${r.afterStartMs} ms after starting`);
  });
}
