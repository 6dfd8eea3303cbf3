// Minimal URL / authority parsing for the preview proxy (see url.hpp for the accepted grammar).
#include "preview/url.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <expected>

#include "http/message.hpp"

namespace cmux::preview {
namespace {

constexpr std::string_view kSchemeSeparator = "://";

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool is_scheme(std::string_view s) {
  if (s.empty() || !is_alpha(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
  });
}

// A DNS-ish name or dotted IPv4 text. '_' is not valid in host names but common in the wild
// (and Chromium passes it); anything else (%, *, non-ASCII, ...) is rejected.
bool is_host_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_';
  });
}

bool is_ipv6_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

bool is_space_or_control(char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F; }

std::string_view trim_space_and_controls(std::string_view s) {
  while (!s.empty() && is_space_or_control(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space_or_control(s.back())) s.remove_suffix(1);
  return s;
}

struct Malformed {};

// "" -> no port; *DIGIT -> 0-65535 (leading zeros allowed, as in WHATWG and RFC 3986).
std::expected<std::optional<std::uint16_t>, Malformed> parse_port(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint32_t value = 0;
  for (const char c : s) {
    if (!is_digit(c)) return std::unexpected(Malformed{});
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
    if (value > 65535) return std::unexpected(Malformed{});
  }
  return static_cast<std::uint16_t>(value);
}

// After the host: nothing, or ':' and a port.
std::expected<std::optional<std::uint16_t>, Malformed> parse_port_suffix(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s.front() != ':') return std::unexpected(Malformed{});
  return parse_port(s.substr(1));
}

std::optional<HostPort> make_host_port(
    std::string_view host, const std::expected<std::optional<std::uint16_t>, Malformed>& port) {
  if (!port) return std::nullopt;
  return HostPort{http::to_lower(host), *port};
}

// "" -> "/", "?q" -> "/?q"; the fragment never leaves the client.
std::string path_and_query_of(std::string_view rest) {
  rest = rest.substr(0, rest.find('#'));
  if (rest.empty() || rest.front() == '?') return "/" + std::string(rest);
  return std::string(rest);
}

}  // namespace

std::optional<std::array<std::uint8_t, 16>> parse_ipv6_literal(std::string_view text) {
  // inet_pton wants a NUL-terminated string; copy into a stack buffer (no allocation). The
  // character check comes first: an embedded NUL would make inet_pton read only a prefix.
  std::array<char, INET6_ADDRSTRLEN + 1> buffer{};
  if (text.size() >= buffer.size() || !std::all_of(text.begin(), text.end(), is_ipv6_char)) {
    return std::nullopt;
  }
  std::memcpy(buffer.data(), text.data(), text.size());
  std::array<std::uint8_t, 16> ip{};
  if (inet_pton(AF_INET6, buffer.data(), ip.data()) != 1) return std::nullopt;
  return ip;
}

std::optional<HostPort> parse_authority(std::string_view authority) {
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view literal = authority.substr(1, close - 1);
    if (!parse_ipv6_literal(literal)) return std::nullopt;
    return make_host_port(literal, parse_port_suffix(authority.substr(close + 1)));
  }
  const std::size_t colon = authority.find(':');
  const std::string_view host = authority.substr(0, colon);
  if (!is_host_name(host)) return std::nullopt;
  const std::string_view suffix =
      colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
  return make_host_port(host, parse_port_suffix(suffix));
}

std::optional<Url> parse_url(std::string_view url) {
  url = trim_space_and_controls(url);
  if (std::any_of(url.begin(), url.end(), is_space_or_control)) return std::nullopt;
  const std::size_t scheme_end = url.find(kSchemeSeparator);
  if (scheme_end == std::string_view::npos || !is_scheme(url.substr(0, scheme_end))) {
    return std::nullopt;
  }
  const std::string_view rest = url.substr(scheme_end + kSchemeSeparator.size());
  // (find_first_of would call memchr on "/?#" once per character of the authority.)
  const std::size_t authority_end = static_cast<std::size_t>(
      std::find_if(rest.begin(), rest.end(), [](char c) { return c == '/' || c == '?' || c == '#'; }) - rest.begin());
  std::string_view authority = rest.substr(0, authority_end);
  if (authority.find('\\') != std::string_view::npos) return std::nullopt;
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::optional<HostPort> host_port = parse_authority(authority);
  if (!host_port) return std::nullopt;
  return Url{http::to_lower(url.substr(0, scheme_end)), std::move(host_port->host), host_port->port,
             path_and_query_of(rest.substr(authority_end))};
}

std::string bracket_host(std::string_view host) {
  if (host.find(':') == std::string_view::npos) return std::string(host);
  return "[" + std::string(host) + "]";
}

std::string format_host_port(std::string_view host, std::uint16_t port) {
  return bracket_host(host) + ":" + std::to_string(port);
}

}  // namespace cmux::preview
