// Limits and timeouts of the HTTP server side (SPEC §6). Defaults follow Envoy/nginx/nghttp2.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "http/h1_head.hpp"

namespace cmux::http {

using namespace std::chrono_literals;

struct Limits {
  HeadLimits head;
  std::chrono::milliseconds first_bytes = 10s;
  std::chrono::milliseconds request_headers = 30s;
  std::chrono::milliseconds connection_idle = 300s;
  std::chrono::milliseconds tunnel_idle = 300s;
  std::chrono::milliseconds upstream_connect = 5s;
  std::uint32_t h2_max_concurrent_streams = 100;
  std::uint32_t h2_stream_window = 64 * 1024;
  std::uint32_t h2_connection_window = 1024 * 1024;
  std::chrono::milliseconds h2_ping_interval = 30s;
  std::chrono::milliseconds h2_ping_timeout = 10s;
  std::size_t output_high_water = 64 * 1024;  // per stream / h1 chunk queue
  std::size_t max_connections = 10000;
};

}  // namespace cmux::http
