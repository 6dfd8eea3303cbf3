'use strict';
// @cmux/proxy-electron against real sockets (SPEC §3, §4; issue 5): an unrouted context as an
// authenticated forward proxy in front of the sample origin (tests/support/origin.js), reached
// with undici's ProxyAgent (absolute-form and CONNECT tunnels) and with curl; the 407 paths
// (missing / wrong / released / replaced credentials); stats(); the local CA; two servers in one
// process; a logging callback that throws.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const { ProxyAgent, fetch, request } = require('undici');

const h = require('./helpers.js');

const { ProxyServer } = h.addon();

const state = {};

before(async () => {
  state.origin = await h.startOrigin('app');
  state.caDir = h.tmpDir();
  state.events = [];
  state.logThrows = 0;
  state.server = await ProxyServer.start({
    listenAddr: '127.0.0.1:0',
    caDir: state.caDir,
    // A logger that throws on every event: the proxy must not care (SPEC §4, issue 5).
    logging: (event) => {
      state.events.push(event);
      state.logThrows++;
      throw new Error('logger failure (intended)');
    },
  });
});

after(async () => {
  if (state.server) await state.server.stop();
  await h.stopProcess(state.origin);
});

function originUrl(p = '/echo') {
  return `http://127.0.0.1:${state.origin.port}${p}`;
}

function agent(ctx, { tunnel = false, password } = {}) {
  return new ProxyAgent({
    uri: `http://127.0.0.1:${state.server.port}`,
    token: ctx ? h.basic(ctx, password) : undefined,
    proxyTunnel: tunnel,
  });
}

async function fetchVia(ctx, url, opts, init = {}) {
  const a = agent(ctx, opts);
  try {
    const res = await fetch(url, { ...init, dispatcher: a });
    return { status: res.status, headers: res.headers, text: await res.text() };
  } finally {
    await a.close();
  }
}

describe('start and createContext', () => {
  test('the handle: port, CA, stats shape', () => {
    const s = state.server;
    assert.equal(typeof s.port, 'number');
    assert.ok(s.port > 0 && s.port < 65536, `port ${s.port}`);
    const stats = s.stats();
    for (const k of ['activeConnections', 'totalConnections', 'activeStreams', 'totalRequests', 'bytesFromClients',
      'bytesToClients', 'upstreamConnections', 'upstreamSessions', 'contexts', 'droppedLogEvents']) {
      assert.equal(typeof stats[k], 'number', `stats().${k} is a number`);
    }
  });

  test('a context: wc-<id>-<8 hex> / 24 hex, unique ids, fields echoed', async () => {
    const a = await state.server.createContext({ webContentsId: 41, persistKey: 'pk-41', route: null });
    const b = await state.server.createContext({ webContentsId: 42, route: null });
    try {
      assert.match(a.username, /^wc-41-[0-9a-f]{8}$/);
      assert.match(a.password, /^[0-9a-f]{24}$/);
      assert.match(b.username, /^wc-42-[0-9a-f]{8}$/);
      assert.notEqual(a.id, b.id);
      assert.notEqual(a.password, b.password);
      assert.equal(a.webContentsId, 41);
      assert.equal(a.persistKey, 'pk-41');
      assert.equal(b.persistKey, undefined);
      assert.equal(a.route, null);
      assert.equal(typeof a.release, 'function');
      const got = state.server.getContext(41);
      assert.equal(got.id, a.id);
      assert.equal(got.username, a.username);
      assert.equal(got.password, a.password);
      assert.equal(state.server.getContext(43), null);
    } finally {
      await a.release();
      await b.release();
    }
    assert.equal(state.server.getContext(41), null);
  });

  test('createContext with a routed route echoes it (deriveRoute)', async () => {
    const { deriveRoute } = h.addon();
    const route = deriveRoute('https://cmux-abc-ws1-5173.cmux.app/');
    assert.deepEqual(route, {
      morphId: 'abc', scope: 'ws1', domainSuffix: 'cmux.app',
      cmuxProxyOrigin: 'https://port-39379-morphvm-abc.http.cloud.morph.so', workspace: 'ws1',
    });
    assert.equal(deriveRoute('https://example.com/'), null);
    const ctx = await state.server.createContext({ webContentsId: 44, route });
    try {
      assert.deepEqual(ctx.route, route);
    } finally {
      await ctx.release();
    }
  });
});

describe('requests through the proxy (unrouted context)', () => {
  let ctx;
  before(async () => {
    ctx = await state.server.createContext({ webContentsId: 1, route: null });
  });
  after(async () => {
    await ctx.release();
  });

  test('undici ProxyAgent + fetch, absolute-form: the origin answers, stats move', async () => {
    const before = state.server.stats();
    const body = 'x'.repeat(1000);
    const r = await fetchVia(ctx, originUrl('/echo?via=fetch'), {}, { method: 'POST', body });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-origin-name'), 'app');
    const echo = JSON.parse(r.text);
    assert.equal(echo.url, '/echo?via=fetch');
    assert.equal(echo.method, 'POST');
    assert.equal(echo.bodyLength, 1000);
    assert.equal(echo.host, `127.0.0.1:${state.origin.port}`);
    // Proxy-Authorization never leaves the proxy.
    const names = echo.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.ok(!names.includes('proxy-authorization'), `origin saw ${names}`);
    // Body bytes are counted when the exchange ends, just after the client got the response.
    const after = await h.waitFor(() => {
      const s = state.server.stats();
      return s.bytesFromClients >= before.bytesFromClients + 1000 && s.bytesToClients > before.bytesToClients && s;
    }, 'bytesFromClients / bytesToClients to count the exchange');
    assert.ok(after.totalRequests > before.totalRequests, `totalRequests ${before.totalRequests} -> ${after.totalRequests}`);
    assert.ok(after.totalConnections > before.totalConnections);
    assert.ok(after.upstreamConnections >= 1);
  });

  test('undici ProxyAgent + request, CONNECT tunnel', async () => {
    const a = agent(ctx, { tunnel: true });
    try {
      const res = await request(originUrl('/bytes/100000'), { dispatcher: a });
      assert.equal(res.statusCode, 200);
      const body = Buffer.from(await res.body.arrayBuffer());
      assert.equal(body.length, 100000);
      assert.equal(body.subarray(0, 16).toString('latin1'), '000000000000000\n');
    } finally {
      await a.close();
    }
  });

  test('concurrent requests on one agent', async () => {
    const a = agent(ctx);
    try {
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) =>
        fetch(originUrl(`/echo?i=${i}`), { dispatcher: a }).then(async (res) => ({ status: res.status, echo: await res.json() }))));
      results.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal(r.echo.url, `/echo?i=${i}`);
      });
    } finally {
      await a.close();
    }
  });

  test('curl -x http://user:pass@127.0.0.1:<port>', async () => {
    const proxy = `http://${ctx.username}:${ctx.password}@127.0.0.1:${state.server.port}`;
    const r = await h.curl(proxy, [originUrl('/echo?via=curl')]);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).url, '/echo?via=curl');
    const t = await h.curl(proxy, ['-p', originUrl('/status/201')]); // -p: through a CONNECT tunnel
    assert.equal(t.status, 201);
  });

  test('the Basic scheme is case-insensitive, surrounding spaces ignored', async () => {
    const b64 = Buffer.from(`${ctx.username}:${ctx.password}`).toString('base64');
    const r = await h.rawGet(state.server.port, originUrl('/status/200'), `   bAsIc   ${b64}   `);
    assert.equal(r.status, 200);
  });
});

describe('407 Proxy Authentication Required', () => {
  let ctx;
  before(async () => {
    ctx = await state.server.createContext({ webContentsId: 2, route: null });
  });
  after(async () => {
    await ctx.release();
  });

  // undici turns a 407 from the proxy into an error ("Proxy Authentication Required (407)",
  // "Proxy response (407) !== 200 when HTTP Tunneling") somewhere in the cause chain.
  const is407 = (err) => /\(407\)/.test(util.inspect(err, { depth: 6 }));

  function assert407(r, what) {
    assert.equal(r.status, 407, `${what}: ${r.statusLine}`);
    assert.equal(r.headers['proxy-authenticate'], 'Basic realm="Cmux Preview Proxy"', what);
  }

  test('no credentials: GET, CONNECT, undici, curl', async () => {
    assert407(await h.rawGet(state.server.port, originUrl('/echo')), 'GET without credentials');
    assert407(await h.rawConnect(state.server.port, `127.0.0.1:${state.origin.port}`), 'CONNECT without credentials');
    await assert.rejects(fetchVia(null, originUrl('/echo')), is407);
    await assert.rejects(fetchVia(null, originUrl('/echo'), { tunnel: true }), is407);
    const r = await h.curl(`http://127.0.0.1:${state.server.port}`, [originUrl('/echo')]);
    assert.equal(r.status, 407);
  });

  test('malformed and unknown credentials', async () => {
    const port = state.server.port;
    const url = originUrl('/echo');
    assert407(await h.rawGet(port, url, 'Bearer abc'), 'another scheme');
    assert407(await h.rawGet(port, url, 'Basic !!!not-base64!!!'), 'bad base64');
    assert407(await h.rawGet(port, url, 'Basic ' + Buffer.from('no-colon').toString('base64')), 'no colon');
    assert407(await h.rawGet(port, url, 'Basic'), 'scheme only');
    assert407(await h.rawGet(port, url, h.basic({ username: 'wc-999-00000000', password: ctx.password })), 'unknown user');
  });

  test('wrong password: raw, undici, curl', async () => {
    const wrong = ctx.password.slice(0, -1) + (ctx.password.endsWith('0') ? '1' : '0');
    assert407(await h.rawGet(state.server.port, originUrl('/echo'), h.basic(ctx, wrong)), 'wrong password');
    assert407(await h.rawConnect(state.server.port, `127.0.0.1:${state.origin.port}`, h.basic(ctx, wrong)), 'CONNECT, wrong password');
    await assert.rejects(fetchVia(ctx, originUrl('/echo'), { password: wrong }), is407);
    await assert.rejects(fetchVia(ctx, originUrl('/echo'), { password: wrong, tunnel: true }), is407);
    const r = await h.curl(`http://${ctx.username}:${wrong}@127.0.0.1:${state.server.port}`, [originUrl('/echo')]);
    assert.equal(r.status, 407);
    // ...and the right one still works.
    assert.equal((await fetchVia(ctx, originUrl('/status/204'))).status, 204);
  });

  test('released context: its credentials get 407 at once', async () => {
    const c = await state.server.createContext({ webContentsId: 3, route: null });
    assert.equal((await fetchVia(c, originUrl('/status/200'))).status, 200);
    const contextsBefore = state.server.stats().contexts;
    await c.release();
    assert.equal(state.server.stats().contexts, contextsBefore - 1);
    assert.equal(state.server.getContext(3), null);
    assert407(await h.rawGet(state.server.port, originUrl('/echo'), h.basic(c)), 'released, GET');
    assert407(await h.rawConnect(state.server.port, `127.0.0.1:${state.origin.port}`, h.basic(c)), 'released, CONNECT');
    const r = await h.curl(`http://${c.username}:${c.password}@127.0.0.1:${state.server.port}`, [originUrl('/echo')]);
    assert.equal(r.status, 407);
    await c.release(); // twice: harmless
  });

  test('released or replaced context: 407 at once on a keep-alive connection that used it', async () => {
    // The proxy remembers per connection the credentials it accepted last (no re-hashing on
    // every request); a release or a replacement must still reach that connection's next request.
    const http = require('node:http');
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (ctx) => new Promise((resolve, reject) => {
      const url = new URL(originUrl('/status/200'));
      const req = http.request({
        host: '127.0.0.1', port: state.server.port, path: url.href, agent: keepAlive,
        headers: { host: url.host, 'proxy-authorization': h.basic(ctx) },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end();
    });
    // A request of the context that is still running (its body not yet sent) keeps the context
    // itself alive in the proxy across the release: the release alone must revoke it.
    const holdOpen = (ctx) => {
      const url = new URL(originUrl('/echo'));
      const req = http.request({
        host: '127.0.0.1', port: state.server.port, path: url.href, method: 'POST', agent: false,
        headers: { host: url.host, 'proxy-authorization': h.basic(ctx), 'content-length': '4' },
      });
      req.on('error', () => {}); // destroyed below, unanswered
      req.flushHeaders();
      return req;
    };
    let held;
    try {
      const released = await state.server.createContext({ webContentsId: 11, route: null });
      assert.equal((await get(released)).status, 200);
      assert.deepEqual(await get(released), { status: 200, reused: true });
      const active = state.server.stats().activeStreams;
      held = holdOpen(released);
      await h.waitFor(() => state.server.stats().activeStreams > active, 'the held request to reach the proxy');
      await released.release();
      assert.deepEqual(await get(released), { status: 407, reused: true }, 'released');
      held.destroy();
      held = null;

      const old = await state.server.createContext({ webContentsId: 12, route: null });
      assert.deepEqual(await get(old), { status: 200, reused: true });
      const fresh = await state.server.createContext({ webContentsId: 12, route: null });
      try {
        assert.deepEqual(await get(old), { status: 407, reused: true }, 'replaced');
        assert.deepEqual(await get(fresh), { status: 200, reused: true }, 'its replacement');
      } finally {
        await fresh.release();
      }
    } finally {
      if (held) held.destroy();
      keepAlive.destroy();
    }
  });

  test('replaced context (same webContentsId): old credentials 407 at once, new ones work', async () => {
    const old = await state.server.createContext({ webContentsId: 7, persistKey: 'old', route: null });
    assert.equal((await fetchVia(old, originUrl('/status/200'))).status, 200);
    const contexts = state.server.stats().contexts;
    const fresh = await state.server.createContext({ webContentsId: 7, persistKey: 'new', route: null });
    try {
      assert.notEqual(fresh.id, old.id);
      assert.notEqual(fresh.password, old.password);
      assert.equal(state.server.stats().contexts, contexts, 'a replacement does not add a context');
      assert407(await h.rawGet(state.server.port, originUrl('/echo'), h.basic(old)), 'replaced, GET');
      assert.equal((await fetchVia(fresh, originUrl('/status/200'))).status, 200);
      const got = state.server.getContext(7);
      assert.equal(got.id, fresh.id);
      assert.equal(got.username, fresh.username);
      assert.equal(got.password, fresh.password);
      assert.equal(got.persistKey, 'new');
      // Releasing the stale handle must not remove its replacement.
      await old.release();
      assert.equal(state.server.getContext(7)?.id, fresh.id);
      assert.equal((await fetchVia(fresh, originUrl('/status/200'))).status, 200);
    } finally {
      await fresh.release();
    }
  });
});

describe('the local CA', () => {
  test('caCertificatePem is a PEM CA certificate; caSpkiSha256 = base64(sha256(DER SPKI))', () => {
    const pem = state.server.caCertificatePem;
    assert.match(pem, /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n?$/);
    const cert = new crypto.X509Certificate(pem);
    assert.equal(cert.ca, true);
    assert.equal(cert.subject, 'CN=Cmux Preview Proxy CA');
    assert.equal(state.server.caSpkiSha256, h.spkiSha256(pem));
    assert.match(state.server.caSpkiSha256, /^[A-Za-z0-9+/]{43}=$/);
  });

  test('caDir holds ca.crt (the same PEM) and ca.key (mode 0600); a second server reuses it', async () => {
    const crt = fs.readFileSync(path.join(state.caDir, 'ca.crt'), 'utf8');
    assert.equal(new crypto.X509Certificate(crt).fingerprint256, new crypto.X509Certificate(state.server.caCertificatePem).fingerprint256);
    assert.equal(fs.statSync(path.join(state.caDir, 'ca.key')).mode & 0o777, 0o600);
    const again = await ProxyServer.start({ listenAddr: '127.0.0.1:0', caDir: state.caDir });
    try {
      assert.equal(again.caSpkiSha256, state.server.caSpkiSha256);
    } finally {
      await again.stop();
    }
  });
});

describe('two servers in one process', () => {
  test('both serve, each with its own contexts', async () => {
    const other = await ProxyServer.start({ listenAddr: '127.0.0.1:0', caDir: h.tmpDir() });
    try {
      assert.notEqual(other.port, state.server.port);
      assert.notEqual(other.caSpkiSha256, state.server.caSpkiSha256);
      const a = await state.server.createContext({ webContentsId: 11, route: null });
      const b = await other.createContext({ webContentsId: 11, route: null });
      const [ra, rb] = await Promise.all([
        h.rawGet(state.server.port, originUrl('/status/200'), h.basic(a)),
        h.rawGet(other.port, originUrl('/status/202'), h.basic(b)),
      ]);
      assert.equal(ra.status, 200);
      assert.equal(rb.status, 202);
      // The credentials of one server mean nothing to the other.
      assert.equal((await h.rawGet(other.port, originUrl('/status/200'), h.basic(a))).status, 407);
      assert.equal((await h.rawGet(state.server.port, originUrl('/status/200'), h.basic(b))).status, 407);
      assert.equal(other.stats().totalRequests, 2);
      await a.release();
      await b.release();
    } finally {
      await other.stop();
    }
    // Stopping one leaves the other serving.
    const c = await state.server.createContext({ webContentsId: 12, route: null });
    assert.equal((await fetchVia(c, originUrl('/status/200'))).status, 200);
    await c.release();
  });
});

describe('logging', () => {
  test('a logger that throws breaks nothing; events listening and http-request arrive', async () => {
    const ctx = await state.server.createContext({ webContentsId: 21, route: null });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await fetchVia(ctx, originUrl(`/bytes/${11 + i}?secret=q`));
        assert.equal(r.status, 200);
        assert.equal(r.text.length, 11 + i);
      }
      await h.waitFor(() => state.events.some((e) => e.event === 'http-request' && e.path === '/bytes/13'),
        'the http-request event of /bytes/13');
    } finally {
      await ctx.release();
    }
    const listening = state.events.find((e) => e.event === 'listening');
    assert.ok(listening, `events: ${state.events.map((e) => e.event)}`);
    assert.equal(listening.port, state.server.port);
    const req = state.events.find((e) => e.event === 'http-request' && e.path === '/bytes/11');
    assert.equal(req.method, 'GET');
    assert.equal(req.bytesOut, 11);
    assert.equal(req.status, 200);
    assert.equal(req.webContentsId, 21);
    assert.equal(req.routed, false);
    assert.ok(state.logThrows >= 4, `the logger threw ${state.logThrows} times`);
    // Credentials are never logged.
    const text = JSON.stringify(state.events);
    assert.ok(!text.includes(ctx.password), 'a password in the log');
    assert.ok(!text.includes('secret=q'), 'logged paths carry no query');
    const dropped = state.server.stats().droppedLogEvents;
    assert.equal(typeof dropped, 'number');
    assert.equal(dropped, 0);
  });
});
