// cmux-proxy routing rules (SPEC §2 "Routing"): pure functions from a request head to an
// upstream target or an error status + message. No I/O.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace cmux::workspace {

struct RouteConfig {
  std::string default_upstream_host = "127.0.0.1";  // may be an IPv6 literal (no brackets)
  bool allow_default_upstream = true;
  bool require_local_host = false;
};

struct Target {
  std::string host;   // IP literal or name to connect to (IPv6 without brackets)
  std::uint16_t port = 0;
  // Host header / :authority the upstream request carries (override or incoming authority).
  std::string authority;
};

struct RouteError {
  int status;           // 400 or 502
  std::string message;  // exact text of SPEC §2, the response body
};

// `<workspace>-<port>.localhost[:p]` (case-insensitive).
struct HostPattern {
  std::string workspace;
  std::uint16_t port;
};
std::optional<HostPattern> parse_host_pattern(std::string_view host);

// localhost, *.localhost, loopback IPv4 / IPv6 literal, with or without port; empty counts.
bool host_is_local(std::string_view host);

// Reads routing headers from `req` (before any stripping). `req.authority` is the incoming
// Host / :authority.
std::expected<Target, RouteError> route(const http::RequestHead& req, const RouteConfig& config);

}  // namespace cmux::workspace
