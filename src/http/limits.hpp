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
  // While a request body is being read: the client must send something this often.
  std::chrono::milliseconds body_idle = 60s;
  // While a response is being written: the client must take something this often
  // (a zero HTTP/2 window or a client that stops reading counts as no progress).
  std::chrono::milliseconds send_progress = 60s;
  std::chrono::milliseconds tunnel_idle = 300s;
  std::chrono::milliseconds upstream_connect = 5s;
  std::uint32_t h2_max_concurrent_streams = 100;
  std::uint32_t h2_stream_window = 64 * 1024;
  std::uint32_t h2_connection_window = 1024 * 1024;
  std::chrono::milliseconds h2_ping_interval = 30s;
  std::chrono::milliseconds h2_ping_timeout = 10s;
  std::size_t output_high_water = 64 * 1024;  // per stream / h1 chunk queue
  std::size_t max_connections = 10000;
  // Request body bytes per request; 0 = unlimited (cmux-proxy fronts uploads to workspace apps).
  // A larger Content-Length gets 413; a streamed body that grows past it ends the request.
  std::uint64_t max_request_body = 0;
  // HTTP/2 "glitches" (frames that cost us work but carry no request progress: PING, SETTINGS,
  // PRIORITY, unknown frames, empty DATA, malformed fields): a token bucket of `burst` that
  // refills at `rate` per second. Empty → GOAWAY ENHANCE_YOUR_CALM and close.
  std::uint32_t h2_glitch_burst = 1000;
  std::uint32_t h2_glitch_rate = 33;
};

}  // namespace cmux::http
