'use strict';
// @cmux/proxy-electron (SPEC §4): the preview proxy on native threads. This file validates
// arguments (TypeError / RangeError naming the field) and shapes the public API; the native
// addon (build/lib/cmux_proxy.node, docs/addon-build.md) does the work.
const net = require('node:net');
const path = require('node:path');

const native = require(path.join(__dirname, '..', 'build', 'lib', 'cmux_proxy.node'));

const ON = new Set(['', '1', 'true', 'yes', 'on']);
const OFF = new Set(['0', 'false', 'no', 'off']);

// CMUX_PREVIEW_TLS_MITM / CMUX_PREVIEW_PROXY_LOG(GING): unset -> undefined; empty or 1/true/yes/on
// -> true; 0/false/no/off -> false; anything else -> undefined.
function envFlag(name) {
  const raw = process.env[name];
  if (raw === undefined) return undefined;
  const v = raw.trim().toLowerCase();
  if (ON.has(v)) return true;
  if (OFF.has(v)) return false;
  return undefined;
}

function fail(Kind, field, what) {
  return new Kind(`${field} ${what}`);
}

function optionalString(obj, field, prefix = '') {
  const v = obj[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw fail(TypeError, prefix + field, 'must be a string');
  return v;
}

function optionalBoolean(obj, field) {
  const v = obj[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw fail(TypeError, field, 'must be a boolean');
  return v;
}

// "host:port" / "[v6]:port" -> {host, port}, or null. `ipOnly`: the host must be an IP literal.
function splitHostPort(v, ipOnly) {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(v);
  if (!m) return null;
  const host = m[1] ?? m[2];
  if (m[1] !== undefined && net.isIP(host) !== 6) return null;
  if (m[2] !== undefined && (ipOnly ? net.isIP(host) !== 4 : !/^[A-Za-z0-9._-]+$/.test(host))) return null;
  return { host, port: Number(m[3]) };
}

function validateListenAddr(v) {
  // ip:port or [v6]:port, port 0-65535; the native side binds it as given.
  const hp = splitHostPort(v, true);
  if (!hp) throw fail(TypeError, 'listenAddr', 'must be "ip:port" (IPv6 as "[::1]:port")');
  if (hp.port > 65535) throw fail(RangeError, 'listenAddr', 'port must be 0-65535');
}

function validateUrl(v, field) {
  let url;
  try {
    url = new URL(v);
  } catch {
    throw fail(TypeError, field, 'must be an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw fail(TypeError, field, 'must be an http:// or https:// URL');
  }
}

function normalizeConfig(config) {
  if (config === undefined) config = {};
  if (config === null || typeof config !== 'object') throw new TypeError('config must be an object');
  const out = {};
  const listenAddr = optionalString(config, 'listenAddr');
  if (listenAddr !== undefined) {
    validateListenAddr(listenAddr);
    out.listenAddr = listenAddr;
  }
  const upstreamProxyUrl = optionalString(config, 'upstreamProxyUrl');
  if (upstreamProxyUrl !== undefined && upstreamProxyUrl !== '') {
    validateUrl(upstreamProxyUrl, 'upstreamProxyUrl');
    out.upstreamProxyUrl = upstreamProxyUrl;
  }
  out.enableHttp2 = optionalBoolean(config, 'enableHttp2') ?? true;
  out.tlsIntercept = optionalBoolean(config, 'tlsIntercept') ?? envFlag('CMUX_PREVIEW_TLS_MITM') ?? true;
  const caDir = optionalString(config, 'caDir');
  if (caDir !== undefined) {
    if (caDir === '') throw fail(TypeError, 'caDir', 'must not be empty');
    out.caDir = caDir;
  }
  if (config.upstreamCaCerts !== undefined) {
    if (!Array.isArray(config.upstreamCaCerts)) throw fail(TypeError, 'upstreamCaCerts', 'must be an array of PEM strings');
    config.upstreamCaCerts.forEach((pem, i) => {
      if (typeof pem !== 'string') throw fail(TypeError, `upstreamCaCerts[${i}]`, 'must be a PEM string');
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
        throw fail(TypeError, `upstreamCaCerts[${i}]`, 'must contain a PEM certificate');
      }
    });
    out.upstreamCaCerts = [...config.upstreamCaCerts];
  }
  if (config.resolve !== undefined) {
    if (config.resolve === null || typeof config.resolve !== 'object' || Array.isArray(config.resolve)) {
      throw fail(TypeError, 'resolve', 'must be an object of "host:port" -> "ip:port"');
    }
    out.resolve = {};
    for (const [from, to] of Object.entries(config.resolve)) {
      const key = splitHostPort(from, false);
      if (!key) throw fail(TypeError, `resolve["${from}"]`, 'key must be "host:port"');
      if (key.port < 1 || key.port > 65535) throw fail(RangeError, `resolve["${from}"]`, 'port must be 1-65535');
      const value = typeof to === 'string' ? splitHostPort(to, true) : null;
      if (!value) throw fail(TypeError, `resolve["${from}"]`, 'must be an "ip:port" string');
      if (value.port < 1 || value.port > 65535) throw fail(RangeError, `resolve["${from}"]`, 'port must be 1-65535');
      out.resolve[from] = to;
    }
  }
  if (config.threads !== undefined) {
    if (typeof config.threads !== 'number' || !Number.isInteger(config.threads)) {
      throw fail(TypeError, 'threads', 'must be an integer');
    }
    if (config.threads < 1 || config.threads > 64) throw fail(RangeError, 'threads', 'must be 1-64');
    out.threads = config.threads;
  }
  let log;
  const logging = config.logging;
  if (typeof logging === 'function') {
    log = logging;
  } else if (logging === true ||
             (logging === undefined &&
              (envFlag('CMUX_PREVIEW_PROXY_LOG') || envFlag('CMUX_PREVIEW_PROXY_LOGGING')))) {
    log = (event) => console.error(`[cmux-preview-proxy] ${JSON.stringify(event)}`);
  } else if (logging !== undefined && logging !== false) {
    throw fail(TypeError, 'logging', 'must be a boolean or a function');
  }
  return { config: out, log };
}

function validateRoute(route) {
  if (route === null) return null;
  if (typeof route !== 'object' || Array.isArray(route)) throw fail(TypeError, 'route', 'must be an object or null');
  for (const field of ['morphId', 'scope', 'domainSuffix']) {
    if (typeof route[field] !== 'string') throw fail(TypeError, `route.${field}`, 'must be a string');
  }
  for (const field of ['cmuxProxyOrigin', 'workspace']) {
    if (route[field] !== undefined && typeof route[field] !== 'string') {
      throw fail(TypeError, `route.${field}`, 'must be a string');
    }
  }
  if (route.cmuxProxyOrigin !== undefined && route.cmuxProxyOrigin !== '') {
    validateUrl(route.cmuxProxyOrigin, 'route.cmuxProxyOrigin');
  }
  return {
    morphId: route.morphId,
    scope: route.scope,
    domainSuffix: route.domainSuffix,
    ...(route.cmuxProxyOrigin ? { cmuxProxyOrigin: route.cmuxProxyOrigin } : {}),
    ...(route.workspace !== undefined ? { workspace: route.workspace } : {}),
  };
}

function validateWebContentsId(id) {
  if (typeof id !== 'number') throw fail(TypeError, 'webContentsId', 'must be a number');
  if (!Number.isSafeInteger(id) || id < 0) throw fail(RangeError, 'webContentsId', 'must be a non-negative integer');
}

class ProxyContext {
  #native;

  constructor(native, c) {
    this.#native = native;
    this.id = c.id;
    this.username = c.username;
    this.password = c.password;
    this.webContentsId = c.webContentsId;
    if (c.persistKey !== undefined) this.persistKey = c.persistKey;
    this.route = c.route;
  }

  // Removes the context at once: its credentials get 407 from now on (open tunnels may finish).
  release() {
    this.#native.releaseContext(this.id);
    return Promise.resolve();
  }
}

class ProxyServerHandle {
  #native;

  constructor(native) {
    this.#native = native;
  }

  get port() {
    return this.#native.port;
  }

  get caCertificatePem() {
    return this.#native.caCertificatePem;
  }

  get caSpkiSha256() {
    return this.#native.caSpkiSha256;
  }

  // Bad arguments throw (TypeError / RangeError naming the field); a refused context (a route
  // that cannot be used, a stopped server) rejects.
  createContext(config) {
    if (config === null || typeof config !== 'object') throw new TypeError('config must be an object');
    validateWebContentsId(config.webContentsId);
    const persistKey = optionalString(config, 'persistKey');
    if (config.route === undefined) throw fail(TypeError, 'route', 'must be an object or null');
    const route = validateRoute(config.route);
    return new Promise((resolve) => {
      resolve(new ProxyContext(this.#native, this.#native.createContext(config.webContentsId, persistKey, route)));
    });
  }

  getContext(webContentsId) {
    validateWebContentsId(webContentsId);
    const c = this.#native.getContext(webContentsId);
    return c === null ? null : new ProxyContext(this.#native, c);
  }

  stats() {
    return this.#native.stats();
  }

  stop() {
    return this.#native.stop();
  }
}

class ProxyServer {
  // Starts a preview proxy on its own native I/O threads. Rejects with an Error whose `code` is
  // set (EADDRINUSE, EACCES, ...) when it cannot listen.
  // Bad arguments throw synchronously (TypeError / RangeError naming the field).
  static start(config) {
    const { config: normalized, log } = normalizeConfig(config);
    return native.start(normalized, log).then((n) => new ProxyServerHandle(n));
  }
}

function deriveRoute(url) {
  if (typeof url !== 'string') throw fail(TypeError, 'url', 'must be a string');
  return native.deriveRoute(url);
}

module.exports = {
  ProxyServer,
  deriveRoute,
  version: native.version,
};
