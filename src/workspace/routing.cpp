// cmux-proxy routing rules (SPEC §2 "Routing"): request head -> upstream target or error.
//
// Decisions where SPEC §2 is silent (mirrored in docs):
// - Each routing header may appear at most once; a repeat is `400 duplicate header: <Name>`
//   (the Rust proxy silently took the first). The headers are single-valued and only the
//   preview proxy sets them, so a repeat means a confused or malicious client.
// - Errors are checked in the order port, upstream host, Host; the first one wins.
// - A routing header value must be UTF-8 text without control characters (HTAB aside), else
//   `400 invalid header value (not UTF-8): <Name>`.
// - An X-Cmux-Host-Override that is empty after trimming counts as absent (as in the Rust
//   proxy, and as the preview proxy may send it); one with bytes outside 0x21-0x7E is
//   `400 invalid header value (not visible ASCII): X-Cmux-Host-Override`.
// - CONNECT forwards no Host: the override, the Host check and --require-local-host do not
//   apply, and Target.authority is the incoming authority.
#include "workspace/routing.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "workspace/workspace_ip.hpp"

namespace cmux::workspace {
namespace {

struct RoutingHeader {
  std::string_view field;    // lower-case, as stored in http::Fields
  std::string_view display;  // as written in error messages
};
constexpr RoutingHeader kPortHeader{"x-cmux-port-internal", "X-Cmux-Port-Internal"};
constexpr RoutingHeader kWorkspaceHeader{"x-cmux-workspace-internal", "X-Cmux-Workspace-Internal"};
constexpr RoutingHeader kHostOverrideHeader{"x-cmux-host-override", "X-Cmux-Host-Override"};

constexpr std::string_view kLocalhost = "localhost";
constexpr std::string_view kDotLocalhost = ".localhost";

std::unexpected<RouteError> fail(int status, std::string message) {
  return std::unexpected(RouteError{status, std::move(message)});
}

bool is_visible_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7E; });
}

struct Utf8Lead {
  std::size_t length;
  unsigned char lo, hi;  // allowed range of the first continuation byte
};

// RFC 3629 table 4: the narrowed ranges rule out overlong forms, surrogates and code points
// above U+10FFFF.
std::optional<Utf8Lead> classify_utf8_lead(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return Utf8Lead{2, 0x80, 0xBF};
  if (lead == 0xE0) return Utf8Lead{3, 0xA0, 0xBF};
  if (lead == 0xED) return Utf8Lead{3, 0x80, 0x9F};
  if (lead >= 0xE1 && lead <= 0xEF) return Utf8Lead{3, 0x80, 0xBF};
  if (lead == 0xF0) return Utf8Lead{4, 0x90, 0xBF};
  if (lead >= 0xF1 && lead <= 0xF3) return Utf8Lead{4, 0x80, 0xBF};
  if (lead == 0xF4) return Utf8Lead{4, 0x80, 0x8F};
  return std::nullopt;
}

// Length of the well-formed UTF-8 sequence starting at s[i], or 0.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  if (byte(i) < 0x80) return 1;
  const std::optional<Utf8Lead> lead = classify_utf8_lead(byte(i));
  if (!lead || i + lead->length > s.size()) return 0;
  if (byte(i + 1) < lead->lo || byte(i + 1) > lead->hi) return 0;
  for (std::size_t k = 2; k < lead->length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return lead->length;
}

bool is_utf8_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
    const std::size_t length = utf8_sequence_length(s, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Decimal 0-65535; leading zeros allowed, no sign, no spaces.
std::optional<std::uint32_t> parse_u16_value(std::string_view s) {
  if (s.empty() || !all_digits(s)) return std::nullopt;
  std::uint32_t value = 0;
  for (const char c : s) {
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
    if (value > 65535) return std::nullopt;
  }
  return value;
}

// A port to connect to: 1-65535.
std::optional<std::uint16_t> parse_port(std::string_view s) {
  const std::optional<std::uint32_t> value = parse_u16_value(s);
  if (!value || *value == 0) return std::nullopt;
  return static_cast<std::uint16_t>(*value);
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && http::iequals(s.substr(s.size() - suffix.size()), suffix);
}

struct AuthorityHost {
  std::string_view host;  // without brackets and port
  bool ip_literal_only;   // `[...]` or a bare IPv6 literal: no name can match
};

// Nothing, or `:` and *DIGIT (RFC 3986 allows an empty port) up to 65535.
bool is_port_suffix(std::string_view s) {
  if (s.empty()) return true;
  if (s.front() != ':') return false;
  s.remove_prefix(1);
  return s.empty() || parse_u16_value(s).has_value();
}

// Splits `host[:port]`, `[v6][:port]` or a bare IPv6 literal (more than one colon).
std::optional<AuthorityHost> split_authority(std::string_view authority) {
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos || !is_port_suffix(authority.substr(close + 1))) {
      return std::nullopt;
    }
    return AuthorityHost{authority.substr(1, close - 1), true};
  }
  const auto colons = std::count(authority.begin(), authority.end(), ':');
  if (colons > 1) return AuthorityHost{authority, true};
  const std::size_t colon = authority.find(':');
  if (!is_port_suffix(authority.substr(std::min(colon, authority.size())))) return std::nullopt;
  return AuthorityHost{authority.substr(0, colon), false};
}

// inet_pton wants a NUL-terminated string; copy into a stack buffer (no allocation).
template <int Family, std::size_t Size>
bool parse_ip(std::string_view text, std::array<unsigned char, Size>& out) {
  std::array<char, INET6_ADDRSTRLEN + 1> buffer{};
  if (text.size() >= buffer.size()) return false;
  std::memcpy(buffer.data(), text.data(), text.size());
  return inet_pton(Family, buffer.data(), out.data()) == 1;
}

bool is_loopback_ipv4(std::string_view text) {
  std::array<unsigned char, 4> ip{};
  return parse_ip<AF_INET>(text, ip) && ip[0] == 127;
}

// ::1 in any spelling, or an IPv4-mapped 127/8 address (::ffff:127.x.y.z).
bool is_loopback_ipv6(std::string_view text) {
  std::array<unsigned char, 16> ip{};
  if (!parse_ip<AF_INET6>(text, ip)) return false;
  constexpr std::array<unsigned char, 16> kLoopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  constexpr std::array<unsigned char, 12> kV4MappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  const bool v4_mapped = std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), ip.begin());
  return ip == kLoopback || (v4_mapped && ip[12] == 127);
}

std::string format_ipv4(const std::array<std::uint8_t, 4>& ip) {
  return std::to_string(ip[0]) + '.' + std::to_string(ip[1]) + '.' + std::to_string(ip[2]) + '.' +
         std::to_string(ip[3]);
}

// The trimmed value of a single-valued routing header; nullopt when absent.
std::expected<std::optional<std::string_view>, RouteError> read_routing_header(
    const http::Fields& fields, const RoutingHeader& header) {
  const std::size_t count = http::count_field(fields, header.field);
  if (count == 0) return std::nullopt;
  if (count > 1) return fail(400, "duplicate header: " + std::string(header.display));
  const std::string_view value = *http::find_field(fields, header.field);
  if (!is_utf8_text(value)) {
    return fail(400, "invalid header value (not UTF-8): " + std::string(header.display));
  }
  return http::trim(value);
}

std::expected<std::uint16_t, RouteError> route_port(const http::Fields& fields,
                                                    const std::optional<HostPattern>& pattern) {
  const auto header = read_routing_header(fields, kPortHeader);
  if (!header) return std::unexpected(header.error());
  if (const std::optional<std::string_view> value = *header) {
    if (value->empty()) return fail(400, "header value cannot be empty");
    const std::optional<std::uint16_t> port = parse_port(*value);
    if (!port) return fail(400, "invalid port in X-Cmux-Port-Internal");
    return *port;
  }
  if (pattern) return pattern->port;
  return fail(400, "missing required header: X-Cmux-Port-Internal");
}

std::expected<std::string, RouteError> workspace_ip_string(std::string_view workspace) {
  const auto ip = workspace_ip(workspace);
  if (!ip) return fail(400, "invalid workspace name: " + std::string(workspace));
  return format_ipv4(*ip);
}

std::expected<std::string, RouteError> route_upstream_host(
    const http::Fields& fields, const std::optional<HostPattern>& pattern,
    const RouteConfig& config) {
  const auto header = read_routing_header(fields, kWorkspaceHeader);
  if (!header) return std::unexpected(header.error());
  if (const std::optional<std::string_view> workspace = *header) {
    if (workspace->empty()) return fail(400, "header value cannot be empty");
    return workspace_ip_string(*workspace);
  }
  if (!config.allow_default_upstream && pattern) return workspace_ip_string(pattern->workspace);
  return config.default_upstream_host;
}

std::expected<std::string, RouteError> route_authority(const http::RequestHead& req,
                                                       const RouteConfig& config) {
  if (req.is_connect()) return req.authority;
  const auto header = read_routing_header(req.fields, kHostOverrideHeader);
  if (!header) return std::unexpected(header.error());
  if (const std::optional<std::string_view> override_host = *header;
      override_host && !override_host->empty()) {
    if (!is_visible_ascii(*override_host)) {
      return fail(400, "invalid header value (not visible ASCII): X-Cmux-Host-Override");
    }
    return std::string(*override_host);
  }
  if (!is_visible_ascii(req.authority)) return fail(400, "invalid Host header (not UTF-8)");
  if (config.require_local_host && !host_is_local(req.authority)) {
    return fail(502, "Host header requires X-Cmux-Host-Override");
  }
  return req.authority;
}

}  // namespace

// Exactly one label before `localhost` (`a.ws-1.localhost` does not match; the Rust proxy
// took `a.ws` as the workspace). A trailing dot (`ws-1.localhost.`) does not match either.
// The workspace is returned lower-cased: host names are case-insensitive.
std::optional<HostPattern> parse_host_pattern(std::string_view host) {
  if (!is_visible_ascii(host)) return std::nullopt;
  const std::optional<AuthorityHost> split = split_authority(host);
  if (!split || split->ip_literal_only || !iends_with(split->host, kDotLocalhost)) {
    return std::nullopt;
  }
  const std::string_view label = split->host.substr(0, split->host.size() - kDotLocalhost.size());
  const std::size_t dash = label.rfind('-');
  if (label.find('.') != std::string_view::npos || dash == std::string_view::npos || dash == 0) {
    return std::nullopt;
  }
  const std::optional<std::uint16_t> port = parse_port(label.substr(dash + 1));
  if (!port) return std::nullopt;
  return HostPattern{http::to_lower(label.substr(0, dash)), *port};
}

// `localhost.` (trailing dot) is not local: --require-local-host exists so the upstream dev
// server sees a Host it accepts, and dev-server host checks do not fold the dot either.
// An empty host name with a port (`:80`) counts as empty, like the Rust proxy.
bool host_is_local(std::string_view host) {
  if (host.empty()) return true;
  if (!is_visible_ascii(host)) return false;
  const std::optional<AuthorityHost> split = split_authority(host);
  if (!split) return false;
  const std::string_view name = split->host;
  if (split->ip_literal_only) return is_loopback_ipv6(name);
  if (name.empty() || http::iequals(name, kLocalhost)) return true;
  if (name.size() > kDotLocalhost.size() && iends_with(name, kDotLocalhost)) return true;
  return is_loopback_ipv4(name);
}

std::expected<Target, RouteError> route(const http::RequestHead& req, const RouteConfig& config) {
  const std::optional<HostPattern> pattern = parse_host_pattern(req.authority);
  const auto port = route_port(req.fields, pattern);
  if (!port) return std::unexpected(port.error());
  auto host = route_upstream_host(req.fields, pattern, config);
  if (!host) return std::unexpected(host.error());
  auto authority = route_authority(req, config);
  if (!authority) return std::unexpected(authority.error());
  return Target{std::move(*host), *port, std::move(*authority)};
}

}  // namespace cmux::workspace
