// Workspace name -> 127.18.x.y (SPEC §2 "Workspace IP"). Linked into the LD_PRELOAD shim:
// standard library only, no allocation, no locale, no errno.
#include "workspace/workspace_ip.hpp"

namespace cmux::workspace {
namespace {

constexpr std::uint32_t kFnvOffsetBasis = 0x811C9DC5u;
constexpr std::uint32_t kFnvPrime = 0x01000193u;

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

constexpr unsigned char ascii_lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c - 'A' + 'a') : c;
}

// Only ASCII letters are folded: bytes >= 0x80 are hashed as they are, so the result never
// depends on a locale (the Rust proxy's to_ascii_lowercase does the same).
constexpr std::uint32_t fnv1a32_lower(std::string_view bytes) {
  std::uint32_t hash = kFnvOffsetBasis;
  for (const char c : bytes) {
    hash ^= ascii_lower(static_cast<unsigned char>(c));
    hash *= kFnvPrime;  // unsigned: wraps mod 2^32 as FNV requires
  }
  return hash;
}

// The decimal number `digits` spells, or nullopt if it exceeds uint32 (the Rust proxy parses
// it as u32). Leading zeros are fine: the value, not the digit count, decides overflow.
constexpr std::optional<std::uint32_t> parse_u32(std::string_view digits) {
  std::uint64_t value = 0;
  for (const char c : digits) {
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
    if (value > 0xFFFF'FFFFu) return std::nullopt;
  }
  return static_cast<std::uint32_t>(value);
}

constexpr std::string_view last_path_component(std::string_view name) {
  const std::size_t slash = name.rfind('/');
  return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

constexpr std::string_view trailing_digits(std::string_view s) {
  std::size_t start = s.size();
  while (start > 0 && is_digit(s[start - 1])) --start;
  return s.substr(start);
}

}  // namespace

// An empty name or an empty last component (`a/b/`) is unmappable: it names no workspace,
// and hashing "" would silently send every such request to one arbitrary IP (127.18.157.197).
std::optional<std::array<std::uint8_t, 4>> workspace_ip(std::string_view name) {
  const std::string_view component = last_path_component(name);
  if (component.empty()) return std::nullopt;

  std::uint32_t n = 0;
  if (const std::string_view digits = trailing_digits(component); !digits.empty()) {
    const std::optional<std::uint32_t> number = parse_u32(digits);
    if (!number) return std::nullopt;
    n = *number;  // numbers above 65535 wrap into the /16 by the masks below
  } else {
    n = fnv1a32_lower(component) & 0xFFFFu;
  }
  return std::array<std::uint8_t, 4>{127, 18, static_cast<std::uint8_t>((n >> 8) & 0xFFu),
                                     static_cast<std::uint8_t>(n & 0xFFu)};
}

}  // namespace cmux::workspace
