#!/usr/bin/env node
// npm `install` script of @cmux/proxy-electron: builds build/lib/cmux_proxy.node with cmake-js
// from the repository's CMake project (target cmux_proxy_addon only). cmake-js takes the
// Node-API headers from the node-api-headers / node-addon-api packages ("binary.napi_versions"
// in package.json), so no Node.js headers are downloaded. See docs/addon-build.md.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// Debian's nghttp2 source (shipped in the npm tarball; fetched with apt in a git clone).
if (!fs.existsSync(path.join(root, 'third_party/nghttp2-src/.cmux-source-version'))) {
  run(path.join(root, 'scripts/fetch-nghttp2-source'), []);
}

const args = [
  require.resolve('cmake-js/bin/cmake-js'), 'build',
  '--directory', root, '--out', path.join(root, 'build'),
  '--target', 'cmux_proxy_addon',
];
// A packed tarball carries no tests/; a git clone keeps its test configuration as it is.
if (!fs.existsSync(path.join(root, 'tests/CMakeLists.txt'))) {
  args.push('--CDCMUX_BUILD_TESTS=OFF');
}
run(process.execPath, args);
