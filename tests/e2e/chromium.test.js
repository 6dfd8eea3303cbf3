#!/usr/bin/env node
// Browser end-to-end test of the whole chain (issue 4, SPEC §3), in Debian's chromium driven by
// playwright-core. Nothing is mocked; everything runs on loopback with ports chosen by the OS:
//
//   Chromium ──(proxy: http:// or https://127.0.0.1:<pp>, Basic credentials of a context)──▶
//   build/bin/cmux-preview-proxy (--route base, --route ws1; TLS interception; --log)
//   ──(HTTPS, --resolve, test CA)──▶ build/bin/cmux-proxy (--tls-cert for
//   port-39379-morphvm-e2e.http.cloud.morph.so) ──▶ origin.js "app" on 127.0.0.1:<P>
//                                               └─▶ origin.js "ws1-app" on 127.18.0.1:<P>
//                                                   (workspace ws1, X-Cmux-Workspace-Internal)
//
// For each way of reaching the proxy (http:// and https://, the latter HTTP/2 over TLS with a
// 127.0.0.1 leaf of the preview proxy's local CA), a routed browser context:
//   1. loads http://localhost:<P>/app/ — page, script and fetch() from "app";
//   2. loads https://localhost:<P>/app/ (intercepted TLS) — nextHopProtocol is h2;
//   3. echoes 100 WebSocket messages from the https page (wss://) and from the http page (ws://);
//   4. a second context with the ws1 route's credentials reaches "ws1-app" on the same port, and
//      the first context never does (the origins' own request counters prove it).
// Every check also proves the traffic went through the proxies (the preview proxy's --log events
// for that context, and cmux-proxy's request counter), since Chromium bypasses proxies for
// localhost unless told otherwise (`<-loopback>`).
//
// Run: node --test-reporter=spec tests/e2e/chromium.test.js   (ctest: e2e.chromium)
// Env: CMUX_BUILD_DIR (default <repo>/build), CMUX_E2E_CHROMIUM (default /usr/bin/chromium),
// CMUX_E2E_DUMP_LOG=1 (print the preview proxy's whole --log output at the end).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const BUILD = path.resolve(process.env.CMUX_BUILD_DIR || path.join(REPO, 'build'));
const CHROMIUM = process.env.CMUX_E2E_CHROMIUM || '/usr/bin/chromium';
const ORIGIN_JS = path.join(REPO, 'tests', 'support', 'origin.js');

const MORPH_HOST = 'port-39379-morphvm-e2e.http.cloud.morph.so';
const BASE_ROUTE = `https://${MORPH_HOST}/`;
const WS1_ROUTE = 'https://cmux-e2e-ws1-8080.cmux.app/'; // same cmux-proxy origin, workspace ws1
const WS1_IP = '127.18.0.1'; // SPEC §2: workspace "ws1" -> 127.18.0.1
const APP = 'app';
const WS1_APP = 'ws1-app';
const WS_MESSAGES = 100;


// ------------------------------------------------------------------------------------------
// processes

// Child processes, temporary directories and their cleanup at exit are shared with the addon's
// suites (tests/js/helpers.js): one implementation of "start it, wait for its ready line".
const { startProcess, stopProcess, tmpDir, makeCerts, CHROMIUM_ARGS } = require('../js/helpers.js');

function startOrigin(host, name, port) {
  return startProcess(`origin ${name}`, process.execPath,
    [ORIGIN_JS, '--host', host, '--port', String(port), '--name', name],
    (lines) => lines.some((l) => l.startsWith('{'))).then((p) => {
    p.info = JSON.parse(p.stdout.find((l) => l.startsWith('{')));
    return p;
  });
}

// "app" on 127.0.0.1:<P> and "ws1-app" on 127.18.0.1:<P> — the same port, so only the workspace
// header can tell them apart.
async function startOrigins() {
  let lastError;
  for (let attempt = 0; attempt < 10; attempt++) {
    const app = await startOrigin('127.0.0.1', APP, 0);
    try {
      const ws1 = await startOrigin(WS1_IP, WS1_APP, app.info.port);
      return { app, ws1 };
    } catch (err) {
      lastError = err; // the port happened to be taken on 127.18.0.1: try another one
      await stopProcess(app);
    }
  }
  throw lastError;
}


// base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate, with the openssl CLI, for
// --ignore-certificate-errors-spki-list.
function spkiHash(certPath) {
  const pub = execFileSync('openssl', ['x509', '-in', certPath, '-pubkey', '-noout']);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
  const digest = execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: der });
  return digest.toString('base64');
}

// ------------------------------------------------------------------------------------------
// observation: cmux-proxy's metrics, the preview proxy's log, the origins' counters

function httpGetJson(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode} ${body}`));
        else resolve(url.endsWith('/metrics') ? body : JSON.parse(body));
      });
    }).on('error', reject);
  });
}

async function cmuxRequests(protocol) {
  const text = await httpGetJson(`http://${state.cmuxMetrics}/metrics`);
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^cmux_proxy_requests_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (m && (!protocol || m[1].includes(`protocol="${protocol}"`))) sum += Number(m[2]);
  }
  return sum;
}

async function originRequests(origin) {
  const s = await httpGetJson(`http://${origin.info.host}:${origin.info.port}/_requests`);
  return s.requests;
}

function logEvents() {
  const out = [];
  for (const line of state.pp.stderr) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // not an event
    }
  }
  return out;
}

// Runs fn; then returns {result, events: the preview proxy's log events since, cmux: cmux-proxy's
// request delta, app / ws1: each origin's request delta}. Log lines and counters trail the
// browser a little (the proxy logs an exchange when it ends), so the snapshot is retaken until
// `ready(snapshot)` holds (the positive evidence the caller expects) or 5 s pass; the caller's
// assertions then run on the last snapshot.
async function observe(fn, ready = () => true) {
  const evBefore = logEvents().length;
  const cmuxBefore = await cmuxRequests();
  const appBefore = await originRequests(state.origins.app);
  const ws1Before = await originRequests(state.origins.ws1);
  const result = await fn();
  const deadline = Date.now() + 5000;
  for (;;) {
    const snap = {
      result,
      events: logEvents().slice(evBefore),
      cmux: (await cmuxRequests()) - cmuxBefore,
      app: (await originRequests(state.origins.app)) - appBefore,
      ws1: (await originRequests(state.origins.ws1)) - ws1Before,
    };
    if (ready(snap) || Date.now() > deadline) return snap;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Readiness predicates for observe().
const sawPage = (wcId, key) => (s) => s[key] >= 3 && s.cmux >= 3 &&
  eventsOf(s.events, wcId).filter((e) => e.path && e.path.startsWith('/app/')).length >= 3;
const sawUpgrade = (wcId) => (s) =>
  eventsOf(s.events, wcId).some((e) => e.event === 'upgrade-request' && e.path === '/app/ws');
const sawRoot = (wcId, key) => (s) => s[key] >= 1 &&
  eventsOf(s.events, wcId).some((e) => e.path === '/');

function eventsOf(events, webContentsId) {
  return events.filter((e) => e.webContentsId === webContentsId);
}

function summarize(events) {
  // event/protocol/upstream/intercepted/status per event, for the report.
  return events.map((e) => [e.event, e.method, `${e.host}:${e.port}${e.path || ''}`,
    `proto=${e.protocol}`, e.intercepted ? 'intercepted' : '', e.upstream ? `up=${e.upstream}` : '',
    `status=${e.status}`, e.error ? `error=${e.error}` : ''].filter(Boolean).join(' '));
}

// ------------------------------------------------------------------------------------------
// browser helpers

async function loadApp(page, url) {
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 20000 });
  assert.ok(resp, `no response for ${url}`);
  assert.equal(resp.status(), 200, `${url}: status ${resp.status()}`);
  await page.waitForFunction(() => document.body && document.body.dataset.fetch, null,
    { timeout: 15000 });
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    const proto = (part) => {
      const e = res.find((r) => r.name.includes(part));
      return e ? e.nextHopProtocol : null;
    };
    return {
      title: document.title,
      name: document.getElementById('name').textContent,
      fetchState: document.body.dataset.fetch,
      fetch: (() => {
        try {
          return JSON.parse(document.getElementById('fetch').textContent);
        } catch {
          return document.getElementById('fetch').textContent;
        }
      })(),
      navProtocol: nav ? nav.nextHopProtocol : null,
      scriptProtocol: proto('/app/app.js'),
      fetchProtocol: proto('/app/data.json'),
    };
  });
}

function assertApp(info, name, host) {
  assert.equal(info.name, name, `the page came from the wrong app: ${JSON.stringify(info)}`);
  assert.equal(info.fetchState, 'done', `the page's fetch() failed: ${JSON.stringify(info.fetch)}`);
  assert.equal(info.fetch.status, 200);
  assert.equal(info.fetch.origin, name, 'fetch() answered by the wrong app');
  assert.equal(info.fetch.body.name, name);
  assert.equal(info.fetch.body.host, host, 'the origin saw another Host');
  assert.equal(info.fetch.body.url, '/app/data.json?from=fetch');
}

// The text of `/` (origin.js: "hello from <name>") fetched by navigation.
async function rootText(page, url) {
  const resp = await page.goto(url, { timeout: 20000 });
  assert.equal(resp.status(), 200);
  return (await resp.text()).trim();
}

async function wsEcho(page, n) {
  const r = await page.evaluate((count) => window.wsEcho(count), n);
  const expected = Array.from({ length: n }, (_, i) => `message ${i} ${'x'.repeat(i)}`);
  assert.equal(r.error, null, `WebSocket ${r.url}: ${r.error} after ${r.echoed.length} echoes`);
  assert.deepEqual(r.echoed, expected, `WebSocket ${r.url} echoed something else`);
  return r;
}

// ------------------------------------------------------------------------------------------
// the chain

const state = {};
const report = [];
const note = (line) => report.push(line);

before(async () => {
  const t0 = Date.now();
  for (const bin of ['cmux-proxy', 'cmux-preview-proxy']) {
    const p = path.join(BUILD, 'bin', bin);
    assert.ok(fs.existsSync(p), `${p} is missing: build first (make build)`);
  }
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/bootstrap`);
  const tmp = tmpDir('cmux-e2e-');
  state.certs = makeCerts(tmp, MORPH_HOST);  // throwaway CA + cmux-proxy leaf
  state.origins = await startOrigins();
  state.port = state.origins.app.info.port;

  state.cmux = await startProcess('cmux-proxy', path.join(BUILD, 'bin', 'cmux-proxy'),
    ['--listen', '127.0.0.1:0', '--tls-cert', state.certs.cert, '--tls-key', state.certs.key,
      '--upstream-host', '127.0.0.1', '--metrics-listen', '127.0.0.1:0'],
    (lines) => lines.some((l) => l.startsWith('cmux-proxy listening on ')) &&
      lines.some((l) => l.startsWith('cmux-proxy metrics on ')));
  state.cmuxAddr = state.cmux.stdout.find((l) => l.startsWith('cmux-proxy listening on '))
    .slice('cmux-proxy listening on '.length);
  state.cmuxMetrics = state.cmux.stdout.find((l) => l.startsWith('cmux-proxy metrics on '))
    .slice('cmux-proxy metrics on '.length);

  const caDir = path.join(tmp, 'preview-ca');
  const [cmuxHost, cmuxPort] = [state.cmuxAddr.replace(/:\d+$/, ''), state.cmuxAddr.split(':').pop()];
  state.pp = await startProcess('cmux-preview-proxy', path.join(BUILD, 'bin', 'cmux-preview-proxy'),
    ['--listen', '127.0.0.1:0', '--route', BASE_ROUTE, '--route', WS1_ROUTE,
      '--resolve', `${MORPH_HOST}:443:${cmuxHost}:${cmuxPort}`,
      '--upstream-ca', state.certs.caCert, '--ca-dir', caDir, '--log'],
    (lines) => lines.filter((l) => l.startsWith('{')).length >= 2);
  const m = /^cmux-preview-proxy listening on 127\.0\.0\.1:(\d+)$/.exec(state.pp.stdout[0]);
  assert.ok(m, `first stdout line of the preview proxy: ${state.pp.stdout[0]}`);
  state.ppPort = Number(m[1]);
  state.contexts = state.pp.stdout.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  assert.equal(state.contexts.length, 2);
  state.spki = spkiHash(path.join(caDir, 'ca.crt'));

  state.browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${state.spki}`],
    timeout: 30000,
  });
  note(`setup: origins on 127.0.0.1:${state.port} (${APP}) and ${WS1_IP}:${state.port} ` +
    `(${WS1_APP}); cmux-proxy ${state.cmuxAddr}; preview proxy 127.0.0.1:${state.ppPort}; ` +
    `Chromium ${state.browser.version()}; local CA SPKI ${state.spki}; ${Date.now() - t0} ms`);
});

after(async () => {
  if (state.browser) await state.browser.close().catch(() => {});
  const exits = [];
  for (const p of [state.pp, state.cmux, state.origins && state.origins.app,
    state.origins && state.origins.ws1]) {
    if (p) exits.push(`${p.label}: ${await stopProcess(p)}`);
  }
  note(`teardown: ${exits.join(', ')}`);
  if (process.env.CMUX_E2E_DUMP_LOG && state.pp) {
    process.stdout.write('\n==== preview proxy stderr ====\n' + state.pp.stderr.join('\n') + '\n');
  }
  process.stdout.write('\n==== what was negotiated ====\n' + report.join('\n') + '\n');
});

function newContext(scheme, index) {
  const ctx = state.contexts[index];
  return state.browser.newContext({
    proxy: {
      server: `${scheme}://127.0.0.1:${state.ppPort}`,
      username: ctx.username,
      password: ctx.password,
      bypass: '<-loopback>',
    },
  });
}

for (const scheme of ['http', 'https']) {
  const label = `proxy ${scheme}://127.0.0.1`;
  const local = {};

  test(`${label}: context setup`, async () => {
    local.ctx1 = await newContext(scheme, 0);
    local.ctx2 = await newContext(scheme, 1);
    local.page1 = await local.ctx1.newPage();
    local.page2 = await local.ctx2.newPage();
  });

  test(`${label}: 1. http://localhost page, script and fetch() come from the app behind cmux-proxy`,
    async () => {
      const url = `http://localhost:${state.port}/app/`;
      const o = await observe(() => loadApp(local.page1, url), sawPage(1, 'app'));
      assertApp(o.result, APP, `localhost:${state.port}`);
      const ev = eventsOf(o.events, 1);
      assert.ok(ev.some((e) => e.host === 'localhost' && e.port === state.port && e.status === 200),
        `the preview proxy logged no request of context 1 for localhost:${state.port}: ` +
        JSON.stringify(o.events));
      assert.ok(o.cmux >= 3, `cmux-proxy answered ${o.cmux} requests (page, script, fetch)`);
      assert.ok(o.app >= 3, `app origin saw ${o.app} requests`);
      assert.equal(o.ws1, 0, 'the ws1 origin was reached by context 1');
      // Chromium -> preview proxy: HTTP/1.1 to an http:// proxy, HTTP/2 (ALPN h2 over TLS) to
      // the https:// one; preview proxy -> cmux-proxy: HTTP/2.
      const hopProtocol = scheme === 'http' ? 'http/1.1' : 'h2';
      const pageEvents = ev.filter((e) => e.path && e.path.startsWith('/app/'));
      assert.equal(pageEvents.length, 3, `page, script, fetch: ${summarize(ev).join('; ')}`);
      for (const e of pageEvents) {
        assert.equal(e.protocol, hopProtocol, `Chromium -> preview proxy: ${summarize([e])}`);
        assert.ok(!e.intercepted, summarize([e]).join());
        assert.equal(e.upstream, 'h2', `preview proxy -> cmux-proxy: ${summarize([e])}`);
      }
      assert.equal(o.result.scriptProtocol, hopProtocol, 'nextHopProtocol of the script');
      assert.equal(o.result.fetchProtocol, hopProtocol, 'nextHopProtocol of the fetch()');
      // The first navigation of a context (the one that met the 407 challenge) may report an
      // empty nextHopProtocol through an http:// proxy; a second one must report the hop.
      // Observed like the first load, so that its log lines have all arrived before the next
      // test starts counting (under ASan the fetch's line could land in test 2's window).
      const reload = await observe(() => loadApp(local.page1, url), sawPage(1, 'app'));
      assert.ok(sawPage(1, 'app')(reload), `the reload was not logged: ${JSON.stringify(reload.events)}`);
      const again = reload.result;
      assertApp(again, APP, `localhost:${state.port}`);
      assert.equal(again.navProtocol, hopProtocol, 'nextHopProtocol of the http page');
      note(`[${scheme} proxy] 1 http page: nextHopProtocol nav=${JSON.stringify(o.result.navProtocol)} ` +
        `(reload: ${again.navProtocol}) script=${o.result.scriptProtocol} ` +
        `fetch=${o.result.fetchProtocol}; cmux-proxy +${o.cmux} requests; preview proxy log:\n    ` +
        `${summarize(ev).join('\n    ')}`);
    });

  test(`${label}: 2. https://localhost page over intercepted TLS is HTTP/2`, async () => {
    const url = `https://localhost:${state.port}/app/`;
    const h2Before = await cmuxRequests('http2');
    const o = await observe(() => loadApp(local.page1, url), sawPage(1, 'app'));
    assertApp(o.result, APP, `localhost:${state.port}`);
    assert.equal(o.result.navProtocol, 'h2', 'nextHopProtocol of the https page');
    const ev = eventsOf(o.events, 1);
    assert.ok(ev.some((e) => e.intercepted && e.host === 'localhost' && e.port === state.port),
      `no intercepted request of context 1 in the preview proxy's log: ${JSON.stringify(o.events)}`);
    assert.ok(o.cmux >= 3, `cmux-proxy answered ${o.cmux} requests`);
    assert.equal(o.ws1, 0, 'the ws1 origin was reached by context 1');
    assert.equal(o.result.scriptProtocol, 'h2');
    assert.equal(o.result.fetchProtocol, 'h2');
    const pageEvents = ev.filter((e) => e.path && e.path.startsWith('/app/'));
    assert.equal(pageEvents.length, 3, `page, script, fetch: ${summarize(ev).join('; ')}`);
    for (const e of pageEvents) {
      assert.ok(e.intercepted && e.protocol === 'h2' && e.upstream === 'h2',
        `expected HTTP/2 inside the intercepted tunnel and to cmux-proxy: ${summarize([e])}`);
    }
    const h2 = (await cmuxRequests('http2')) - h2Before;
    assert.ok(h2 >= 3, `cmux-proxy answered ${h2} requests over HTTP/2`);
    note(`[${scheme} proxy] 2 https page: nextHopProtocol nav=${o.result.navProtocol} ` +
      `script=${o.result.scriptProtocol} fetch=${o.result.fetchProtocol}; cmux-proxy +${o.cmux} ` +
      `requests (${h2} over HTTP/2); preview proxy log:\n    ${summarize(ev).join('\n    ')}`);
  });

  test(`${label}: 3. a WebSocket echoes ${WS_MESSAGES} messages (wss:// and ws://)`, async () => {
    for (const pageScheme of ['https', 'http']) {
      const url = `${pageScheme}://localhost:${state.port}/app/`;
      await loadApp(local.page1, url);
      const o = await observe(() => wsEcho(local.page1, WS_MESSAGES), sawUpgrade(1));
      const ev = eventsOf(o.events, 1);
      assert.equal(o.app, 1, `the app origin saw ${o.app} requests (one upgrade expected)`);
      assert.equal(o.ws1, 0);
      const up = ev.filter((e) => e.event === 'upgrade-request' && e.path === '/app/ws');
      assert.equal(up.length, 1, `one upgrade in the preview proxy's log: ${summarize(ev).join('; ')}`);
      assert.equal(up[0].status, 101);
      assert.ok(up[0].intercepted, 'loopback WebSockets are served inside an intercepted tunnel');
      if (pageScheme === 'https') {
        // The https page is HTTP/2, so Chromium opens the WebSocket as an RFC 8441 extended
        // CONNECT stream on it (the proxy advertises SETTINGS_ENABLE_CONNECT_PROTOCOL).
        assert.equal(up[0].protocol, 'h2', `wss over HTTP/2: ${summarize(up)}`);
        assert.equal(up[0].method, 'CONNECT', `wss over HTTP/2: ${summarize(up)}`);
      } else {
        assert.equal(up[0].protocol, 'http/1.1', `ws in a CONNECT tunnel: ${summarize(up)}`);
      }
      note(`[${scheme} proxy] 3 ${o.result.url}: ${o.result.echoed.length} echoes; preview proxy ` +
        `log:\n    ${summarize(ev).join('\n    ')}`);
    }
  });

  test(`${label}: 4. a second context (ws1 route) reaches ws1-app, never app, and vice versa`,
    async () => {
      const host = `localhost:${state.port}`;
      for (const pageScheme of ['http', 'https']) {
        const url = `${pageScheme}://${host}/app/`;
        const o2 = await observe(() => loadApp(local.page2, url), sawPage(2, 'ws1'));
        assertApp(o2.result, WS1_APP, host);
        assert.equal(o2.app, 0, `context 2 (${url}) reached app`);
        assert.ok(o2.ws1 >= 3, `ws1-app saw ${o2.ws1} requests`);
        assert.ok(eventsOf(o2.events, 2).length > 0, 'no log event of context 2');
        assert.equal(eventsOf(o2.events, 1).length, 0);
        const ws = await observe(() => wsEcho(local.page2, 10), sawUpgrade(2));
        assert.equal(ws.ws1, 1, 'the WebSocket of context 2 did not reach ws1-app');
        assert.equal(ws.app, 0, 'the WebSocket of context 2 reached app');

        const o1 = await observe(() => loadApp(local.page1, url), sawPage(1, 'app'));
        assertApp(o1.result, APP, host);
        assert.equal(o1.ws1, 0, `context 1 (${url}) reached ws1-app`);
        assert.ok(o1.app >= 3);

        const r2 = await observe(() => rootText(local.page2, `${pageScheme}://${host}/`),
          sawRoot(2, 'ws1'));
        assert.equal(r2.result, `hello from ${WS1_APP}`);
        assert.equal(r2.app, 0);
        const r1 = await observe(() => rootText(local.page1, `${pageScheme}://${host}/`),
          sawRoot(1, 'app'));
        assert.equal(r1.result, `hello from ${APP}`);
        assert.equal(r1.ws1, 0);
        note(`[${scheme} proxy] 4 ${pageScheme} context 2 -> ${o2.result.name} ` +
          `(nav=${o2.result.navProtocol}), context 1 -> ${o1.result.name} ` +
          `(nav=${o1.result.navProtocol}); ws1 WebSocket ${ws.result.url} ok`);
      }
    });

  test(`${label}: context teardown`, async () => {
    await local.ctx1.close();
    await local.ctx2.close();
  });
}
