#!/usr/bin/env node
// Regression test of a quirk found by the SSE case of apps.test.js (issue 8): when an HTTP/2
// client resets a stream whose response is still streaming (an EventSource closed by the page, a
// navigation away from a long poll) and the request went upstream over HTTP/2 (a routed context:
// preview proxy -> cmux-proxy), the preview proxy's handler is cancelled and the HTTP/2 upstream
// path unwinds with an exception (operation_aborted). PreviewHandler::run() used to skip its
// bookkeeping then: the request was never logged (no `http2-forward` event: the stream was
// invisible in the logs) and `activeStreams` stayed incremented forever. Over an HTTP/1.1
// upstream (unrouted context) the same cancellation came back as an error value and was logged.
//
// Minimal reproduction without a browser: an origin streaming events forever; a node:http2
// client (h2c prior knowledge) asks the preview proxy for it, reads one event, then sends
// RST_STREAM(CANCEL).
//   1. build/bin/cmux-preview-proxy --log (routed context -> build/bin/cmux-proxy over TLS + h2):
//      the reset stream must appear in the log.
//   2. the addon (require(<repo>)), when this build tree has one: the same for a routed and an
//      unrouted context through the logging callback, and stats().activeStreams back to 0.
//
// Run: node --test-reporter=spec tests/e2e/apps/h2-reset.test.js   (ctest: e2e.apps)
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const path = require('node:path');

const L = require('./lib.js');

const { H } = L;
const ADDON = path.join(H.BUILD, 'lib', 'cmux_proxy.node');
const state = {};

before(async () => {
  L.requireBuilt();
  const dir = H.tmpDir('cmux-h2-reset-');
  state.certs = H.makeCerts(dir, L.MORPH_HOST);
  state.caDir = path.join(dir, 'preview-ca');
  // An origin that streams events until the client goes away.
  state.origin = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('data: first\n\n');
    const timer = setInterval(() => res.write('data: more\n\n'), 50);
    res.on('close', () => clearInterval(timer));
  });
  state.originPort = await H.listen(state.origin);
  state.cmux = await L.startCmuxProxy(state.certs);
});

after(async () => {
  if (state.cmux) await H.stopProcess(state.cmux);
  if (state.origin) {
    state.origin.closeAllConnections();
    state.origin.close();
  }
});

// GET <authority><reqPath> through the proxy on `port` over h2c, one event read, then
// RST_STREAM(CANCEL). Resolves once the reset is sent.
async function getAndReset(port, authority, reqPath, auth, beforeReset = async () => {}) {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const req = client.request({
      ':method': 'GET', ':scheme': 'http', ':authority': authority, ':path': `${reqPath}?token=x`,
      'proxy-authorization': auth,
    });
    const status = await new Promise((resolve, reject) => {
      req.once('response', (h) => resolve(h[':status']));
      req.once('error', reject);
    });
    assert.equal(status, 200);
    await new Promise((resolve) => req.once('data', resolve));
    await beforeReset();
    req.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((resolve) => req.once('close', resolve));
  } finally {
    // The connection stays open until the event was checked: the fix must not depend on the
    // connection going away.
    state.clients = (state.clients || []).concat(client);
  }
}

function closeClients() {
  for (const c of state.clients || []) c.destroy();
  state.clients = [];
}

function assertResetEvent(ev, webContentsId) {
  assert.equal(ev.protocol, 'h2', JSON.stringify(ev));
  assert.equal(ev.status, 200, `the status the client had already received: ${JSON.stringify(ev)}`);
  assert.equal(ev.webContentsId, webContentsId, JSON.stringify(ev));
  assert.ok(ev.bytesOut > 0, JSON.stringify(ev));
  assert.ok(ev.error, `the event says why the stream ended: ${JSON.stringify(ev)}`);
}

test('cmux-preview-proxy --log: a routed stream reset by the HTTP/2 client is logged', async () => {
  const pp = await L.startPreviewProxy(state.cmux, state.certs, state.caDir);
  try {
    const auth = 'Basic ' + Buffer.from(`${pp.context.username}:${pp.context.password}`).toString('base64');
    await getAndReset(pp.port, `localhost:${state.originPort}`, '/events-cli', auth);
    let events = [];
    const ev = await H.waitFor(() => (events = L.logEvents(pp)).find((e) => e.path === '/events-cli'),
      'a log event for the reset stream', 5000).catch((err) => assert.fail(`${err.message}: ${JSON.stringify(events)}`));
    assertResetEvent(ev, 1);
  } finally {
    closeClients();
    await H.stopProcess(pp);
  }
});

for (const routed of [false, true]) {
  test(`addon: ${routed ? 'routed (HTTP/2 upstream)' : 'unrouted (HTTP/1.1 upstream)'} stream reset by the ` +
    'HTTP/2 client is logged and activeStreams returns to 0',
  { skip: !fs.existsSync(ADDON) && `no addon in this build tree (${ADDON})` }, async () => {
    const { ProxyServer, deriveRoute } = H.addon();
    const events = [];
    const server = await ProxyServer.start({
      listenAddr: '127.0.0.1:0', tlsIntercept: false, logging: (e) => events.push(e),
      upstreamCaCerts: [state.certs.caPem],
      resolve: { [`${L.MORPH_HOST}:443`]: state.cmux.addr },
    });
    try {
      const ctx = await server.createContext({
        webContentsId: 7, route: routed ? deriveRoute(`https://${L.MORPH_HOST}/`) : null,
      });
      await getAndReset(server.port, `${routed ? 'localhost' : '127.0.0.1'}:${state.originPort}`, '/events', H.basic(ctx),
        () => H.waitFor(() => server.stats().activeStreams === 1, 'the stream to be active'));
      const ev = await H.waitFor(() => events.find((e) => e.path === '/events'), 'a log event for the reset stream', 5000)
        .catch((err) => assert.fail(`${err.message}: ${JSON.stringify(events)}`));
      assertResetEvent(ev, 7);
      await H.waitFor(() => server.stats().activeStreams === 0,
        `activeStreams back to 0 (now ${server.stats().activeStreams})`, 5000);
    } finally {
      closeClients();
      await server.stop();
    }
  });
}
