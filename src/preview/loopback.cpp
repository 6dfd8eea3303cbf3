// Loopback classification (SPEC §3 "Target rewriting").
//
// The rule errs towards "loopback": a routed page's loopback request that is not recognised
// would be connected to *this* machine instead of the cloud workspace. So every spelling that
// the connect path (glibc getaddrinfo) would turn into a loopback address counts.
//
// Decisions where SPEC §3 is silent (mirrored in docs):
// - IPv4 in every form glibc's resolver accepts as a numeric host (inet_aton): `127.1`,
//   `0x7f.0.0.1`, `0177.0.0.1`, `2130706433`. getaddrinfo("127.1") connects to 127.0.0.1, so
//   "dotted quad only" would let a page reach this machine by spelling. (Chromium already
//   canonicalises these forms; other clients may not.) `0` and friends = 0.0.0.0 count too.
// - One trailing dot is ignored: `localhost.`, `a.localhost.`, `127.0.0.1.` are loopback
//   (same DNS name; Chromium and WHATWG treat them so).
// - `.localhost` (empty first label) counts as `*.localhost`; bare `cmux.local` /
//   `manaflow.local` do not (SPEC lists `*.cmux.local` only; same as the CA name constraint).
// - IPv6: besides ::1 and ::ffff:127.0.0.0/104, the unspecified `::` and `::ffff:0.0.0.0`
//   count (connecting to them reaches this machine on Linux, like 0.0.0.0). A zone id
//   (`::1%lo`) is ignored for the check. IPv4-compatible `::127.0.0.1` is not loopback.
// - Names that merely resolve to loopback (`ip6-localhost`, `localtest.me`, DNS rebinding) are
//   out of reach of a pure rule; the connect path has to guard those.
#include "preview/loopback.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "http/message.hpp"
#include "preview/url.hpp"

namespace cmux::preview {
namespace {

constexpr std::array<std::string_view, 3> kLoopbackDomainSuffixes = {".localhost", ".cmux.local",
                                                                     ".manaflow.local"};

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && http::iequals(s.substr(s.size() - suffix.size()), suffix);
}

bool is_loopback_name(std::string_view name) {
  if (http::iequals(name, "localhost")) return true;
  return std::any_of(kLoopbackDomainSuffixes.begin(), kLoopbackDomainSuffixes.end(),
                     [name](std::string_view suffix) { return iends_with(name, suffix); });
}

// Only what inet_aton's numeric forms use: glibc's inet_aton also accepts trailing
// whitespace + junk, which getaddrinfo (inet_aton_exact) does not; the filter rules that out.
bool is_numeric_ipv4_text(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == 'x' ||
           c == 'X' || c == '.';
  });
}

bool is_loopback_ipv4(std::string_view text) {
  std::array<char, 64> buffer{};  // NUL-terminated copy for inet_aton
  if (!is_numeric_ipv4_text(text) || text.size() >= buffer.size()) return false;
  std::memcpy(buffer.data(), text.data(), text.size());
  in_addr address{};
  if (inet_aton(buffer.data(), &address) == 0) return false;
  const std::uint32_t ip = ntohl(address.s_addr);
  return (ip >> 24) == 127 || ip == 0;
}

bool is_loopback_ipv6(std::string_view text) {
  text = text.substr(0, text.find('%'));  // zone id
  const auto ip = parse_ipv6_literal(text);
  if (!ip) return false;
  constexpr std::array<std::uint8_t, 12> kV4MappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  const bool all_zero_but_last =
      std::all_of(ip->begin(), ip->end() - 1, [](std::uint8_t b) { return b == 0; });
  if (all_zero_but_last && (ip->back() == 0 || ip->back() == 1)) return true;  // :: and ::1
  if (!std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), ip->begin())) return false;
  const bool mapped_zero =
      std::all_of(ip->begin() + 12, ip->end(), [](std::uint8_t b) { return b == 0; });
  return (*ip)[12] == 127 || mapped_zero;
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return is_loopback_ipv6(host.substr(1, host.size() - 2));
  }
  if (host.find(':') != std::string_view::npos) return is_loopback_ipv6(host);
  if (host.ends_with('.')) host.remove_suffix(1);
  if (host.empty()) return false;
  return is_loopback_name(host) || is_loopback_ipv4(host);
}

std::uint16_t requested_port(std::string_view scheme, std::optional<std::uint16_t> port) {
  if (port) return *port;
  if (http::iequals(scheme, "https") || http::iequals(scheme, "wss")) return 443;
  return 80;
}

}  // namespace cmux::preview
