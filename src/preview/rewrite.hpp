// Target rewriting of the preview proxy (SPEC §3 "Target rewriting"): where a request of a
// context goes and which internal headers it carries. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.hpp"
#include "preview/route.hpp"

namespace cmux::preview {

// A request's target: from the URL of an absolute-form request, or `host:port` of a CONNECT.
struct Target {
  std::string scheme;      // "http", "https", "ws", "wss"; empty for CONNECT
  std::string host;        // lower-case; IPv6 without brackets
  std::uint16_t port = 0;  // the requested port, 1-65535
  std::string path;        // path and query ("/" at least); empty for CONNECT

  friend bool operator==(const Target&, const Target&) = default;
};

// Absolute-form request target: scheme http/https/ws/wss, port 1-65535 (default by scheme).
// nullopt -> 400 Bad Request.
std::optional<Target> target_from_url(std::string_view url);

// CONNECT target `host:port` or `[v6]:port`; a missing host or a port outside 1-65535 ->
// nullopt (400 Bad Request).
std::optional<Target> parse_connect_target(std::string_view authority);

// `host[:port]` for a Host header: IPv6 bracketed, the port left out when it is the scheme's
// default (never for CONNECT, which has no scheme).
std::string authority_of(const Target& target);

struct Rewritten {
  Target connect_to;         // where the proxy connects (scheme, host, port) and the path it sends
  std::string authority;     // Host (HTTP/1.1) / :authority (HTTP/2) to send
  http::Fields add_headers;  // lower-case names: x-cmux-port-internal, x-cmux-host-override,
                             // x-cmux-workspace-internal
  bool rewritten = false;    // false: forwarded unchanged
};

struct RewriteError {
  std::string message;  // for the log; the request fails with 502 Bad Gateway
};

// Routed context + loopback target: to route->cmux_proxy_origin, else upstream_proxy_url,
// else https://cmux-<morphId>-<scope>-<port>.<domainSuffix> on 443. Everything else unchanged.
// Errors only for a route / upstream URL that cannot be used (unparsable origin, non-http(s)
// scheme, fields that do not make a host name, a workspace that is not visible ASCII).
std::expected<Rewritten, RewriteError> rewrite(const Target& target,
                                               const std::optional<Route>& route,
                                               std::string_view upstream_proxy_url);

// Removes every client-sent `x-cmux-*` field (names are lower-case in http::Fields). Call it
// before adding Rewritten::add_headers.
void strip_client_internal_headers(http::Fields& fields);

}  // namespace cmux::preview
