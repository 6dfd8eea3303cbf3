// libFuzzer target: `cmux-preview-proxy --resolve HOST:PORT:IP:PORT` (SPEC §5),
// parse_resolve_flag.
//
// Input: the bytes are used whole as the flag's value.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "preview/resolve_flag.hpp"
#include "preview/url.hpp"

namespace {

bool is_visible_ascii(std::string_view s) {
  for (const char c : s) {
    if (c < 0x21 || c > 0x7E) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parsed = cmux::preview::parse_resolve_flag(input);
  if (!parsed) {
    if (parsed.error().empty()) __builtin_trap();
    return 0;
  }
  const auto& [from, to] = *parsed;
  if (!is_visible_ascii(from) || !is_visible_ascii(to)) __builtin_trap();
  // Both sides are host:port with a port 1-65535; the address is a numeric IP.
  const auto from_hp = cmux::preview::parse_authority(from);
  const auto to_hp = cmux::preview::parse_authority(to);
  if (!from_hp || !from_hp->port || *from_hp->port == 0) __builtin_trap();
  if (!to_hp || !to_hp->port || *to_hp->port == 0) __builtin_trap();
  in_addr v4{};
  if (inet_pton(AF_INET, to_hp->host.c_str(), &v4) != 1 &&
      !cmux::preview::parse_ipv6_literal(to_hp->host)) {
    __builtin_trap();
  }
  // The canonical spelling parses to itself.
  if (cmux::preview::parse_resolve_flag(from + ":" + to) != parsed) __builtin_trap();
  return 0;
}
