// Context credentials from OpenSSL's CSPRNG.
//
// Decision where SPEC §3 is silent (mirrored in docs): a CSPRNG failure is reported as nullopt
// (createContext then fails with an Error) instead of aborting — the proxy runs inside the
// Electron main process — and never degrades to a weaker or empty secret.
#include "preview/credentials.hpp"

#include <openssl/rand.h>

#include <array>

namespace cmux::preview {
namespace {

constexpr std::size_t kUsernameRandomBytes = 4;   // 8 hex
constexpr std::size_t kPasswordRandomBytes = 12;  // 24 hex

std::optional<std::string> random_hex(std::size_t bytes) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::array<unsigned char, 32> random{};
  if (bytes > random.size() || RAND_bytes(random.data(), static_cast<int>(bytes)) != 1) {
    return std::nullopt;
  }
  std::string hex;
  hex.reserve(bytes * 2);
  for (std::size_t i = 0; i < bytes; ++i) {
    hex += kDigits[random[i] >> 4];
    hex += kDigits[random[i] & 0x0F];
  }
  return hex;
}

}  // namespace

std::optional<std::string> make_username(std::uint64_t web_contents_id) {
  const std::optional<std::string> suffix = random_hex(kUsernameRandomBytes);
  if (!suffix) return std::nullopt;
  return "wc-" + std::to_string(web_contents_id) + "-" + *suffix;
}

std::optional<std::string> make_password() { return random_hex(kPasswordRandomBytes); }

}  // namespace cmux::preview
