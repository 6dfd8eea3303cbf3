#!/usr/bin/env node
// `make demo DEMO=--vite` (scripts/demo --vite): the Vite + React fixture as the workspace app,
// opened in headless Chromium through the whole chain, printing what was negotiated on each hop
// and the HMR round-trip time (file written -> DOM changed), next to the same app opened directly.
//
//   Chromium ──▶ cmux-preview-proxy ──▶ cmux-proxy ──▶ Vite (127.0.0.1:<port>)
//
// Everything it starts is stopped at exit (tests/js/helpers.js). Exit 0 when every step worked.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const { chromium } = require('playwright-core');

const L = require('./lib.js');

const { H } = L;
const EDITS = 5;

const B = process.stdout.isTTY ? '\x1b[1m' : '';
const N = process.stdout.isTTY ? '\x1b[0m' : '';
const say = (s = '') => process.stdout.write(`${s}\n`);

async function main() {
  L.requireBuilt();
  const tmp = H.tmpDir('cmux-vite-demo-');
  const certs = H.makeCerts(tmp, L.MORPH_HOST);
  const caDir = path.join(tmp, 'preview-ca');
  const root = L.copyFixture('react-app', tmp);
  const started = [];
  try {
    const cmux = await L.startCmuxProxy(certs);
    started.push(cmux);
    const pp = await L.startPreviewProxy(cmux, certs, caDir);
    started.push(pp);
    const vite = await L.startVite(root);
    started.push(vite);
    const spki = H.spkiSha256(fs.readFileSync(path.join(caDir, 'ca.crt'), 'utf8'));
    const browser = await chromium.launch({
      executablePath: L.CHROMIUM, headless: true,
      args: [...L.CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spki}`],
    });
    say(`${B}Vite ${vite.info.vite} (React) on 127.0.0.1:${vite.port}; cmux-proxy ${cmux.addr} (TLS, ` +
      `as ${L.MORPH_HOST}); cmux-preview-proxy 127.0.0.1:${pp.port}; Chromium ${browser.version()}${N}`);
    let edit = 0;
    let lastWrite = 0;
    let failed = false;
    for (const mode of ['direct', 'chain http', 'chain https']) {
      const from = pp.stderr.length;
      const context = mode === 'direct' ? await browser.newContext() : await L.chainContext(browser, pp);
      const page = await L.trackedPage(context);
      const url = `${mode === 'chain https' ? 'https' : 'http'}://localhost:${vite.port}/`;
      const t0 = Date.now();
      const resp = await page.goto(url, { waitUntil: 'load', timeout: 30000 });
      await page.waitForSelector('#message', { timeout: 30000 });
      const loadMs = Date.now() - t0;
      await H.waitFor(() => page.consoleLines.some((l) => l.includes('[vite] connected.')), 'Vite HMR socket', 30000);
      // The module's entry: the navigation entry of the first page through an http:// proxy
      // reports an empty nextHopProtocol (the 407 challenge), the resources do not.
      const nav = await page.evaluate(() => {
        const e = performance.getEntriesByType('resource').find((r) => r.name.includes('/src/main.jsx'));
        return e ? e.nextHopProtocol : '?';
      });
      const rtts = [];
      const file = path.join(root, 'src', 'Message.jsx');
      for (let i = 0; i < EDITS; i++) {
        const text = `demo edit ${++edit}`;
        await page.evaluate((t) => {
          window.__seen = null;
          new MutationObserver(() => {
            const el = document.getElementById('message');
            if (!window.__seen && el && el.textContent === t) window.__seen = Date.now();
          }).observe(document.body, { subtree: true, childList: true, characterData: true });
        }, text);
        // Vite's watcher drops a change within 50 ms of the previous one (docs/e2e-apps.md).
        await H.waitFor(() => Date.now() - lastWrite >= 100, 'the watcher throttle window');
        const w = Date.now();
        lastWrite = w;
        fs.writeFileSync(file, `export default function Message() {\n  return <p id="message">${text}</p>;\n}\n`);
        await page.waitForFunction(() => window.__seen, null, { timeout: 20000 });
        rtts.push((await page.evaluate(() => window.__seen)) - w);
      }
      say();
      say(`${B}${mode}: ${url}${N} -> ${resp.status()}, rendered in ${loadMs} ms, ${page.navigations} navigation(s)`);
      say(`  HMR edit -> DOM: ${rtts.join(', ')} ms (median ${L.median(rtts)} ms), no reload: ${page.navigations === 1}`);
      if (resp.status() !== 200 || page.navigations !== 1) failed = true;
      if (mode === 'direct') {
        say(`  Chromium -> Vite: ${nav}`);
      } else {
        await page.close(); // the HMR socket is logged when it ends
        await H.waitFor(() => L.logEvents(pp, from).some((e) => e.event === 'upgrade-request'), 'the HMR upgrade in the log', 10000);
        const evs = L.logEvents(pp, from).filter((e) => e.port === vite.port);
        const mod = evs.find((e) => e.path === '/src/main.jsx');
        const ws = evs.find((e) => e.event === 'upgrade-request');
        const tunnel = mode === 'chain https' ? 'CONNECT tunnel, TLS terminated by the preview proxy (ALPN h2), ' : '';
        say(`  hop 1  Chromium -> preview proxy : ${tunnel}requests over ${mod.protocol} (Chromium's nextHopProtocol: ${nav})`);
        say(`  hop 2  preview proxy -> cmux-proxy: requests over ${mod.upstream} (TLS, one connection), ` +
          `HMR WebSocket: ${ws.method} over ${ws.protocol} from Chromium -> upgrade over ${ws.upstream}`);
        say('  hop 3  cmux-proxy -> Vite        : HTTP/1.1 (always), WebSocket relayed after 101');
      }
      await context.close();
    }
    const m = await L.cmuxMetrics(cmux);
    say();
    say(`cmux-proxy: ${m.connections_total} connections accepted, ${m.total('http2')} requests over HTTP/2, ` +
      `${m.total('http1.1')} over HTTP/1.1 (the WebSocket upgrades)`);
    await browser.close();
    return failed ? 1 : 0;
  } finally {
    for (const p of started.reverse()) await H.stopProcess(p);
  }
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`demo failed: ${err.stack || err}\n`);
  process.exit(1);
});
