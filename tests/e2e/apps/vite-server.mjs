#!/usr/bin/env node
// Starts one Vite dev server (the "workspace app" of tests/e2e/apps/apps.test.js) through Vite's
// own API, with the fixture's vite.config.js, on loopback:
//
//   node vite-server.mjs --root DIR [--port N] [--host 127.0.0.1]
//
// --port 0 (the default) takes a port the OS reports free (Vite itself reads port 0 as "its
// default, 5173"), retrying if another process takes it first; any other port is taken strictly
// (no fallback to the next one). Prints one JSON line {"vite":"<version>","port":N,"root":"..."} on stdout once
// listening; Vite's own log follows on stdout/stderr. SIGTERM/SIGINT close the server, exit 0.
//
// DIR is a throwaway copy of a fixture (the tests edit its files); its node_modules is a symlink
// to tests/e2e/apps/node_modules, so the dependency cache goes to DIR/.vite-cache (never into the
// shared node_modules) and the shared node_modules is added to server.fs.allow.
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, version } from 'vite';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = { root: null, port: 0, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--root') opts.root = path.resolve(next());
    else if (a === '--port') opts.port = Number(next());
    else if (a === '--host') opts.host = next();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!opts.root) throw new Error('--root is required');
  return opts;
}

// A port the OS says is free right now on `host`.
function freePort(host) {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function start(port) {
  const server = await createServer({
    root: opts.root,
    configFile: path.join(opts.root, 'vite.config.js'),
    cacheDir: path.join(opts.root, '.vite-cache'),
    clearScreen: false,
    logLevel: 'info',
    server: {
      host: opts.host,
      port,
      strictPort: true,
      fs: { allow: [opts.root, path.join(HERE, 'node_modules')] },
    },
  });
  try {
    await server.listen();
    return server;
  } catch (err) {
    await server.close();
    throw err;
  }
}

const opts = parseArgs(process.argv.slice(2));
let server;
for (let attempt = 0; ; attempt++) {
  try {
    server = await start(opts.port || (await freePort(opts.host)));
    break;
  } catch (err) {
    // Only a port chosen here can be retried; an explicit one is the caller's decision.
    if (opts.port || attempt >= 5 || !/already in use|EADDRINUSE/.test(String(err && err.message))) throw err;
  }
}
const addr = server.httpServer.address();
process.stdout.write(JSON.stringify({ vite: version, port: addr.port, host: addr.address, root: opts.root }) + '\n');

let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  await server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
