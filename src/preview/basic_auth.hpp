// Proxy-Authorization: Basic (SPEC §3 "Contexts and authentication"). Pure functions, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cmux::preview {

struct Credentials {
  std::string username;  // may be empty (then no context matches)
  std::string password;  // may contain ':'

  friend bool operator==(const Credentials&, const Credentials&) = default;
};

// `Basic <base64(user:password)>`: scheme case-insensitive, surrounding SP/HTAB ignored,
// strict base64 (see basic_auth.cpp), split at the first ':'. nullopt -> 407.
std::optional<Credentials> parse_basic_auth(std::string_view header_value);

// Equal contents, compared in time that depends on the lengths only (CRYPTO_memcmp).
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace cmux::preview
