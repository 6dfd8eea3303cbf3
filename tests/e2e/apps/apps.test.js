#!/usr/bin/env node
// Real dev servers through the whole preview chain (issue 8), in Debian's chromium driven by
// playwright-core. Nothing is mocked; everything runs on loopback, ports chosen at run time:
//
//   Chromium ──(proxy http://127.0.0.1:<pp>, a routed context's credentials)──▶
//   cmux-preview-proxy (TLS interception) ──(TLS, h2, one connection)──▶ cmux-proxy ──▶ app
//
// The apps (tests/e2e/apps/): a Vite + React and a Vite + Vue fixture (each run from a
// throwaway copy, so the HMR edits never touch the checked-in files), and realtime-server.js
// (SSE, Socket.IO, a WebSocket echo, a 50 MB asset generated into a temporary directory).
// Every case that has a direct-to-origin counterpart runs it too (a context without a proxy),
// and the timings are printed side by side at the end.
//
//   idle.open      a ws:// and a wss:// WebSocket are opened first and checked last (idle ≥ 90 s)
//   react / vue    the app renders; editing Message.{jsx,vue} updates the DOM through Vite's HMR
//                  WebSocket without a reload (no main-frame navigation, the window and the
//                  component state survive), over http://localhost:<port>/ and https:// (h2)
//   modules        a cold page load of 300 modules: no error, and the fresh preview proxy
//                  opened exactly one connection to cmux-proxy besides the page's WebSockets
//   sse            100 events in order, each arriving < 200 ms after it was sent
//   socket.io      polling → WebSocket upgrade, 1 000 round trips, reconnection after a restart
//   big            50 MB intact (SHA-256), throughput vs direct
//   late           a dev server that is not up yet: 502 page; a reload after it started works
//   idle.check     the idle WebSockets are still open after 90 s and still echo
//
// Run: node --test-reporter=spec tests/e2e/apps/apps.test.js   (ctest: e2e.apps)
// Env: CMUX_BUILD_DIR (default <repo>/build), CMUX_E2E_CHROMIUM (default /usr/bin/chromium),
// CMUX_E2E_DUMP_LOG=1 (print the preview proxy's --log output at the end).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const { chromium } = require('playwright-core');

const L = require('./lib.js');

const { H } = L;

const IDLE_MS = 90000;
const MODULES = 300;
const SSE_EVENTS = 100;
const SSE_INTERVAL_MS = 20;
const SSE_MAX_LATENCY_MS = 200;
const IO_ROUND_TRIPS = 1000;
const BIG_BYTES = 50 * 1024 * 1024;
const BIG_ROUNDS = 3;

const state = {};
const report = [];
const note = (line) => report.push(line);
const timings = {}; // case -> mode -> value (printed side by side at the end)
const timing = (what, mode, value) => {
  timings[what] = timings[what] || {};
  timings[what][mode] = value;
};

// ------------------------------------------------------------------------------------------
// setup / teardown

// 50 MB of random bytes, written in 1 MiB pieces; returns its SHA-256 (hex).
function writeBigFile(file, bytes) {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'w');
  for (let done = 0; done < bytes;) {
    const chunk = crypto.randomBytes(Math.min(1 << 20, bytes - done));
    fs.writeSync(fd, chunk);
    hash.update(chunk);
    done += chunk.length;
  }
  fs.closeSync(fd);
  return hash.digest('hex');
}

before(async () => {
  const t0 = Date.now();
  L.requireBuilt();
  const tmp = H.tmpDir('cmux-apps-');
  state.tmp = tmp;
  state.certs = H.makeCerts(tmp, L.MORPH_HOST);
  state.caDir = path.join(tmp, 'preview-ca');
  state.bigFile = path.join(tmp, 'big.bin');
  state.bigSha = writeBigFile(state.bigFile, BIG_BYTES);

  state.reactRoot = L.copyFixture('react-app', tmp);
  state.many = L.addManyModules(state.reactRoot, MODULES);
  state.vueRoot = L.copyFixture('vue-app', tmp);

  state.cmux = await L.startCmuxProxy(state.certs);
  state.pp = await L.startPreviewProxy(state.cmux, state.certs, state.caDir);
  state.spki = H.spkiSha256(fs.readFileSync(path.join(state.caDir, 'ca.crt'), 'utf8'));
  [state.rtA, state.rtB, state.react, state.vue] = await Promise.all([
    L.startRealtime(state.bigFile),
    L.startRealtime(null),
    L.startVite(state.reactRoot),
    L.startVite(state.vueRoot),
  ]);
  state.browser = await chromium.launch({
    executablePath: L.CHROMIUM,
    headless: true,
    args: [...L.CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${state.spki}`],
    timeout: 30000,
  });
  // Vite transforms a module on its first request: one direct load of each app first, so the
  // measured loads (direct and through the chain) all find Vite warm.
  for (const [app, vite] of [['react', state.react], ['vue', state.vue]]) {
    const context = await state.browser.newContext();
    const page = await context.newPage();
    await page.goto(`http://localhost:${vite.port}/`, { timeout: 60000 });
    await page.waitForFunction((n) => {
      const f = document.getElementById('framework');
      return f && f.textContent === n;
    }, app, { timeout: 60000 });
    await context.close();
  }
  note(`setup ${Date.now() - t0} ms: cmux-proxy ${state.cmux.addr} (metrics ${state.cmux.metricsAddr}), ` +
    `preview proxy 127.0.0.1:${state.pp.port}, Vite ${state.react.info.vite} react :${state.react.port} ` +
    `vue :${state.vue.port}, realtime :${state.rtA.port} and :${state.rtB.port}, Chromium ${state.browser.version()}`);
});

after(async () => {
  if (state.browser) await state.browser.close().catch(() => {});
  for (const p of [state.pp, state.cmux, state.rtA, state.rtB, state.react, state.vue, state.late]) {
    if (p) await H.stopProcess(p);
  }
  if (process.env.CMUX_E2E_DUMP_LOG && state.pp) {
    process.stdout.write('\n==== preview proxy stderr ====\n' + state.pp.stderr.join('\n') + '\n');
  }
  const modes = ['direct', 'chain http', 'chain https'];
  const rows = Object.entries(timings).map(([what, byMode]) =>
    `  ${what.padEnd(34)}${modes.map((m) => String(byMode[m] ?? '-').padStart(16)).join('')}`);
  process.stdout.write('\n==== timings (direct-to-origin vs through the chain) ====\n' +
    `  ${''.padEnd(34)}${modes.map((m) => m.padStart(16)).join('')}\n${rows.join('\n')}\n` +
    '\n==== notes ====\n' + report.join('\n') + '\n');
});

// ------------------------------------------------------------------------------------------
// modes: direct (no proxy), the chain with an http:// page, the chain with an https:// page

const MODES = ['direct', 'chain http', 'chain https'];

function newContext(mode, pp = state.pp) {
  return mode === 'direct' ? state.browser.newContext() : L.chainContext(state.browser, pp);
}

function urlFor(mode, port, p = '/') {
  return `${mode === 'chain https' ? 'https' : 'http'}://localhost:${port}${p}`;
}

// The preview proxy's log events for `port` since line `from`.
function eventsFor(port, from, pp = state.pp) {
  return L.logEvents(pp, from).filter((e) => e.port === port);
}

// Log lines trail the exchange (an upgrade is logged when it ends, a request when its response
// is done): waits until pred(events) holds, bounded, and returns the events.
async function awaitEvents(port, from, pred, what, pp = state.pp) {
  let evs = [];
  await H.waitFor(() => pred((evs = eventsFor(port, from, pp))), what, 10000).catch((err) => {
    throw new Error(`${err.message}; events: ${JSON.stringify(evs.slice(-20))}`);
  });
  return evs;
}

// Evidence that a chain page really went through the proxies: the preview proxy logged the
// request of `reqPath` for this port, intercepted (h2 inside the tunnel) for https pages, and it
// went to cmux-proxy over HTTP/2.
// A stream the page itself cancels (an EventSource it closes) is logged with the client's
// `error` and without `upstream` (the forwarding was cut short).
async function assertThroughChain(mode, port, from, reqPath) {
  const evs = await awaitEvents(port, from, (es) => es.some((e) => e.path === reqPath && e.status === 200),
    `the preview proxy's log entry for ${reqPath} on port ${port}`);
  const e = evs.find((x) => x.path === reqPath && x.status === 200);
  if (!e.error) assert.equal(e.upstream, 'h2', `preview proxy -> cmux-proxy: ${JSON.stringify(e)}`);
  if (mode === 'chain https') {
    assert.ok(e.intercepted, `an https page is served inside the intercepted tunnel: ${JSON.stringify(e)}`);
    assert.equal(e.protocol, 'h2', `Chromium speaks h2 inside the intercepted tunnel: ${JSON.stringify(e)}`);
  } else {
    assert.equal(e.protocol, 'http/1.1', `Chromium -> http:// proxy: ${JSON.stringify(e)}`);
  }
  return evs;
}

// ------------------------------------------------------------------------------------------
// idle WebSockets, opened first, checked by the last test

test('idle.open: a ws:// and a wss:// WebSocket through the chain, to be checked after 90 s idle', async () => {
  const port = state.rtA.port;
  const from = state.pp.stderr.length;
  state.idle = { context: await L.chainContext(state.browser, state.pp), pages: {} };
  for (const scheme of ['http', 'https']) {
    const page = await L.trackedPage(state.idle.context);
    const resp = await page.goto(`${scheme}://localhost:${port}/`, { timeout: 30000 });
    assert.equal(resp.status(), 200);
    const r = await page.evaluate(() => window.wsOpen('idle'));
    assert.equal(r.readyState, 1, `WebSocket ${r.url} did not open: ${JSON.stringify(r)}`);
    const echo = await page.evaluate(() => window.wsEchoOnce('idle', 'before the idle period'));
    assert.deepEqual(echo, { data: 'before the idle period' });
    state.idle.pages[scheme] = page;
  }
  state.idle.since = Date.now();
  const m = await L.cmuxMetrics(state.cmux);
  state.idle.tunnels = m.active_tunnels;
  assert.ok(m.active_tunnels >= 2, `cmux-proxy holds ${m.active_tunnels} upgraded connections (2 expected)`);
  // Both went through the preview proxy (upgrades are logged when they end: check the pages).
  await awaitEvents(port, from, (es) => es.some((e) => e.path === '/' && e.status === 200 && e.intercepted),
    'the intercepted https page in the preview proxy\'s log');
});

// ------------------------------------------------------------------------------------------
// Vite + React, Vite + Vue: render, HMR without reload

const APPS = {
  react: {
    file: 'src/Message.jsx',
    source: (text) => `export default function Message() {\n  return <p id="message">${text}</p>;\n}\n`,
  },
  vue: {
    file: 'src/Message.vue',
    source: (text) => `<template>\n  <p id="message">${text}</p>\n</template>\n`,
  },
};

// Loads the app and waits until it rendered and Vite's client says its HMR socket is connected.
async function loadViteApp(page, url, name) {
  const t0 = Date.now();
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 30000 });
  assert.ok(resp, `no response for ${url}`);
  assert.equal(resp.status(), 200, `${url}: ${resp.status()} ${await resp.text().catch(() => '')}`);
  await page.waitForFunction((n) => {
    const f = document.getElementById('framework');
    return f && f.textContent === n && document.getElementById('message');
  }, name, { timeout: 30000 });
  const loadMs = Date.now() - t0;
  await H.waitFor(() => page.consoleLines.some((l) => l.includes('[vite] connected.')),
    `"[vite] connected." in the console of ${url} (${page.consoleLines.join(' | ')})`, 30000);
  return loadMs;
}

let editCounter = 0;
const lastWrite = new Map(); // file -> time of the test's last write
const WATCH_THROTTLE_MS = 100;

// Clicks the app's counter once (component state that a reload would lose).
async function clickCounter(page) {
  await page.click('#count');
  await page.waitForFunction(() => document.getElementById('count').textContent.trim() === 'count is 1', null,
    { timeout: 10000 }).catch(async (err) => {
    const dom = await page.evaluate(() => document.body.innerHTML);
    throw new Error(`the counter did not count: ${err.message}\nDOM: ${dom}\n` +
      `console: ${page.consoleLines.join(' | ')}`);
  });
}

// Edits the Message component and waits for the DOM to show it; asserts it was a hot update
// (same document, no navigation, component state kept: the counter clicked once by
// clickCounter()). Returns the write-to-DOM time.
async function hmrEdit(page, app, root, label) {
  const spec = APPS[app];
  const text = `edited ${label.replace(/[^a-z0-9]+/gi, ' ')} ${++editCounter}`;
  // State that a reload would lose: the counter (clicked once by the caller) and a marker on window.
  const marker = crypto.randomBytes(8).toString('hex');
  const before = {
    navigations: page.navigations,
    perf: await page.evaluate((m) => {
      window.__hmrMarker = m;
      window.__hmrSeen = null;
      return performance.getEntriesByType('navigation').length;
    }, marker),
    console: page.consoleLines.length,
  };
  await page.evaluate((t) => {
    const check = () => {
      const el = document.getElementById('message');
      if (!window.__hmrSeen && el && el.textContent === t) window.__hmrSeen = Date.now();
    };
    new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true });
  }, text);
  // Vite's watcher (chokidar 3) drops a second "change" of the same file within 50 ms of the
  // previous one (its throttle window), so an edit that quick after the previous one is never
  // seen. No person edits that fast; the test waits the window out (measured from its own last
  // write of this file, which precedes the watcher's event).
  const file = path.join(root, spec.file);
  await H.waitFor(() => Date.now() - (lastWrite.get(file) || 0) >= WATCH_THROTTLE_MS, 'the watcher throttle window');
  const t0 = Date.now();
  fs.writeFileSync(file, spec.source(text));
  lastWrite.set(file, t0);
  await page.waitForFunction(() => window.__hmrSeen, null, { timeout: 20000 }).catch((err) => {
    const reloaded = page.navigations !== before.navigations ? ' (the page was reloaded instead of hot-updated)' : '';
    throw new Error(`the DOM never showed "${text}"${reloaded}: ${err.message}\n` +
      `console: ${page.consoleLines.slice(before.console).join(' | ')}`);
  });
  const after = await page.evaluate(() => ({
    seen: window.__hmrSeen,
    marker: window.__hmrMarker,
    perf: performance.getEntriesByType('navigation').length,
    count: document.getElementById('count').textContent.trim(),
    message: document.getElementById('message').textContent,
  }));
  const consoleAfter = page.consoleLines.slice(before.console);
  assert.equal(after.message, text);
  assert.equal(after.marker, marker, `the page was reloaded (window state lost); console: ${consoleAfter.join(' | ')}`);
  assert.equal(page.navigations, before.navigations, 'a main-frame navigation happened: not a hot update');
  assert.equal(after.perf, before.perf, 'the performance navigation count grew');
  assert.equal(after.count, 'count is 1', 'the component state was lost');
  assert.ok(consoleAfter.some((l) => l.includes('[vite] hot updated: /' + spec.file)),
    `Vite's client did not report a hot update: ${consoleAfter.join(' | ')}`);
  assert.ok(!consoleAfter.some((l) => /page reload|server connection lost/.test(l)),
    `Vite's client reloaded or lost its socket: ${consoleAfter.join(' | ')}`);
  return after.seen - t0;
}

for (const app of Object.keys(APPS)) {
  for (const mode of MODES) {
    test(`${app}: ${mode} — renders, an edit is hot-updated without a reload`, async () => {
      const vite = state[app];
      const root = app === 'react' ? state.reactRoot : state.vueRoot;
      const from = state.pp.stderr.length;
      const context = await newContext(mode);
      try {
        const page = await L.trackedPage(context);
        const loadMs = await loadViteApp(page, urlFor(mode, vite.port), app);
        const errors = page.consoleLines.filter((l) => l.startsWith('error') || l.startsWith('pageerror'));
        assert.deepEqual(errors, [], 'console errors while loading');
        await clickCounter(page);
        let hmrMs = [];
        for (let i = 0; i < 3; i++) hmrMs.push(await hmrEdit(page, app, root, `${app} ${mode}`));
        hmrMs = hmrMs.map((x) => Math.max(x, 0));
        timing(`${app} page load (ms)`, mode, loadMs);
        timing(`${app} HMR edit->DOM median (ms)`, mode, L.median(hmrMs));
        if (mode !== 'direct') {
          const main = app === 'react' ? '/src/main.jsx' : '/src/main.js';
          await assertThroughChain(mode, vite.port, from, main);
          // The HMR socket (path "/?token=…", logged without the query) was upgraded through the
          // preview proxy (logged when it ends: close the page first), and the updated module
          // came through it too.
          await page.close();
          const evs = await awaitEvents(vite.port, from,
            (es) => es.some((e) => e.event === 'upgrade-request' && e.status === 101),
            `the HMR WebSocket upgrade in the preview proxy's log`);
          const up = evs.find((e) => e.event === 'upgrade-request' && e.status === 101);
          assert.equal(up.path, '/', JSON.stringify(up));
          assert.ok(up.intercepted, `a loopback WebSocket is served inside the intercepted tunnel: ${JSON.stringify(up)}`);
          if (mode === 'chain https') {
            assert.equal(up.protocol, 'h2', `wss over the page's h2 (RFC 8441): ${JSON.stringify(up)}`);
          }
          assert.ok(evs.some((e) => e.path === '/' + APPS[app].file && e.status === 200),
            `the hot-updated module did not come through the preview proxy: ${JSON.stringify(evs.slice(-10))}`);
          note(`[${app} ${mode}] HMR socket: ${up.method} ${up.protocol} intercepted=${up.intercepted} ` +
            `upstream=${up.upstream}; modules: protocol=${evs.find((e) => e.path === main).protocol} upstream=h2`);
        }
        note(`[${app} ${mode}] load ${loadMs} ms; HMR edit->DOM ${hmrMs.join(', ')} ms`);
      } finally {
        await context.close();
      }
    });
  }
}

// ------------------------------------------------------------------------------------------
// a cold page load of 300 modules

test(`modules: a cold load of ${MODULES} modules — no error, one upstream connection`, async () => {
  const port = state.react.port;
  // Warm Vite's transform cache with a direct load first, so every measured load finds it warm.
  {
    const ctx = await newContext('direct');
    const page = await ctx.newPage();
    await page.goto(`http://localhost:${port}/many.html`, { timeout: 60000 });
    await page.waitForFunction(() => document.body.dataset.sum, null, { timeout: 60000 });
    await ctx.close();
  }
  for (const mode of MODES) {
    // A fresh preview proxy: its connections to cmux-proxy are only this page's.
    const pp = mode === 'direct' ? null
      : await L.startPreviewProxy(state.cmux, state.certs, state.caDir, `preview proxy (${mode} modules)`);
    const m0 = await L.cmuxMetrics(state.cmux);
    const context = await newContext(mode, pp);
    try {
      const page = await L.trackedPage(context);
      const responses = [];
      const failed = [];
      let sockets = 0;
      page.on('response', (r) => responses.push({ url: r.url(), status: r.status() }));
      page.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure() && r.failure().errorText}`));
      page.on('websocket', () => sockets++);
      const t0 = Date.now();
      const resp = await page.goto(urlFor(mode, port, '/many.html'), { timeout: 60000 });
      assert.equal(resp.status(), 200);
      await page.waitForFunction(() => document.body.dataset.sum, null, { timeout: 60000 });
      const loadMs = Date.now() - t0;
      const got = await page.evaluate(() => ({
        sum: Number(document.body.dataset.sum),
        count: Number(document.body.dataset.count),
      }));
      assert.deepEqual(got, { sum: state.many.sum, count: MODULES });
      const mods = responses.filter((r) => r.url.includes('/src/many/'));
      assert.equal(mods.length, MODULES, `${mods.length} module responses`);
      assert.deepEqual(mods.filter((r) => r.status !== 200), [], 'module responses that are not 200');
      assert.deepEqual(failed, [], 'failed requests');
      await H.waitFor(() => page.consoleLines.some((l) => l.includes('[vite] connected.')), 'Vite HMR socket', 30000);
      timing(`${MODULES}-module cold load (ms)`, mode, loadMs);
      if (mode === 'direct') {
        note(`[modules direct] ${responses.length} responses in ${loadMs} ms`);
        continue;
      }
      const m1 = await L.cmuxMetrics(state.cmux);
      const conns = m1.connections_total - m0.connections_total;
      const h2 = m1.total('http2') - m0.total('http2');
      // One HTTP/2 connection for every request, plus one HTTP/1.1 connection per WebSocket
      // (upgrades go to cmux-proxy over HTTP/1.1: Vite's HMR socket).
      assert.equal(sockets, 1, 'the page opened one WebSocket (Vite HMR)');
      assert.equal(conns, 1 + sockets,
        `the fresh preview proxy opened ${conns} connections to cmux-proxy (1 HTTP/2 + ${sockets} WebSocket expected)`);
      assert.ok(h2 >= MODULES, `cmux-proxy answered ${h2} requests over HTTP/2`);
      const isModule = (e) => e.path && e.path.startsWith('/src/many/');
      const evs = await awaitEvents(port, 0, (es) => es.filter(isModule).length >= MODULES,
        `${MODULES} module requests in the preview proxy's log`, pp);
      const modEvents = evs.filter(isModule);
      assert.deepEqual(modEvents.filter((e) => e.status !== 200 || e.upstream !== 'h2' || e.error), [],
        'module requests not answered 200 over the upstream HTTP/2 connection');
      const protos = [...new Set(modEvents.map((e) => e.protocol))];
      note(`[modules ${mode}] ${responses.length} responses in ${loadMs} ms; Chromium -> preview proxy ` +
        `${protos.join('/')}; preview proxy -> cmux-proxy: ${conns} connections (${h2} requests over ` +
        `HTTP/2, ${sockets} WebSocket)`);
    } finally {
      await context.close();
      if (pp) await H.stopProcess(pp);
    }
  }
});

// ------------------------------------------------------------------------------------------
// Server-Sent Events

test(`sse: ${SSE_EVENTS} events in order, each within ${SSE_MAX_LATENCY_MS} ms of being sent`, async () => {
  const port = state.rtA.port;
  for (const mode of MODES) {
    const from = state.pp.stderr.length;
    const context = await newContext(mode);
    try {
      const page = await context.newPage();
      assert.equal((await page.goto(urlFor(mode, port), { timeout: 30000 })).status(), 200);
      const r = await page.evaluate(([n, ms]) => window.sseRun(n, ms), [SSE_EVENTS, SSE_INTERVAL_MS]);
      assert.equal(r.error, null, `${mode}: ${r.error}`);
      assert.deepEqual(r.got.map((e) => e.i), Array.from({ length: SSE_EVENTS }, (_, i) => i), 'events out of order');
      const lat = r.got.map((e) => e.recv - e.sent);
      const late = r.got.filter((e) => e.recv - e.sent >= SSE_MAX_LATENCY_MS);
      assert.deepEqual(late, [], `${mode}: events that arrived ${SSE_MAX_LATENCY_MS} ms or more after they were sent`);
      timing('SSE latency median / max (ms)', mode, `${L.median(lat)} / ${Math.max(...lat)}`);
      if (mode !== 'direct') await assertThroughChain(mode, port, from, '/events');
      note(`[sse ${mode}] latency ms: median ${L.median(lat)}, max ${Math.max(...lat)}, min ${Math.min(...lat)}`);
    } finally {
      await context.close();
    }
  }
});

// ------------------------------------------------------------------------------------------
// Socket.IO

const ioPages = {};

test(`socket.io: polling upgrades to WebSocket, ${IO_ROUND_TRIPS} round trips`, async () => {
  const port = state.rtB.port;
  for (const mode of MODES) {
    const from = state.pp.stderr.length;
    const context = await newContext(mode);
    const page = await L.trackedPage(context);
    ioPages[mode] = { context, page };
    assert.equal((await page.goto(urlFor(mode, port), { timeout: 30000 })).status(), 200);
    await page.evaluate(() => window.ioStart());
    await page.waitForFunction(() => {
      const s = window.ioState();
      return s.connected && s.engines.length === 1 && s.engines[0].upgrades.includes('websocket');
    }, null, { timeout: 30000 }).catch(async (err) => {
      const st = await page.evaluate(() => window.ioState());
      throw new Error(`${mode}: no upgraded connection: ${err.message}; ${JSON.stringify(st)}`);
    });
    const st = await page.evaluate(() => window.ioState());
    assert.equal(st.engines[0].first, 'polling', 'Socket.IO starts with HTTP long-polling');
    const r = await page.evaluate((n) => window.ioRoundTrips(n), IO_ROUND_TRIPS);
    assert.ok(r.ok, `${mode}: ${r.error}`);
    assert.equal(r.transport, 'websocket');
    assert.deepEqual(r.instances, [state.rtB.info.instance]);
    timing(`Socket.IO ${IO_ROUND_TRIPS} round trips (ms)`, mode, Math.round(r.ms));
    if (mode !== 'direct') {
      await assertThroughChain(mode, port, from, '/socket.io/');
      // The upgrade itself is logged when it ends (after the restart test).
    }
    note(`[socket.io ${mode}] first transport ${st.engines[0].first} -> ${st.engines[0].upgrades.join(',')}; ` +
      `${IO_ROUND_TRIPS} round trips in ${Math.round(r.ms)} ms`);
  }
  await ioPages.direct.context.close();
  delete ioPages.direct;
});

test('socket.io: every page reconnects (and upgrades again) after the server restarts', async () => {
  assert.ok(ioPages['chain http'] && ioPages['chain https'], 'the previous test left no pages');
  const port = state.rtB.port;
  const oldInstance = state.rtB.info.instance;
  const t0 = Date.now();
  await H.stopProcess(state.rtB);
  for (const { page } of Object.values(ioPages)) {
    await page.waitForFunction(() => window.ioState().disconnects >= 1, null, { timeout: 15000 });
  }
  const downMs = Date.now() - t0;
  state.rtB = await L.startRealtime(null, port);
  assert.notEqual(state.rtB.info.instance, oldInstance);
  const t1 = Date.now();
  for (const [mode, { page }] of Object.entries(ioPages)) {
    await page.waitForFunction(() => {
      const s = window.ioState();
      const last = s.engines[s.engines.length - 1];
      return s.connected && s.connects >= 2 && s.engines.length >= 2 && last.upgrades.includes('websocket');
    }, null, { timeout: 30000 }).catch(async (err) => {
      const st = await page.evaluate(() => window.ioState());
      throw new Error(`${mode}: did not reconnect: ${err.message}; ${JSON.stringify(st)}`);
    });
    const st = await page.evaluate(() => window.ioState());
    const r = await page.evaluate(() => window.ioRoundTrips(50));
    assert.ok(r.ok, `${mode}: ${r.error}`);
    assert.deepEqual(r.instances, [state.rtB.info.instance], 'answered by the restarted server');
    note(`[socket.io ${mode}] restart: disconnected in ${downMs} ms, reconnected ${Date.now() - t1} ms after the ` +
      `restart (${st.engines.length} engines, ${st.errors} connect errors meanwhile, last: ${st.lastError})`);
  }
  for (const { context } of Object.values(ioPages)) await context.close();
  // Now the WebSockets have ended, the preview proxy has logged their upgrades.
  const upgraded = (e) => e.event === 'upgrade-request' && e.status === 101;
  const evs = await awaitEvents(port, 0, (es) => es.filter(upgraded).length >= 4,
    'four Socket.IO WebSocket upgrades (2 pages x 2 servers) in the preview proxy\'s log');
  note(`[socket.io] upgrades through the preview proxy: ${evs.filter((e) => e.event === 'upgrade-request')
    .map((e) => `${e.method} ${e.protocol} status=${e.status}`).join('; ')}`);
});

// ------------------------------------------------------------------------------------------
// a 50 MB asset

test('big: a 50 MB asset arrives intact (SHA-256); throughput side by side with direct', async () => {
  const port = state.rtA.port;
  const pages = {};
  for (const mode of MODES) {
    const context = await newContext(mode);
    const page = await context.newPage();
    assert.equal((await page.goto(urlFor(mode, port), { timeout: 30000 })).status(), 200);
    pages[mode] = { context, page, rates: [] };
  }
  try {
    for (let round = 0; round < BIG_ROUNDS; round++) {
      for (const mode of MODES) {
        const r = await pages[mode].page.evaluate(() => window.bigFetch('/big.bin'));
        assert.equal(r.status, 200, mode);
        assert.equal(r.bytes, BIG_BYTES, `${mode}: ${r.bytes} bytes`);
        assert.equal(r.sha, state.bigSha, `${mode}: the 50 MB asset arrived corrupted`);
        pages[mode].rates.push(BIG_BYTES / 1e6 / (r.ms / 1000));
      }
    }
  } finally {
    for (const { context } of Object.values(pages)) await context.close();
  }
  const best = {};
  for (const mode of MODES) {
    best[mode] = Math.max(...pages[mode].rates);
    timing('50 MB download, best of 3 (MB/s)', mode, L.fmt(best[mode]));
    note(`[big ${mode}] MB/s per round: ${pages[mode].rates.map((x) => L.fmt(x)).join(', ')}`);
  }
  for (const mode of ['chain http', 'chain https']) {
    note(`[big ${mode}] ${L.fmt(best[mode] / best.direct, 2)}x direct`);
  }
});

// ------------------------------------------------------------------------------------------
// a dev server that is not up yet

test('late: a dev server that is not up yet gives a 502 page; a reload after it started works', async () => {
  const port = await L.freePort();
  const root = L.copyFixture('react-app', path.join(state.tmp, 'late'));
  const context = await newContext('chain http');
  try {
    const pages = {};
    for (const mode of ['chain http', 'chain https']) {
      const page = await L.trackedPage(context);
      const resp = await page.goto(urlFor(mode, port), { timeout: 30000 });
      assert.equal(resp.status(), 502, `${mode}: a dev server that is down`);
      const body = await resp.text();
      assert.match(body, /upstream request error/, `${mode}: the 502 page says what happened: ${body}`);
      assert.match(resp.headers()['content-type'] || '', /^text\/plain/);
      pages[mode] = page;
      note(`[late ${mode}] before the start: ${resp.status()} ${JSON.stringify(body.trim())}`);
    }
    state.late = await L.startVite(root, port);
    for (const [mode, page] of Object.entries(pages)) {
      const t0 = Date.now();
      const resp = await page.reload({ waitUntil: 'load', timeout: 60000 });
      assert.equal(resp.status(), 200, `${mode}: reload after the start`);
      await page.waitForFunction(() => {
        const f = document.getElementById('framework');
        return f && f.textContent === 'react' && document.getElementById('message');
      }, null, { timeout: 30000 });
      note(`[late ${mode}] reload after the start: 200, rendered in ${Date.now() - t0} ms`);
    }
  } finally {
    await context.close();
  }
});

// ------------------------------------------------------------------------------------------
// the idle WebSockets

test('idle.check: both WebSockets stay open through 90 s of silence, then still echo', async () => {
  assert.ok(state.idle && state.idle.since, 'idle.open did not run');
  const status = async () => {
    const out = {};
    for (const [scheme, page] of Object.entries(state.idle.pages)) {
      out[scheme] = await page.evaluate(() => window.wsStatus('idle'));
    }
    return out;
  };
  // Poll (once a second) until the idle period is over, failing at once if a socket closes.
  for (;;) {
    const st = await status();
    for (const [scheme, s] of Object.entries(st)) {
      assert.equal(s.readyState, 1,
        `the ${scheme} page's WebSocket closed after ${Date.now() - state.idle.since} ms idle: ${JSON.stringify(s)}`);
      assert.deepEqual(s.events, [], `${scheme}: ${JSON.stringify(s)}`);
    }
    if (Date.now() - state.idle.since >= IDLE_MS) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const idleMs = Date.now() - state.idle.since;
  for (const [scheme, page] of Object.entries(state.idle.pages)) {
    const echo = await page.evaluate(() => window.wsEchoOnce('idle', 'after the idle period'));
    assert.deepEqual(echo, { data: 'after the idle period' }, `${scheme}: no echo after ${idleMs} ms idle`);
  }
  const m = await L.cmuxMetrics(state.cmux);
  note(`[idle] ws:// and wss:// open after ${idleMs} ms idle and still echoing; cmux-proxy active tunnels ` +
    `${state.idle.tunnels} -> ${m.active_tunnels}`);
  await state.idle.context.close();
  const evs = await awaitEvents(state.rtA.port, 0,
    (es) => es.filter((e) => e.event === 'upgrade-request' && e.path === '/ws').length >= 2,
    'the two idle upgrades in the log');
  note(`[idle] upgrades: ${evs.filter((e) => e.event === 'upgrade-request' && e.path === '/ws')
    .map((e) => `${e.method} ${e.protocol} intercepted=${e.intercepted} status=${e.status} ` +
      `${Math.round(e.durationUs / 1e3)} ms`).join('; ')}`);
});
