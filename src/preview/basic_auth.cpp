// Proxy-Authorization: Basic parsing (SPEC §3 "Contexts and authentication").
//
// Decisions where SPEC §3 is silent (mirrored in docs):
// - Between `Basic` and the token: one or more SP/HTAB. Anything after the token (a second
//   token, `,` parameters) makes the value malformed.
// - Base64 is RFC 4648 §4 (standard alphabet, no URL-safe `-_`, no inner whitespace) and
//   canonical: padding only at the end and only as much as needed, unused bits zero (checked
//   by re-encoding, so `YR==` is not a second spelling of `YQ==`).
// - Missing padding is accepted (`dTpwYQ` decodes like `dTpwYQ==`): it is unambiguous, and
//   lenient decoders (Node's Buffer, which the old proxy used) accept it, so clients that drop
//   it exist. A length of 4n+1 cannot be base64 and is rejected. Once any '=' is present the
//   padding must be complete (`dTpwYQ=` is rejected).
// - Tokens longer than 1024 characters are rejected before decoding: credentials made by
//   make_username/make_password are about 70, and no context can match a longer one.
// - The decoded bytes are not required to be UTF-8; they only have to compare equal.
#include "preview/basic_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <vector>

#include "http/message.hpp"

namespace cmux::preview {
namespace {

constexpr std::string_view kScheme = "basic";
constexpr std::size_t kMaxTokenLength = 1024;

bool is_space(char c) { return c == ' ' || c == '\t'; }

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=';
}

// The token after `Basic` and at least one space, or nullopt.
std::optional<std::string_view> basic_token(std::string_view value) {
  value = http::trim(value);
  if (value.size() <= kScheme.size() || !http::iequals(value.substr(0, kScheme.size()), kScheme) ||
      !is_space(value[kScheme.size()])) {
    return std::nullopt;
  }
  return http::trim(value.substr(kScheme.size()));
}

// Re-adds the padding a client left out; nullopt when the length cannot be base64.
std::optional<std::string> padded(std::string_view token) {
  std::string out(token);
  if (token.find('=') == std::string_view::npos) {
    if (out.size() % 4 == 1) return std::nullopt;
    out.append((4 - out.size() % 4) % 4, '=');
  }
  if (out.size() % 4 != 0) return std::nullopt;
  return out;
}

std::string encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // + NUL written by OpenSSL
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()),
                                     static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(std::max(length, 0)));
  return out;
}

// EVP_DecodeBlock is lenient (it skips surrounding whitespace, accepts '=' anywhere and counts
// padding as zero bytes), so the input is pre-checked and the result re-encoded to match.
std::optional<std::string> decode_base64(std::string_view token) {
  if (token.empty() || token.size() > kMaxTokenLength ||
      !std::all_of(token.begin(), token.end(), is_base64_char)) {
    return std::nullopt;
  }
  const std::optional<std::string> input = padded(token);
  if (!input) return std::nullopt;
  const std::size_t last_data = input->find_last_not_of('=');
  if (last_data == std::string::npos || input->size() - last_data - 1 > 2) return std::nullopt;
  const std::size_t padding = input->size() - last_data - 1;
  std::string out(input->size() / 4 * 3, '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(input->data()),
                                     static_cast<int>(input->size()));
  if (length < 0 || static_cast<std::size_t>(length) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  if (encode(out) != *input) return std::nullopt;
  return out;
}

}  // namespace

std::optional<Credentials> parse_basic_auth(std::string_view header_value) {
  const std::optional<std::string_view> token = basic_token(header_value);
  if (!token) return std::nullopt;
  const std::optional<std::string> decoded = decode_base64(*token);
  if (!decoded) return std::nullopt;
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;  // leaks the length only, never the content
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace cmux::preview
