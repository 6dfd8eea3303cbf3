'use strict';
// @cmux/proxy-electron/electron (SPEC §4): wiring the native preview proxy into Electron's
// WebContents. Written against Electron's API shapes (webContents.session.setProxy,
// webContents.once("destroyed"), session.setCertificateVerifyProc) without requiring the
// `electron` package: everything Electron-specific arrives as an argument.
const crypto = require('node:crypto');
const net = require('node:net');
const { ProxyServer, deriveRoute } = require('./index.js');

let serverPromise = null;           // one preview proxy per process, started on first use
const contexts = new Map();         // webContentsId -> ProxyContext

const TASK_RUN_PREFIX = 'task-run-';

function noop() {}

// Starts the process's preview proxy (once); later calls return the same handle.
function startPreviewProxy(logger) {
  if (!serverPromise) {
    const logging = typeof logger === 'function' ? logger : logger === true;
    serverPromise = ProxyServer.start({ logging }).catch((err) => {
      serverPromise = null;  // a later call may try again
      throw err;
    });
  }
  return serverPromise;
}

// `persist:cmux-preview-<first 24 hex of sha256(key)>`: one partition per persist key, so
// previews that share a key share cookies and storage, and nothing else does.
function getPreviewPartitionForPersistKey(key) {
  if (typeof key !== 'string' || key === '') throw new TypeError('persistKey must be a non-empty string');
  const hash = crypto.createHash('sha256').update(key).digest('hex').slice(0, 24);
  return `persist:cmux-preview-${hash}`;
}

// Task-run previews (the cloud's automated runs) use keys `task-run-<id>`.
function isTaskRunPreviewPersistKey(key) {
  return typeof key === 'string' && key.startsWith(TASK_RUN_PREFIX) && key.length > TASK_RUN_PREFIX.length;
}

// For app.on("login", (event, webContents, details, authInfo, callback) => ...): the proxy
// credentials of that WebContents, or null (not ours: let Electron do its default).
function getProxyCredentialsForWebContents(webContentsId) {
  const ctx = contexts.get(webContentsId);
  return ctx ? { username: ctx.username, password: ctx.password } : null;
}

async function releasePreviewProxy(webContentsId) {
  const ctx = contexts.get(webContentsId);
  if (!ctx) return;
  contexts.delete(webContentsId);
  await ctx.release();
}

// Routes one preview's traffic through the preview proxy: derives the route from the URL the
// view opens, creates (or replaces) the context of its WebContents, points the view's session at
// the proxy (loopback included: "<-loopback>" removes Chromium's implicit bypass), and releases
// the context when the WebContents is destroyed. Resolves to a cleanup function.
async function configurePreviewProxyForView({ webContents, initialUrl, persistKey, logger } = {}) {
  if (!webContents || typeof webContents.id !== 'number' || !webContents.session) {
    throw new TypeError('webContents must be an Electron WebContents');
  }
  if (typeof initialUrl !== 'string') throw new TypeError('initialUrl must be a string');
  if (persistKey !== undefined && typeof persistKey !== 'string') throw new TypeError('persistKey must be a string');
  const log = typeof logger === 'function' ? logger : noop;
  const server = await startPreviewProxy(logger);
  const route = deriveRoute(initialUrl);
  const id = webContents.id;
  const ctx = await server.createContext({ webContentsId: id, persistKey, route });
  contexts.set(id, ctx);
  await webContents.session.setProxy({
    mode: 'fixed_servers',
    proxyRules: `http=127.0.0.1:${server.port};https=127.0.0.1:${server.port}`,
    proxyBypassRules: '<-loopback>',
  });
  log({ event: 'preview-proxy-configured', webContentsId: id, routed: route !== null, port: server.port });
  let done = false;
  const cleanup = () => {
    if (done) return;
    done = true;
    // Only our own context: a later configure for the same WebContents replaced it.
    if (contexts.get(id) === ctx) releasePreviewProxy(id).catch(noop);
  };
  webContents.once('destroyed', cleanup);
  return cleanup;
}

// Makes a session accept the preview proxy's intercepted certificates: a certificate is accepted
// only if its signature verifies with the CA's public key and it is valid for the host — never
// because of an issuer name. Everything else keeps Chromium's own verdict.
async function trustPreviewProxyCa(session) {
  if (!session || typeof session.setCertificateVerifyProc !== 'function') {
    throw new TypeError('session must be an Electron Session');
  }
  const server = await startPreviewProxy();
  const ca = new crypto.X509Certificate(server.caCertificatePem);
  session.setCertificateVerifyProc((request, callback) => {
    try {
      const cert = new crypto.X509Certificate(request.certificate.data);
      const host = request.hostname.replace(/^\[|\]$/g, '');
      const validForHost = net.isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
      const now = Date.now();
      const current = Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
      if (cert.verify(ca.publicKey) && validForHost && current) {
        callback(0);  // net::OK
        return;
      }
    } catch {
      // not a certificate we can read: Chromium decides
    }
    callback(-3);  // use Chromium's own verification result
  });
}

module.exports = {
  configurePreviewProxyForView,
  getProxyCredentialsForWebContents,
  releasePreviewProxy,
  startPreviewProxy,
  isTaskRunPreviewPersistKey,
  getPreviewPartitionForPersistKey,
  trustPreviewProxyCa,
};
