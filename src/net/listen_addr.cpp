// --listen / CMUX_LISTEN parsing and de-duplication (SPEC §2 "Start").
//
// Decisions where SPEC §2 is silent (mirrored in docs):
// - IPs are stored in canonical form (inet_ntop), so `[0:0::1]:80` and `[::1]:80` are the
//   same listener for de-duplication and print as `[::1]:80`.
// - Only numeric IPs: host names, IPv6 zone ids (`fe80::1%eth0`), bracketed IPv4 and
//   unbracketed IPv6 are errors. The port is required, decimal 0-65535.
// - Port 0 entries are never de-duplicated or shadowed: each one asks for its own free port,
//   so `127.0.0.1:0,127.0.0.1:0` binds two listeners.
// - `[::]:P` shadows nothing (whether it also takes IPv4 depends on IPV6_V6ONLY, a bind-time
//   matter); only `0.0.0.0:P` shadows, and only IPv4 addresses.
// - A list that is entirely blank parses to an empty vector; the caller decides.
#include "net/listen_addr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <set>

namespace cmux::net {
namespace {

constexpr std::string_view kAnyIPv4 = "0.0.0.0";

std::string_view trim_blanks(std::string_view s) {
  constexpr std::string_view kBlanks = " \t\r\n";
  const std::size_t first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kBlanks) - first + 1);
}

// Decimal 0-65535; leading zeros allowed, no sign.
std::optional<std::uint16_t> parse_listen_port(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint32_t value = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
    if (value > 65535) return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

// Numeric IP of `family` in canonical text form, or nullopt.
std::optional<std::string> canonical_ip(int family, std::string_view text) {
  std::array<char, INET6_ADDRSTRLEN + 1> input{};
  if (text.size() >= input.size()) return std::nullopt;
  std::memcpy(input.data(), text.data(), text.size());
  std::array<unsigned char, sizeof(in6_addr)> binary{};
  if (inet_pton(family, input.data(), binary.data()) != 1) return std::nullopt;
  std::array<char, INET6_ADDRSTRLEN> output{};
  if (inet_ntop(family, binary.data(), output.data(), output.size()) == nullptr) {
    return std::nullopt;
  }
  return std::string(output.data());
}

std::string item_error(std::string_view item, std::string_view reason) {
  return "invalid listen address '" + std::string(item) + "': " + std::string(reason);
}

std::expected<ListenAddr, std::string> parse_listen_addr(std::string_view item) {
  std::string_view ip_text;
  std::string_view port_text;
  int family = AF_INET;
  if (item.starts_with('[')) {
    const std::size_t close = item.find(']');
    if (close == std::string_view::npos) return std::unexpected(item_error(item, "missing ']'"));
    if (item.substr(close + 1, 1) != ":") {
      return std::unexpected(item_error(item, "expected [IPv6]:PORT"));
    }
    ip_text = item.substr(1, close - 1);
    port_text = item.substr(close + 2);
    family = AF_INET6;
  } else {
    const std::size_t colon = item.rfind(':');
    if (colon == std::string_view::npos) {
      return std::unexpected(item_error(item, "expected IP:PORT or [IPv6]:PORT"));
    }
    ip_text = item.substr(0, colon);
    port_text = item.substr(colon + 1);
    if (ip_text.find(':') != std::string_view::npos) {
      return std::unexpected(item_error(item, "IPv6 addresses need brackets, e.g. [::1]:PORT"));
    }
  }
  const std::optional<std::uint16_t> port = parse_listen_port(port_text);
  if (!port) return std::unexpected(item_error(item, "port must be a number from 0 to 65535"));
  std::optional<std::string> ip = canonical_ip(family, ip_text);
  if (!ip) {
    return std::unexpected(item_error(
        item, family == AF_INET6 ? "not a numeric IPv6 address" : "not a numeric IPv4 address"));
  }
  return ListenAddr{std::move(*ip), *port};
}

}  // namespace

std::string ListenAddr::to_string() const {
  const std::string port_text = std::to_string(port);
  return is_v6() ? "[" + ip + "]:" + port_text : ip + ":" + port_text;
}

std::expected<std::vector<ListenAddr>, std::string> parse_listen_list(
    const std::vector<std::string>& items) {
  std::vector<ListenAddr> addrs;
  for (const std::string& list : items) {
    std::string_view rest = list;
    while (true) {
      const std::size_t comma = rest.find(',');
      const std::string_view item = trim_blanks(rest.substr(0, comma));
      if (!item.empty()) {
        auto addr = parse_listen_addr(item);
        if (!addr) return std::unexpected(std::move(addr.error()));
        addrs.push_back(std::move(*addr));
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return addrs;
}

std::vector<ListenAddr> dedupe_listen_addrs(std::vector<ListenAddr> addrs) {
  std::set<std::uint16_t> wildcard_v4_ports;
  for (const ListenAddr& addr : addrs) {
    if (addr.ip == kAnyIPv4 && addr.port != 0) wildcard_v4_ports.insert(addr.port);
  }
  std::vector<ListenAddr> kept;
  for (ListenAddr& addr : addrs) {
    if (addr.port == 0) {  // each asks for its own free port: never a duplicate
      kept.push_back(std::move(addr));
      continue;
    }
    const bool shadowed =
        !addr.is_v6() && addr.ip != kAnyIPv4 && wildcard_v4_ports.contains(addr.port);
    const bool duplicate = std::find(kept.begin(), kept.end(), addr) != kept.end();
    if (!shadowed && !duplicate) kept.push_back(std::move(addr));
  }
  return kept;
}

}  // namespace cmux::net
