// Node-API entry point of @cmux/proxy-electron: version(), and the proxy binding
// (node/proxy_binding.cpp). At load it checks that the nghttp2 and OpenSSL it runs are its own copies.
#include <dlfcn.h>
#include <napi.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>

#include <string>
#include <string_view>

#include "node/proxy_binding.hpp"

namespace {

// The .node links nghttp2 and OpenSSL statically with hidden symbols (cmake/addon.cmake). Node
// exports its own copies of both (Electron carries BoringSSL): if the link ever went wrong, calls
// would bind to the host's library and this is where it shows. Runs on the JS thread, at load.
std::string foreign_library_error();

// The version strings alone cannot tell: a dynamically linked addon inside Node binds most
// nghttp2 calls to Node's copy but nghttp2_version() to libnghttp2.so (seen with LD_DEBUG).
// So also check that the functions we call live in this very module.
const char* function_outside_module() {
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&foreign_library_error), &self) == 0) return "dladdr";
  struct Probe {
    const char* name;
    void* address;
  };
  const Probe probes[] = {
      {"nghttp2_version", reinterpret_cast<void*>(&nghttp2_version)},
      {"nghttp2_session_server_new", reinterpret_cast<void*>(&nghttp2_session_server_new)},
      {"nghttp2_session_client_new", reinterpret_cast<void*>(&nghttp2_session_client_new)},
      {"nghttp2_session_mem_recv", reinterpret_cast<void*>(&nghttp2_session_mem_recv)},
      {"OpenSSL_version", reinterpret_cast<void*>(&OpenSSL_version)},
      {"SSL_CTX_new", reinterpret_cast<void*>(&SSL_CTX_new)},
      {"SSL_read_ex", reinterpret_cast<void*>(&SSL_read_ex)},
  };
  for (const Probe& probe : probes) {
    Dl_info info{};
    if (dladdr(probe.address, &info) == 0 || info.dli_fbase != self.dli_fbase) return probe.name;
  }
  return nullptr;
}

std::string foreign_library_error() {
  if (const char* name = function_outside_module()) {
    return std::string("cmux_proxy.node: ") + name +
           " resolves outside the addon (nghttp2/OpenSSL must be linked in statically)";
  }
  std::string_view nghttp2_runtime = nghttp2_version(0)->version_str;
  if (nghttp2_runtime != NGHTTP2_VERSION) {
    return "cmux_proxy.node: nghttp2 " + std::string(nghttp2_runtime) +
           " is not the addon's own copy (" NGHTTP2_VERSION ")";
  }
  std::string_view openssl_runtime = OpenSSL_version(OPENSSL_VERSION);
  if (openssl_runtime != OPENSSL_VERSION_TEXT) {
    return "cmux_proxy.node: " + std::string(openssl_runtime) +
           " is not the addon's own copy (" OPENSSL_VERSION_TEXT ")";
  }
  return {};
}

Napi::Value version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), CMUX_VERSION);
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  if (std::string error = foreign_library_error(); !error.empty()) {
    Napi::Error::New(env, error).ThrowAsJavaScriptException();
    return exports;
  }
  exports.Set("version", Napi::Function::New(env, version, "version"));
  cmux::node::register_proxy(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(cmux_proxy, init)
