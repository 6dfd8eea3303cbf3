// libFuzzer target: Proxy-Authorization: Basic parsing and the constant-time comparison
// (SPEC §3 "Contexts and authentication").
//
// Input: the bytes are used whole as a header value; split at the first '\n' they are also
// the two sides of constant_time_equals.
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "preview/basic_auth.hpp"

namespace {

using cmux::preview::Credentials;

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()),
                                     static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(length));
  return out;
}

// Whatever parses re-encodes canonically to the same credentials; the username has no ':'.
void check_parse(std::string_view value) {
  const std::optional<Credentials> credentials = cmux::preview::parse_basic_auth(value);
  if (!credentials) return;
  if (credentials->username.find(':') != std::string::npos) __builtin_trap();
  const std::string canonical =
      "Basic " + base64(credentials->username + ":" + credentials->password);
  if (cmux::preview::parse_basic_auth(canonical) != credentials) __builtin_trap();
}

void check_equals(std::string_view input) {
  const std::size_t newline = input.find('\n');
  const std::string_view a = input.substr(0, newline);
  const std::string_view b = newline == std::string_view::npos ? a : input.substr(newline + 1);
  if (cmux::preview::constant_time_equals(a, b) != (a == b)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_parse(input);
  check_equals(input);
  return 0;
}
