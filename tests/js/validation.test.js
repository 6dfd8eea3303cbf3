'use strict';
// Argument validation (SPEC §4): bad arguments THROW synchronously — not a rejected promise — a
// TypeError or RangeError whose message names the field (`threads`, `listenAddr`,
// `upstreamCaCerts[0]`, `resolve["x"]`, `route.morphId`, `webContentsId`, ...). Every field of
// ProxyConfig and ContextConfig, getContext and deriveRoute.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers.js');

const { ProxyServer, deriveRoute } = h.addon();

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

// fn() must throw synchronously an instance of Kind whose message contains `field`. A returned
// promise is a failure (its server, if any, is stopped so nothing leaks).
function assertThrows(fn, Kind, field, what) {
  let result;
  try {
    result = fn();
  } catch (err) {
    assert.ok(err instanceof Kind, `${what}: expected ${Kind.name}, got ${err?.constructor?.name}: ${err?.message}`);
    assert.ok(err.message.includes(field), `${what}: the message ${JSON.stringify(err.message)} does not name ${field}`);
    return;
  }
  if (result && typeof result.then === 'function') {
    return result.then(
      async (server) => {
        if (server && typeof server.stop === 'function') await server.stop();
        if (server && typeof server.release === 'function') await server.release();
        assert.fail(`${what}: expected a synchronous ${Kind.name} naming ${field}; got a promise that resolved`);
      },
      (err) => assert.fail(`${what}: expected a synchronous ${Kind.name} naming ${field}; got a promise rejected with ` +
        `${err?.constructor?.name} (code ${err?.code}): ${err?.message}`));
  }
  assert.fail(`${what}: expected a synchronous ${Kind.name} naming ${field}; returned ${String(result)}`);
}

describe('ProxyServer.start(config)', () => {
  const base = () => ({ listenAddr: '127.0.0.1:0', caDir: h.tmpDir() });
  const cases = [
    // [what, config, Kind, field]
    ['config null', null, TypeError, 'config'],
    ['config a string', 'x', TypeError, 'config'],
    ['config a number', 42, TypeError, 'config'],
    ['listenAddr a number', { listenAddr: 39385 }, TypeError, 'listenAddr'],
    ['listenAddr null', { listenAddr: null }, TypeError, 'listenAddr'],
    ['listenAddr empty', { listenAddr: '' }, TypeError, 'listenAddr'],
    ['listenAddr without port', { listenAddr: '127.0.0.1' }, TypeError, 'listenAddr'],
    ['listenAddr a host name', { listenAddr: 'localhost:0' }, TypeError, 'listenAddr'],
    ['listenAddr IPv6 without brackets', { listenAddr: '::1:0' }, TypeError, 'listenAddr'],
    ['listenAddr port 65536', { listenAddr: '127.0.0.1:65536' }, RangeError, 'listenAddr'],
    ['listenAddr [::1]:99999', { listenAddr: '[::1]:99999' }, RangeError, 'listenAddr'],
    ['listenAddr 999.1.1.1:0 (octet > 255)', { listenAddr: '999.1.1.1:0' }, TypeError, 'listenAddr'],
    ['upstreamProxyUrl a number', { upstreamProxyUrl: 1 }, TypeError, 'upstreamProxyUrl'],
    ['upstreamProxyUrl not a URL', { upstreamProxyUrl: 'not a url' }, TypeError, 'upstreamProxyUrl'],
    ['upstreamProxyUrl ftp://', { upstreamProxyUrl: 'ftp://127.0.0.1:21' }, TypeError, 'upstreamProxyUrl'],
    ['enableHttp2 a string', { enableHttp2: 'yes' }, TypeError, 'enableHttp2'],
    ['enableHttp2 a number', { enableHttp2: 1 }, TypeError, 'enableHttp2'],
    ['tlsIntercept a string', { tlsIntercept: 'true' }, TypeError, 'tlsIntercept'],
    ['tlsIntercept null', { tlsIntercept: null }, TypeError, 'tlsIntercept'],
    ['caDir a number', { caDir: 5 }, TypeError, 'caDir'],
    ['caDir empty', { caDir: '' }, TypeError, 'caDir'],
    ['upstreamCaCerts a string', { upstreamCaCerts: PEM }, TypeError, 'upstreamCaCerts'],
    ['upstreamCaCerts[0] a number', { upstreamCaCerts: [5] }, TypeError, 'upstreamCaCerts[0]'],
    ['upstreamCaCerts[1] not a PEM', { upstreamCaCerts: [PEM, 'not a pem'] }, TypeError, 'upstreamCaCerts[1]'],
    ['resolve null', { resolve: null }, TypeError, 'resolve'],
    ['resolve an array', { resolve: ['a:1'] }, TypeError, 'resolve'],
    ['resolve a string', { resolve: 'a:1=127.0.0.1:2' }, TypeError, 'resolve'],
    ['resolve["x"] a number', { resolve: { x: 1 } }, TypeError, 'resolve["x"]'],
    ['resolve["x"]: key not host:port', { resolve: { x: '127.0.0.1:1' } }, TypeError, 'resolve["x"]'],
    ['resolve["a:1"]: value not ip:port', { resolve: { 'a:1': 'garbage' } }, TypeError, 'resolve["a:1"]'],
    ['logging a number', { logging: 5 }, TypeError, 'logging'],
    ['logging a string', { logging: 'yes' }, TypeError, 'logging'],
    ['threads a string', { threads: '2' }, TypeError, 'threads'],
    ['threads 1.5', { threads: 1.5 }, TypeError, 'threads'],
    ['threads NaN', { threads: NaN }, TypeError, 'threads'],
    ['threads 0', { threads: 0 }, RangeError, 'threads'],
    ['threads 65', { threads: 65 }, RangeError, 'threads'],
    ['threads -1', { threads: -1 }, RangeError, 'threads'],
  ];
  for (const [what, config, Kind, field] of cases) {
    test(`${what} -> ${Kind.name} naming ${field}`, () => {
      const cfg = config !== null && typeof config === 'object' ? { ...base(), ...config } : config;
      return assertThrows(() => ProxyServer.start(cfg), Kind, field, what);
    });
  }

  test('valid edge values start (threads 1 and 64, enableHttp2/tlsIntercept false, empty upstreamProxyUrl, resolve)', async () => {
    for (const extra of [
      { threads: 1 },
      { threads: 64, enableHttp2: false, tlsIntercept: false, upstreamProxyUrl: '', logging: false },
      { upstreamProxyUrl: 'http://127.0.0.1:39379', resolve: { 'a.example:443': '127.0.0.1:1', '[::1]:80': '[::1]:81' } },
    ]) {
      const s = await ProxyServer.start({ ...base(), ...extra });
      assert.ok(s.port > 0, JSON.stringify(extra));
      await s.stop();
    }
  });
});

describe('createContext(config), getContext(id), deriveRoute(url)', () => {
  let server;
  before(async () => {
    server = await ProxyServer.start({ listenAddr: '127.0.0.1:0', caDir: h.tmpDir() });
  });
  after(async () => {
    await server.stop();
  });

  const route = { morphId: 'm', scope: 'base', domainSuffix: 'cmux.app' };
  const cases = [
    ['config undefined', undefined, TypeError, 'config'],
    ['config null', null, TypeError, 'config'],
    ['config a number', 5, TypeError, 'config'],
    ['webContentsId missing', { route: null }, TypeError, 'webContentsId'],
    ['webContentsId a string', { webContentsId: '1', route: null }, TypeError, 'webContentsId'],
    ['webContentsId a bigint', { webContentsId: 1n, route: null }, TypeError, 'webContentsId'],
    ['webContentsId -1', { webContentsId: -1, route: null }, RangeError, 'webContentsId'],
    ['webContentsId 1.5', { webContentsId: 1.5, route: null }, RangeError, 'webContentsId'],
    ['webContentsId NaN', { webContentsId: NaN, route: null }, RangeError, 'webContentsId'],
    ['webContentsId Infinity', { webContentsId: Infinity, route: null }, RangeError, 'webContentsId'],
    ['webContentsId 2^53', { webContentsId: 2 ** 53, route: null }, RangeError, 'webContentsId'],
    ['persistKey a number', { webContentsId: 1, persistKey: 5, route: null }, TypeError, 'persistKey'],
    ['persistKey null', { webContentsId: 1, persistKey: null, route: null }, TypeError, 'persistKey'],
    ['route missing', { webContentsId: 1 }, TypeError, 'route'],
    ['route a string', { webContentsId: 1, route: 'https://x/' }, TypeError, 'route'],
    ['route an array', { webContentsId: 1, route: [] }, TypeError, 'route'],
    ['route a number', { webContentsId: 1, route: 5 }, TypeError, 'route'],
    ['route.morphId missing', { webContentsId: 1, route: { scope: 'base', domainSuffix: 'cmux.app' } }, TypeError, 'route.morphId'],
    ['route.morphId a number', { webContentsId: 1, route: { ...route, morphId: 5 } }, TypeError, 'route.morphId'],
    ['route.scope missing', { webContentsId: 1, route: { morphId: 'm', domainSuffix: 'cmux.app' } }, TypeError, 'route.scope'],
    ['route.domainSuffix a number', { webContentsId: 1, route: { ...route, domainSuffix: 1 } }, TypeError, 'route.domainSuffix'],
    ['route.cmuxProxyOrigin a number', { webContentsId: 1, route: { ...route, cmuxProxyOrigin: 1 } }, TypeError, 'route.cmuxProxyOrigin'],
    ['route.cmuxProxyOrigin not a URL', { webContentsId: 1, route: { ...route, cmuxProxyOrigin: 'port-39379' } }, TypeError, 'route.cmuxProxyOrigin'],
    ['route.cmuxProxyOrigin ws://', { webContentsId: 1, route: { ...route, cmuxProxyOrigin: 'ws://a:1' } }, TypeError, 'route.cmuxProxyOrigin'],
    ['route.workspace a number', { webContentsId: 1, route: { ...route, workspace: 1 } }, TypeError, 'route.workspace'],
  ];
  for (const [what, config, Kind, field] of cases) {
    test(`createContext: ${what} -> ${Kind.name} naming ${field}`, () =>
      assertThrows(() => server.createContext(config), Kind, field, what));
  }

  test('getContext: a string -> TypeError, -1 / 1.5 -> RangeError (webContentsId)', () => {
    assertThrows(() => server.getContext('1'), TypeError, 'webContentsId', 'getContext("1")');
    assertThrows(() => server.getContext(undefined), TypeError, 'webContentsId', 'getContext()');
    assertThrows(() => server.getContext(-1), RangeError, 'webContentsId', 'getContext(-1)');
    assertThrows(() => server.getContext(1.5), RangeError, 'webContentsId', 'getContext(1.5)');
  });

  test('deriveRoute: a non-string -> TypeError naming url', () => {
    assertThrows(() => deriveRoute(5), TypeError, 'url', 'deriveRoute(5)');
    assertThrows(() => deriveRoute(undefined), TypeError, 'url', 'deriveRoute()');
    assert.equal(deriveRoute('not a url'), null);
  });

  test('nothing was created by the refused calls; valid edge values work', async () => {
    assert.equal(server.stats().contexts, 0);
    const a = await server.createContext({ webContentsId: 0, route: null });
    const b = await server.createContext({ webContentsId: Number.MAX_SAFE_INTEGER, persistKey: '', route: { ...route, workspace: 'w' } });
    assert.equal(a.webContentsId, 0);
    assert.equal(b.webContentsId, Number.MAX_SAFE_INTEGER);
    assert.deepEqual(b.route, { ...route, workspace: 'w' });
    assert.equal(server.getContext(0).id, a.id);
    assert.equal(server.stats().contexts, 2);
    await a.release();
    await b.release();
    assert.equal(server.stats().contexts, 0);
  });
});
