// libFuzzer target: parse_listen_list + dedupe_listen_addrs (SPEC §2 "Start").
// Input: '\n'-separated --listen arguments (each may hold a comma-separated list).
// Checks that to_string() round-trips and that de-duplication is a stable, idempotent filter.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/listen_addr.hpp"

namespace {

using cmux::net::ListenAddr;

std::vector<std::string> split_lines(std::string_view input) {
  std::vector<std::string> lines;
  while (true) {
    const std::size_t newline = input.find('\n');
    lines.emplace_back(input.substr(0, newline));
    if (newline == std::string_view::npos) return lines;
    input.remove_prefix(newline + 1);
  }
}

void check_round_trip(const ListenAddr& addr) {
  const auto reparsed = cmux::net::parse_listen_list({addr.to_string()});
  if (!reparsed || reparsed->size() != 1 || reparsed->front() != addr) __builtin_trap();
}

// `kept` must be a subsequence of `all` without two equal non-zero-port entries, and no IPv4
// entry may share a non-zero port with a kept 0.0.0.0 unless it is that 0.0.0.0.
void check_dedupe(const std::vector<ListenAddr>& all, const std::vector<ListenAddr>& kept) {
  auto from = all.begin();
  for (const ListenAddr& addr : kept) {
    from = std::find(from, all.end(), addr);
    if (from == all.end()) __builtin_trap();
    ++from;
    if (addr.port == 0) continue;
    if (std::count(kept.begin(), kept.end(), addr) != 1) __builtin_trap();
    const bool wildcard_on_port =
        std::count(kept.begin(), kept.end(), ListenAddr{"0.0.0.0", addr.port}) > 0;
    if (!addr.is_v6() && addr.ip != "0.0.0.0" && wildcard_on_port) __builtin_trap();
  }
  if (cmux::net::dedupe_listen_addrs(kept) != kept) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parsed = cmux::net::parse_listen_list(split_lines(input));
  if (!parsed) {
    if (parsed.error().empty()) __builtin_trap();
    return 0;
  }
  for (const ListenAddr& addr : *parsed) check_round_trip(addr);
  check_dedupe(*parsed, cmux::net::dedupe_listen_addrs(*parsed));
  return 0;
}
