// The SPEC §6 limits as command-line options, shared by both proxies' CLIs (same names, same
// meaning). Each option writes straight into the http::Limits it was bound to.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "http/limits.hpp"

namespace cmux::apps {

inline void add_limit_options(CLI::App& app, http::Limits& limits) {
  const std::string group = "Limits (SPEC §6)";
  auto seconds = [&](const char* name, std::chrono::milliseconds& field, const std::string& what) {
    const double current = std::chrono::duration<double>(field).count();
    app.add_option_function<double>(
           name,
           [&field](double s) {
             field = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(s));
           },
           what + " (seconds; default " + CLI::detail::to_string(current) + ")")
        ->check(CLI::Range(0.05, 86400.0))
        ->group(group);
  };
  auto count = [&](const char* name, auto& field, const std::string& what, double min, double max) {
    using T = std::remove_reference_t<decltype(field)>;
    app.add_option_function<T>(name, [&field](T v) { field = v; },
                               what + " (default " + std::to_string(field) + ")")
        ->check(CLI::Range(min, max))
        ->group(group);
  };
  seconds("--first-byte-timeout", limits.first_bytes, "A new connection must send its first bytes within");
  seconds("--header-timeout", limits.request_headers, "A started request head must be complete within");
  seconds("--idle-timeout", limits.connection_idle, "Keep-alive / HTTP/2 connection without requests closes after");
  seconds("--body-timeout", limits.body_idle, "A request body that receives nothing for this long is abandoned");
  seconds("--send-timeout", limits.send_progress, "A response the client takes nothing of for this long is abandoned");
  seconds("--tunnel-idle-timeout", limits.tunnel_idle, "CONNECT / WebSocket tunnel without traffic closes after");
  seconds("--connect-timeout", limits.upstream_connect, "Upstream TCP (and HTTP/2 handshake) connect timeout");
  count("--max-connections", limits.max_connections, "Open client connections; new ones beyond are refused", 1, 1e7);
  count("--max-concurrent-streams", limits.h2_max_concurrent_streams, "HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS", 1,
        1e5);
  count("--max-header-bytes", limits.head.max_head_bytes, "Request header block bytes (431 beyond)", 1024, 1 << 24);
  count("--max-header-fields", limits.head.max_fields, "Request header fields (431 beyond)", 8, 1e5);
  count("--max-request-line", limits.head.max_start_line, "Request line bytes (414 beyond)", 256, 1 << 24);
  count("--max-body-bytes", limits.max_request_body, "Request body bytes, 0 = unlimited (413 beyond)", 0, 1e18);
}

}  // namespace cmux::apps
