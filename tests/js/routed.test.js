'use strict';
// A routed context through this project's cmux-proxy (SPEC §3 "Target rewriting", "Forwarding"):
//
//   undici / curl ──(proxy, Basic credentials of a routed context)──▶ the addon's preview proxy
//   ──(HTTP/2 over TLS, resolve + upstreamCaCerts)──▶ build/bin/cmux-proxy (TLS for
//   port-39379-morphvm-js.http.cloud.morph.so, throwaway CA) ──▶ origin.js "app" on 127.0.0.1:<P>
//
// The page asks for http(s)://localhost:<P>/...; the preview proxy rewrites it to the route's
// cmux-proxy origin with X-Cmux-Port-Internal / X-Cmux-Host-Override, so the origin sees
// Host localhost:<P>. All requests of the context share ONE upstream HTTP/2 connection.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { ProxyAgent, fetch, request } = require('undici');

const h = require('./helpers.js');

const { ProxyServer, deriveRoute } = h.addon();

const state = {};

before(async () => {
  const dir = h.tmpDir();
  state.certs = h.makeCerts(dir);
  [state.origin, state.cmux] = await Promise.all([h.startOrigin('app'), h.startCmuxProxy(state.certs)]);
  state.events = [];
  state.server = await ProxyServer.start({
    listenAddr: '127.0.0.1:0',
    caDir: path.join(dir, 'preview-ca'),
    upstreamCaCerts: [state.certs.caPem],
    resolve: { [`${h.MORPH_HOST}:443`]: state.cmux.addr },
    logging: (e) => state.events.push(e),
  });
  state.previewCaFile = path.join(dir, 'preview-ca.pem');
  fs.writeFileSync(state.previewCaFile, state.server.caCertificatePem);
  state.route = deriveRoute(`https://${h.MORPH_HOST}/`);
  state.ctx = await state.server.createContext({ webContentsId: 100, route: state.route });
});

after(async () => {
  if (state.ctx) await state.ctx.release();
  if (state.server) await state.server.stop();
  await Promise.all([h.stopProcess(state.cmux), h.stopProcess(state.origin)]);
});

function local(p, scheme = 'http') {
  return `${scheme}://localhost:${state.origin.port}${p}`;
}

function agent({ tunnel = false } = {}) {
  return new ProxyAgent({
    uri: `http://127.0.0.1:${state.server.port}`,
    token: h.basic(state.ctx),
    proxyTunnel: tunnel,
    requestTls: { ca: state.server.caCertificatePem },
  });
}

test('deriveRoute of the cmux-proxy host', () => {
  assert.deepEqual(state.route, {
    morphId: 'js', scope: 'base', domainSuffix: 'cmux.app',
    cmuxProxyOrigin: `https://${h.MORPH_HOST}`,
  });
  assert.deepEqual(state.ctx.route, state.route);
});

test('undici fetch http://localhost:<P>/echo: rewritten to cmux-proxy over HTTP/2, origin sees Host localhost:<P>', async () => {
  const before = state.server.stats();
  const a = agent();
  try {
    const res = await fetch(local('/echo?q=1'), { dispatcher: a, headers: { 'x-cmux-port-internal': '1' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-origin-name'), 'app');
    const echo = await res.json();
    assert.equal(echo.host, `localhost:${state.origin.port}`);
    assert.equal(echo.url, '/echo?q=1');
  } finally {
    await a.close();
  }
  const s = state.server.stats();
  assert.ok(s.totalRequests > before.totalRequests, `totalRequests ${before.totalRequests} -> ${s.totalRequests}`);
  assert.equal(s.upstreamConnections, 1, 'one upstream connection');
  assert.equal(s.upstreamSessions, 1, 'one upstream HTTP/2 session');
  // Forwarded over the upstream HTTP/2 session: the old proxy's event name `http2-forward`.
  const ev = await h.waitFor(() => state.events.find((e) => e.event === 'http2-forward' && e.path === '/echo'),
    'the http2-forward event');
  assert.equal(ev.routed, true);
  assert.equal(ev.upstream, 'h2');
  assert.equal(ev.host, 'localhost');
  assert.equal(ev.port, state.origin.port);
  assert.equal(ev.webContentsId, 100);
});

test('32 concurrent requests (fetch, request, CONNECT tunnel) share the one HTTP/2 upstream', async () => {
  const plain = agent();
  const tunnel = agent({ tunnel: true });
  try {
    const jobs = [];
    for (let i = 0; i < 16; i++) {
      jobs.push(fetch(local(`/echo?f=${i}`), { dispatcher: plain }).then(async (r) => [r.status, (await r.json()).host]));
      jobs.push(request(local(`/echo?t=${i}`), { dispatcher: tunnel }).then(async (r) => [r.statusCode, (await r.body.json()).host]));
    }
    for (const [status, host] of await Promise.all(jobs)) {
      assert.equal(status, 200);
      assert.equal(host, `localhost:${state.origin.port}`);
    }
  } finally {
    await plain.close();
    await tunnel.close();
  }
  const s = state.server.stats();
  assert.equal(s.upstreamConnections, 1);
  assert.equal(s.upstreamSessions, 1);
});

test('intercepted TLS: fetch https://localhost:<P> trusting only the preview CA', async () => {
  const a = agent({ tunnel: true });
  try {
    const res = await fetch(local('/echo?tls=1', 'https'), { dispatcher: a });
    assert.equal(res.status, 200);
    const echo = await res.json();
    assert.equal(echo.host, `localhost:${state.origin.port}`);
  } finally {
    await a.close();
  }
  const ev = await h.waitFor(() => state.events.find((e) => e.intercepted === true && e.path === '/echo'),
    'an event of an intercepted request');
  assert.equal(ev.routed, true);
  assert.equal(ev.webContentsId, 100);
});

test('curl -x http://user:pass@...: http and intercepted https to localhost:<P>', async () => {
  const proxy = `http://${state.ctx.username}:${state.ctx.password}@127.0.0.1:${state.server.port}`;
  const r = await h.curl(proxy, [local('/echo?curl=1')]);
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).host, `localhost:${state.origin.port}`);
  const t = await h.curl(proxy, ['--cacert', state.previewCaFile, local('/echo?curl=2', 'https')]);
  assert.equal(t.status, 200);
  assert.equal(JSON.parse(t.body).host, `localhost:${state.origin.port}`);
  const bad = await h.curl(`http://${state.ctx.username}:nope@127.0.0.1:${state.server.port}`, [local('/echo')]);
  assert.equal(bad.status, 407);
});

test('after all of the above: still exactly one upstream connection and one HTTP/2 session', () => {
  const s = state.server.stats();
  assert.equal(s.upstreamConnections, 1);
  assert.equal(s.upstreamSessions, 1);
  assert.ok(s.totalRequests >= 36, `totalRequests ${s.totalRequests}`);
  assert.equal(s.contexts, 1);
});

test('the leaf minted for localhost is signed by the CA, valid for localhost, chain = leaf + CA', async () => {
  const got = await h.interceptedLeaf(state.server.port, state.ctx, `localhost:${state.origin.port}`, 'localhost');
  const leaf = new crypto.X509Certificate(got.leaf);
  const ca = new crypto.X509Certificate(state.server.caCertificatePem);
  assert.ok(got.issuer, 'the server sent the CA after the leaf');
  assert.equal(new crypto.X509Certificate(got.issuer).fingerprint256, ca.fingerprint256);
  assert.ok(leaf.verify(ca.publicKey));
  assert.equal(leaf.checkHost('localhost'), 'localhost');
  assert.equal(leaf.checkHost('example.com'), undefined);
  assert.equal(leaf.issuer, ca.subject);
  const days = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 86400000;
  assert.ok(days <= 398, `leaf valid for ${days} days`);
});
