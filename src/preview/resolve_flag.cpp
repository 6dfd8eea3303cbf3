// --resolve parsing (SPEC §5).
//
// Decisions where SPEC §5 is silent (mirrored in docs):
// - The map key is spelled as the proxy spells a target (format_host_port of the lower-cased
//   host as written), so `LOCALHOST:443` overrides `localhost:443`; IPv6 literals are not
//   canonicalised (`[0::1]` and `[::1]` are different keys).
// - The address must be a numeric IP (strict dotted-quad IPv4 or bracketed IPv6): a name would
//   need a second resolution, which --resolve exists to avoid.
#include "preview/resolve_flag.hpp"

#include <arpa/inet.h>

#include <optional>
#include <vector>

#include "preview/url.hpp"

namespace cmux::preview {
namespace {

// Splits at every ':' outside brackets: "[::1]:80:h:1" -> "[::1]", "80", "h", "1".
std::vector<std::string_view> split_colons(std::string_view value) {
  std::vector<std::string_view> pieces;
  bool in_brackets = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '[') in_brackets = true;
    if (value[i] == ']') in_brackets = false;
    if (value[i] == ':' && !in_brackets) {
      pieces.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  pieces.push_back(value.substr(start));
  return pieces;
}

// `host` + `port` through the proxy's own authority parser (names, bracketed IPv6, port range).
std::optional<HostPort> host_port(std::string_view host, std::string_view port) {
  std::optional<HostPort> parsed = parse_authority(std::string(host) + ":" + std::string(port));
  if (!parsed || parsed->host.empty() || !parsed->port || *parsed->port == 0) return std::nullopt;
  return parsed;
}

bool is_ip_address(const std::string& text) {
  in_addr v4{};
  return inet_pton(AF_INET, text.c_str(), &v4) == 1 || parse_ipv6_literal(text).has_value();
}

}  // namespace

std::expected<std::pair<std::string, std::string>, std::string> parse_resolve_flag(
    std::string_view value) {
  const std::string shown(value);
  const std::vector<std::string_view> pieces = split_colons(value);
  if (pieces.size() != 4) {
    return std::unexpected("--resolve " + shown + ": expected HOST:PORT:IP:PORT");
  }
  const std::optional<HostPort> from = host_port(pieces[0], pieces[1]);
  const std::optional<HostPort> to = host_port(pieces[2], pieces[3]);
  if (!from || !to) {
    return std::unexpected("--resolve " + shown + ": expected HOST:PORT:IP:PORT with ports 1-65535");
  }
  if (!is_ip_address(to->host)) {
    return std::unexpected("--resolve " + shown + ": " + to->host + " is not a numeric IP address");
  }
  return std::pair{format_host_port(from->host, *from->port), format_host_port(to->host, *to->port)};
}

}  // namespace cmux::preview
