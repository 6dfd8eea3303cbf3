// --listen / CMUX_LISTEN parsing for cmux-proxy (SPEC §2 "Start"). Pure.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace cmux::net {

struct ListenAddr {
  std::string ip;  // numeric IPv4 or IPv6 (no brackets)
  std::uint16_t port = 0;
  bool is_v6() const { return ip.find(':') != std::string::npos; }
  // "1.2.3.4:80" or "[::1]:80"
  std::string to_string() const;
  friend bool operator==(const ListenAddr&, const ListenAddr&) = default;
};

// Parses each item (comma-separated lists allowed, blanks ignored) as IP:PORT or [IPv6]:PORT.
// Error text names the offending item.
std::expected<std::vector<ListenAddr>, std::string> parse_listen_list(
    const std::vector<std::string>& items);

// Drops duplicates (first occurrence wins, order kept) and IPv4 addresses shadowed by
// 0.0.0.0 on the same port. Port 0 entries are kept as they are (never shadowing, shadowed
// or de-duplicated): each asks for its own free port. IPv6 addresses are never shadowed.
std::vector<ListenAddr> dedupe_listen_addrs(std::vector<ListenAddr> addrs);

}  // namespace cmux::net
