// Small pieces both HTTP/2 sides (server and upstream client) need from nghttp2.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string_view>

namespace cmux::http {

inline nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2), plus `host` (sent as
// :authority). `te` is handled by the caller: only `te: trailers` may be sent.
inline bool h2_forbidden_field(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" || name == "transfer-encoding" ||
         name == "upgrade" || name == "host" || name == "te";
}

}  // namespace cmux::http
