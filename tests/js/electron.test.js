'use strict';
// The Electron wiring, @cmux/proxy-electron/electron (js/electron.js; SPEC §4), against objects
// that record what Electron would be asked to do: session.setProxy, webContents.once("destroyed"),
// session.setCertificateVerifyProc. The proxy behind it is the real addon on real sockets.
//
// js/electron.js keeps ONE process-wide preview proxy (startPreviewProxy: default listenAddr
// 127.0.0.1:39385 and up, default caDir ~/.cmux/certs). That is why these tests live in their own
// file (node --test runs each file in its own process) and why HOME points at a temporary
// directory here: the CA is created there, not in the developer's ~/.cmux.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const path = require('node:path');
const fs = require('node:fs');
const { ProxyAgent, fetch } = require('undici');

const h = require('./helpers.js');

const home = h.tmpDir('cmux-js-home-');
process.env.HOME = home;

const electron = require(path.join(h.REPO, 'js', 'electron.js'));
// What `require("@cmux/proxy-electron/electron")` loads: package.json maps the subpath to this file.
assert.equal(require(path.join(h.REPO, 'package.json')).exports['./electron'].default, './js/electron.js');

const state = {};

// A recorder standing in for an Electron WebContents and its Session.
function recorder(id) {
  const calls = [];
  const listeners = {};
  const webContents = {
    id,
    session: {
      setProxy(cfg) {
        calls.push(['setProxy', cfg]);
        return Promise.resolve();
      },
    },
    once(ev, fn) {
      calls.push(['once', ev]);
      (listeners[ev] ||= []).push(fn);
      return webContents;
    },
  };
  const fire = (ev) => {
    const fns = listeners[ev] || [];
    delete listeners[ev];
    for (const fn of fns) fn();
  };
  return { webContents, calls, listeners, fire };
}

before(async () => {
  state.events = [];
  state.server = await electron.startPreviewProxy((e) => state.events.push(e));
  state.originServer = http.createServer((req, res) => res.end(`origin ${req.method} ${req.url} ${req.headers.host}`));
  state.originPort = await h.listen(state.originServer);
  const dir = h.tmpDir();
  state.dir = dir;
});

after(async () => {
  await new Promise((r) => state.originServer.close(r));
  // The process-wide server is not stopped by electron.js; stop it so the run ends cleanly.
  await state.server.stop();
});

async function getVia(creds, url) {
  const agent = new ProxyAgent({
    uri: `http://127.0.0.1:${state.server.port}`,
    token: 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64'),
    proxyTunnel: false,
  });
  try {
    const res = await fetch(url, { dispatcher: agent });
    return { status: res.status, text: await res.text() };
  } finally {
    await agent.close();
  }
}

test('startPreviewProxy: one server per process, on the default address (39385 and up), CA under $HOME/.cmux/certs', async () => {
  const again = await electron.startPreviewProxy();
  assert.equal(again, state.server);
  assert.ok(state.server.port >= 39385 && state.server.port <= 39434, `port ${state.server.port}`);
  const crt = fs.readFileSync(path.join(home, '.cmux', 'certs', 'ca.crt'), 'utf8');
  assert.equal(h.spkiSha256(crt), state.server.caSpkiSha256);
});

test('configurePreviewProxyForView: setProxy(fixed_servers, http=/https= 127.0.0.1:<port>, <-loopback>), a destroyed listener', async () => {
  const rec = recorder(501);
  const cleanup = await electron.configurePreviewProxyForView({
    webContents: rec.webContents,
    initialUrl: 'https://cmux-abc-base-5173.cmux.app/',
  });
  assert.equal(typeof cleanup, 'function');
  const port = state.server.port;
  assert.deepEqual(rec.calls, [
    ['setProxy', {
      mode: 'fixed_servers',
      proxyRules: `http=127.0.0.1:${port};https=127.0.0.1:${port}`,
      proxyBypassRules: '<-loopback>',
    }],
    ['once', 'destroyed'],
  ]);
  // The context: routed by the URL.
  const ctx = state.server.getContext(501);
  assert.ok(ctx);
  assert.deepEqual(ctx.route, {
    morphId: 'abc', scope: 'base', domainSuffix: 'cmux.app',
    cmuxProxyOrigin: 'https://port-39379-morphvm-abc.http.cloud.morph.so',
  });
  // getProxyCredentialsForWebContents: the context's credentials, and they work: a CONNECT to a
  // loopback host of a routed context is intercepted (answered 200 by the proxy itself).
  const creds = electron.getProxyCredentialsForWebContents(501);
  assert.deepEqual(creds, { username: ctx.username, password: ctx.password });
  assert.match(creds.username, /^wc-501-[0-9a-f]{8}$/);
  const ok = await h.rawConnect(port, 'localhost:5173', h.basic(creds));
  assert.equal(ok.status, 200);
  state.routedCreds = creds;
  state.routedRec = rec;
  state.routedCleanup = cleanup;
});

test('trustPreviewProxyCa: accepts a leaf minted by the proxy for its host; never by issuer name', async () => {
  const verify = [];
  const session = { setCertificateVerifyProc(proc) { verify.push(proc); } };
  await electron.trustPreviewProxyCa(session);
  assert.equal(verify.length, 1);
  const proc = verify[0];
  const verdict = (hostname, pem) => {
    let result;
    proc({ hostname, certificate: { data: pem }, verificationResult: 'net::ERR_CERT_AUTHORITY_INVALID', errorCode: -202 },
      (r) => { result = r; });
    return result;
  };

  // A leaf the proxy mints inside an intercepted TLS CONNECT (routed context, loopback host).
  const { leaf } = await h.interceptedLeaf(state.server.port, state.routedCreds, 'localhost:5173', 'localhost');
  assert.equal(verdict('localhost', leaf), 0, 'the proxy\'s leaf for localhost');
  assert.equal(verdict('example.com', leaf), -3, 'the same leaf for another host');
  const ipLeaf = (await h.interceptedLeaf(state.server.port, state.routedCreds, '127.0.0.1:5173', '127.0.0.1')).leaf;
  assert.equal(verdict('127.0.0.1', ipLeaf), 0, 'the proxy\'s leaf for 127.0.0.1');
  assert.equal(verdict('127.0.0.2', ipLeaf), -3, 'the 127.0.0.1 leaf for 127.0.0.2');

  // Never by issuer name: certificates that merely carry the CA's name are refused.
  const ca = new crypto.X509Certificate(state.server.caCertificatePem);
  assert.equal(ca.subject, 'CN=Cmux Preview Proxy CA');
  const f = (n) => path.join(state.dir, n);
  // (a) self-signed, subject = issuer = the CA's name, valid for localhost
  h.openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=Cmux Preview Proxy CA', '-days', '2', '-addext', 'subjectAltName=DNS:localhost',
    '-keyout', f('fake-ca.key'), '-out', f('fake-ca.pem'));
  const fakeCa = fs.readFileSync(f('fake-ca.pem'), 'utf8');
  assert.equal(new crypto.X509Certificate(fakeCa).issuer, ca.subject);
  assert.equal(verdict('localhost', fakeCa), -3, 'a self-signed certificate named like the CA');
  // (b) a localhost leaf issued by that impostor (issuer name = the CA's name)
  fs.writeFileSync(f('leaf.ext'), 'subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n');
  h.openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=localhost', '-keyout', f('leaf.key'), '-out', f('leaf.csr'));
  h.openssl('x509', '-req', '-in', f('leaf.csr'), '-CA', f('fake-ca.pem'), '-CAkey', f('fake-ca.key'),
    '-set_serial', '7', '-days', '2', '-extfile', f('leaf.ext'), '-out', f('leaf.pem'));
  const fakeLeaf = fs.readFileSync(f('leaf.pem'), 'utf8');
  assert.equal(new crypto.X509Certificate(fakeLeaf).issuer, ca.subject);
  assert.equal(verdict('localhost', fakeLeaf), -3, 'a leaf issued under the CA\'s name by another key');
  // (c) garbage: Chromium decides
  assert.equal(verdict('localhost', 'not a certificate'), -3);

  // A session without setCertificateVerifyProc is refused.
  await assert.rejects(electron.trustPreviewProxyCa({}), TypeError);
});

test('an unrouted view: plain authenticated forward proxy to a loopback origin', async () => {
  const rec = recorder(502);
  await electron.configurePreviewProxyForView({ webContents: rec.webContents, initialUrl: 'https://example.com/', persistKey: 'task-run-9' });
  const ctx = state.server.getContext(502);
  assert.equal(ctx.route, null);
  assert.equal(ctx.persistKey, 'task-run-9');
  const creds = electron.getProxyCredentialsForWebContents(502);
  const r = await getVia(creds, `http://127.0.0.1:${state.originPort}/hello`);
  assert.equal(r.status, 200);
  assert.equal(r.text, `origin GET /hello 127.0.0.1:${state.originPort}`);
  rec.fire('destroyed');
  await h.waitFor(() => state.server.getContext(502) === null, 'the context of 502 to be released');
  assert.equal((await h.rawGet(state.server.port, `http://127.0.0.1:${state.originPort}/`, h.basic(creds))).status, 407);
});

test('firing the recorded destroyed listener releases the context: 407, getProxyCredentialsForWebContents -> null', async () => {
  const creds = state.routedCreds;
  const contexts = state.server.stats().contexts;
  state.routedRec.fire('destroyed');
  assert.equal(electron.getProxyCredentialsForWebContents(501), null);
  await h.waitFor(() => state.server.getContext(501) === null, 'the context of 501 to be released');
  assert.equal(state.server.stats().contexts, contexts - 1);
  const r = await h.rawConnect(state.server.port, 'localhost:5173', h.basic(creds));
  assert.equal(r.status, 407);
  assert.equal(r.headers['proxy-authenticate'], 'Basic realm="Cmux Preview Proxy"');
  state.routedCleanup(); // the cleanup function is idempotent
});

test('configuring the same WebContents again replaces its context; the old cleanup does not release the new one', async () => {
  const rec = recorder(503);
  const cleanup1 = await electron.configurePreviewProxyForView({ webContents: rec.webContents, initialUrl: 'https://example.com/' });
  const creds1 = electron.getProxyCredentialsForWebContents(503);
  await electron.configurePreviewProxyForView({ webContents: rec.webContents, initialUrl: 'https://example.com/' });
  const creds2 = electron.getProxyCredentialsForWebContents(503);
  assert.notDeepEqual(creds1, creds2);
  assert.equal(state.server.getContext(503).username, creds2.username);
  assert.equal((await h.rawGet(state.server.port, `http://127.0.0.1:${state.originPort}/`, h.basic(creds1))).status, 407);
  cleanup1();
  assert.deepEqual(electron.getProxyCredentialsForWebContents(503), creds2);
  assert.equal((await getVia(creds2, `http://127.0.0.1:${state.originPort}/again`)).status, 200);
  await electron.releasePreviewProxy(503);
  assert.equal(electron.getProxyCredentialsForWebContents(503), null);
  assert.equal(state.server.getContext(503), null);
  await electron.releasePreviewProxy(503); // unknown id: harmless
});

test('configurePreviewProxyForView validates its arguments; a logger gets preview-proxy-configured', async () => {
  await assert.rejects(electron.configurePreviewProxyForView({}), TypeError);
  await assert.rejects(electron.configurePreviewProxyForView({ webContents: { id: 'x', session: {} }, initialUrl: 'https://a/' }), TypeError);
  await assert.rejects(electron.configurePreviewProxyForView({ webContents: recorder(504).webContents }), TypeError);
  await assert.rejects(electron.configurePreviewProxyForView({ webContents: recorder(504).webContents, initialUrl: 'https://a/', persistKey: 5 }), TypeError);
  const events = [];
  const rec = recorder(505);
  await electron.configurePreviewProxyForView({ webContents: rec.webContents, initialUrl: 'https://cmux-abc-ws2-80.cmux.sh/', logger: (e) => events.push(e) });
  assert.deepEqual(events, [{ event: 'preview-proxy-configured', webContentsId: 505, routed: true, port: state.server.port }]);
  assert.equal(state.server.getContext(505).route.workspace, 'ws2');
  rec.fire('destroyed');
  await h.waitFor(() => state.server.getContext(505) === null, 'the context of 505 to be released');
});

test('getPreviewPartitionForPersistKey and isTaskRunPreviewPersistKey', () => {
  const hex = crypto.createHash('sha256').update('k').digest('hex');
  assert.equal(electron.getPreviewPartitionForPersistKey('k'), `persist:cmux-preview-${hex.slice(0, 24)}`);
  assert.equal(electron.getPreviewPartitionForPersistKey('k'), 'persist:cmux-preview-8254c329a92850f6d539dd37');
  assert.notEqual(electron.getPreviewPartitionForPersistKey('k2'), electron.getPreviewPartitionForPersistKey('k'));
  assert.throws(() => electron.getPreviewPartitionForPersistKey(''), TypeError);
  assert.throws(() => electron.getPreviewPartitionForPersistKey(5), TypeError);
  assert.equal(electron.isTaskRunPreviewPersistKey('task-run-abc'), true);
  assert.equal(electron.isTaskRunPreviewPersistKey('task-run-'), false);
  assert.equal(electron.isTaskRunPreviewPersistKey('preview-abc'), false);
  assert.equal(electron.isTaskRunPreviewPersistKey(undefined), false);
  assert.equal(electron.isTaskRunPreviewPersistKey(5), false);
});

test('the process-wide server logged to the startPreviewProxy logger', async () => {
  await h.waitFor(() => state.events.some((e) => e.event === 'listening'), 'the listening event');
  assert.equal(state.events.find((e) => e.event === 'listening').port, state.server.port);
});
