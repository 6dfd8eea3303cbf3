// Minimal URL and authority parsing for the preview proxy (SPEC §3): pure functions, no I/O.
// Enough of RFC 3986 / WHATWG for proxy request targets, CONNECT authorities, route URLs and
// configured origins — not a general URL library (no IDNA, no percent-decoding, no
// relative references, no IPv4 canonicalisation).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cmux::preview {

struct Url {
  std::string scheme;  // lower-case, without "://"
  // Lower-case. IPv6 literals without brackets. A trailing dot is kept as written: it is what
  // the page asked for (X-Cmux-Host-Override carries it); rules that match names fold it.
  std::string host;
  std::optional<std::uint16_t> port;  // nullopt when absent or empty ("http://h:/")
  std::string path_and_query;         // never empty ("/" when the URL has no path); no fragment

  friend bool operator==(const Url&, const Url&) = default;
};

// `scheme://[userinfo@]host[:port][/path][?query][#fragment]` with a non-empty host.
// Leading/trailing whitespace and control bytes are trimmed; any other byte <= 0x20 or 0x7F
// rejects the URL (it could not be sent as a request target). Userinfo is dropped (the last
// '@' of the authority ends it, as in WHATWG). A '\' in the authority rejects the URL:
// WHATWG would end the authority there, so accepting it would let a client and this parser
// disagree on the host. Port 0 parses (the caller decides); 65536 and above do not.
std::optional<Url> parse_url(std::string_view url);

struct HostPort {
  std::string host;  // lower-case; IPv6 without brackets
  std::optional<std::uint16_t> port;

  friend bool operator==(const HostPort&, const HostPort&) = default;
};

// `host[:port]` or `[v6][:port]` (no userinfo). A name is ASCII letters, digits, '-', '.',
// '_'; an IPv6 literal must be bracketed and valid for inet_pton (so no zone id).
std::optional<HostPort> parse_authority(std::string_view authority);

// The 16 bytes of an IPv6 literal (no brackets), via inet_pton.
std::optional<std::array<std::uint8_t, 16>> parse_ipv6_literal(std::string_view text);

// "host:port", IPv6 in brackets. (net::format_authority does the same but its header drags in
// Asio; the preview rules stay standard-library only so the fuzz targets can build them.)
std::string format_host_port(std::string_view host, std::uint16_t port);

// The host as it goes into an authority: IPv6 in brackets.
std::string bracket_host(std::string_view host);

}  // namespace cmux::preview
