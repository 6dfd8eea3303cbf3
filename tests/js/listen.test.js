'use strict';
// The listener (SPEC §3 "Listener", §4): the default address 127.0.0.1:39385 auto-increments when
// busy (up to 50 attempts); an explicit busy address rejects with code EADDRINUSE; port 0 means
// any free port. Note: electron.test.js (another process, in parallel) also starts a server on
// the default address, so the range is asserted, not an exact port.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');

const h = require('./helpers.js');

const { ProxyServer } = h.addon();

const caDir = h.tmpDir();

test('default listenAddr while 39385 is taken -> a port in 39386..39434 on 127.0.0.1', async (t) => {
  // Hold 39385 ourselves, waiting (bounded) while another process has it: a port held by
  // someone else may be released at any moment.
  const blocker = net.createServer();
  let ours = false;
  const deadline = Date.now() + 20000;
  while (!ours) {
    try {
      await h.listen(blocker, 39385);
      ours = true;
    } catch (err) {
      if (err.code !== 'EADDRINUSE' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));  // poll interval of the bounded wait
    }
  }
  try {
    const s = await ProxyServer.start({ caDir });
    try {
      assert.ok(s.port >= 39386 && s.port <= 39434, `port ${s.port}`);
      // It answers there, on loopback.
      const r = await h.rawGet(s.port, 'http://127.0.0.1:1/');
      assert.equal(r.status, 407);
      t.diagnostic(`39385 ${ours ? 'held by this test' : 'busy'}: the proxy took ${s.port}`);
    } finally {
      await s.stop();
    }
  } finally {
    if (ours) await new Promise((r) => blocker.close(r));
  }
});

test('explicit busy listenAddr -> rejects with code EADDRINUSE (no auto-increment)', async () => {
  const blocker = net.createServer();
  const port = await h.listen(blocker, 0);
  try {
    const p = ProxyServer.start({ listenAddr: `127.0.0.1:${port}`, caDir });
    assert.ok(p instanceof Promise);
    await assert.rejects(p, (err) => {
      assert.ok(err instanceof Error);
      assert.equal(err.code, 'EADDRINUSE', `${err.code}: ${err.message}`);
      return true;
    });
  } finally {
    await new Promise((r) => blocker.close(r));
  }
});

test('a port taken by another proxy server is busy too; port 0 gives distinct ports', async () => {
  const a = await ProxyServer.start({ listenAddr: '127.0.0.1:0', caDir });
  const b = await ProxyServer.start({ listenAddr: '127.0.0.1:0', caDir });
  try {
    assert.notEqual(a.port, b.port);
    await assert.rejects(ProxyServer.start({ listenAddr: `127.0.0.1:${a.port}`, caDir }), (err) => err.code === 'EADDRINUSE');
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('IPv6 loopback [::1]:0 when available', async (t) => {
  let s;
  try {
    s = await ProxyServer.start({ listenAddr: '[::1]:0', caDir });
  } catch (err) {
    if (err.code === 'EADDRNOTAVAIL' || err.code === 'EAFNOSUPPORT') {
      t.skip(`no IPv6 loopback here (${err.code})`);
      return;
    }
    throw err;
  }
  try {
    assert.ok(s.port > 0);
    const r = await new Promise((resolve, reject) => {
      const sock = net.connect(s.port, '::1', () => sock.write('GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\nConnection: close\r\n\r\n'));
      let buf = '';
      sock.on('data', (d) => { buf += d; });
      sock.on('end', () => resolve(buf));
      sock.on('error', reject);
    });
    assert.match(r, /^HTTP\/1\.1 407 /);
  } finally {
    await s.stop();
  }
});
