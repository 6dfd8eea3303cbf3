// The preview proxy's Node-API surface (SPEC §4), below js/index.js, which validates arguments
// and shapes the public API. Everything here runs on the JS thread except where noted; the
// proxy's I/O runs on its own native threads and reaches JS only through a thread-safe function.
#pragma once

#include <napi.h>

namespace cmux::node {

// Adds `start(config, logFn?) -> Promise<NativeServer>` and `deriveRoute(url)` to `exports`.
void register_proxy(Napi::Env env, Napi::Object exports);

}  // namespace cmux::node
