// Target rewriting (SPEC §3 "Target rewriting").
//
// Decisions where SPEC §3 is silent (mirrored in docs):
// - The origin (cmuxProxyOrigin or upstreamProxyUrl) must be an http:// or https:// URL; its
//   path, query and userinfo are ignored (an origin is scheme + authority). Its default port
//   follows the scheme. The Host sent is its authority as written (host lower-cased, port only
//   when the origin names one). An empty cmuxProxyOrigin counts as none.
// - An unusable origin, or route fields that do not make a host name for the fallback, are a
//   RewriteError (-> 502), never a silent fallback to another destination.
// - X-Cmux-Host-Override is the target host as the client wrote it (lower-cased, trailing dot
//   kept, IPv6 bracketed) plus the requested port, always with the port.
// - An empty workspace counts as none; a workspace with bytes outside 0x21-0x7E is an error
//   (it would be a header injection; derive_route never produces one).
// - The fallback `https://cmux-<morphId>-<scope>-<port>.<domainSuffix>/…` carries no internal
//   headers: that edge router reads port and scope from the host name. Its host is lower-cased.
// - strip_client_internal_headers removes every `x-cmux-*` name, not only the three routing
//   ones: all of that namespace is the proxies' own (e.g. the old edge router's
//   X-Cmux-Proxied loop marker), and a page must not forge any of it.
#include "preview/rewrite.hpp"

#include <algorithm>

#include "preview/loopback.hpp"
#include "preview/url.hpp"

namespace cmux::preview {
namespace {

constexpr std::string_view kPortHeader = "x-cmux-port-internal";
constexpr std::string_view kHostOverrideHeader = "x-cmux-host-override";
constexpr std::string_view kWorkspaceHeader = "x-cmux-workspace-internal";
constexpr std::string_view kInternalPrefix = "x-cmux-";
constexpr std::uint16_t kFallbackPort = 443;

std::unexpected<RewriteError> fail(std::string message) {
  return std::unexpected(RewriteError{std::move(message)});
}

bool is_target_scheme(std::string_view scheme) {
  return scheme == "http" || scheme == "https" || scheme == "ws" || scheme == "wss";
}

bool is_visible_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7E; });
}

std::optional<std::uint16_t> default_port(std::string_view scheme) {
  if (scheme.empty()) return std::nullopt;
  return requested_port(scheme, std::nullopt);
}

struct Origin {
  std::string scheme;
  std::string host;
  std::uint16_t port;
  std::string authority;  // as written: host[:port]
};

std::expected<Origin, RewriteError> parse_origin(std::string_view url) {
  std::optional<Url> parsed = parse_url(url);
  if (!parsed) return fail("invalid proxy origin: " + std::string(url));
  if (parsed->scheme != "http" && parsed->scheme != "https") {
    return fail("proxy origin is not http(s): " + std::string(url));
  }
  if (parsed->port == 0) return fail("proxy origin has port 0: " + std::string(url));
  std::string authority =
      parsed->port ? format_host_port(parsed->host, *parsed->port) : bracket_host(parsed->host);
  const std::uint16_t port = requested_port(parsed->scheme, parsed->port);
  return Origin{std::move(parsed->scheme), std::move(parsed->host), port, std::move(authority)};
}

std::expected<std::optional<std::string>, RewriteError> workspace_of(const Route& route) {
  if (!route.workspace || route.workspace->empty()) return std::nullopt;
  if (!is_visible_ascii(*route.workspace)) return fail("invalid workspace in route");
  return *route.workspace;
}

std::expected<Rewritten, RewriteError> rewrite_to_origin(const Target& target, const Route& route,
                                                         std::string_view origin_url) {
  auto origin = parse_origin(origin_url);
  if (!origin) return std::unexpected(origin.error());
  const auto workspace = workspace_of(route);
  if (!workspace) return std::unexpected(workspace.error());
  Rewritten out{Target{std::move(origin->scheme), std::move(origin->host), origin->port, target.path},
                std::move(origin->authority),
                {{std::string(kPortHeader), std::to_string(target.port)},
                 {std::string(kHostOverrideHeader), format_host_port(target.host, target.port)}},
                true};
  if (*workspace) out.add_headers.push_back({std::string(kWorkspaceHeader), **workspace});
  return out;
}

std::expected<Rewritten, RewriteError> rewrite_to_edge(const Target& target, const Route& route) {
  const std::string host = http::to_lower("cmux-" + route.morph_id + "-" + route.scope + "-" +
                                          std::to_string(target.port) + "." + route.domain_suffix);
  const std::optional<HostPort> checked = parse_authority(host);
  if (route.morph_id.empty() || route.scope.empty() || route.domain_suffix.empty() || !checked ||
      checked->port) {
    return fail("route does not make a host name: " + host);
  }
  return Rewritten{Target{"https", host, kFallbackPort, target.path}, host, {}, true};
}

}  // namespace

std::optional<Target> target_from_url(std::string_view url) {
  std::optional<Url> parsed = parse_url(url);
  if (!parsed || !is_target_scheme(parsed->scheme) || parsed->port == 0) return std::nullopt;
  const std::uint16_t port = requested_port(parsed->scheme, parsed->port);
  return Target{std::move(parsed->scheme), std::move(parsed->host), port,
                std::move(parsed->path_and_query)};
}

std::optional<Target> parse_connect_target(std::string_view authority) {
  std::optional<HostPort> parsed = parse_authority(authority);
  if (!parsed || !parsed->port || *parsed->port == 0) return std::nullopt;
  return Target{"", std::move(parsed->host), *parsed->port, ""};
}

std::string authority_of(const Target& target) {
  if (default_port(target.scheme) == target.port) return bracket_host(target.host);
  return format_host_port(target.host, target.port);
}

std::expected<Rewritten, RewriteError> rewrite(const Target& target,
                                               const std::optional<Route>& route,
                                               std::string_view upstream_proxy_url) {
  if (!route || !is_loopback_host(target.host)) {
    return Rewritten{target, authority_of(target), {}, false};
  }
  if (!route->cmux_proxy_origin.empty()) {
    return rewrite_to_origin(target, *route, route->cmux_proxy_origin);
  }
  if (!upstream_proxy_url.empty()) return rewrite_to_origin(target, *route, upstream_proxy_url);
  return rewrite_to_edge(target, *route);
}

void strip_client_internal_headers(http::Fields& fields) {
  std::erase_if(fields, [](const http::Field& field) {
    return field.name.size() >= kInternalPrefix.size() &&
           http::iequals(std::string_view(field.name).substr(0, kInternalPrefix.size()),
                         kInternalPrefix);
  });
}

}  // namespace cmux::preview
