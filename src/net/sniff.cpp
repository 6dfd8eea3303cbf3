#include "net/sniff.hpp"

#include <array>
#include <optional>
#include <string>

namespace cmux::net {

namespace {
constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
}

std::optional<Sniffed> classify_prefix(std::string_view bytes) {
  if (bytes.empty()) return std::nullopt;
  if (static_cast<unsigned char>(bytes[0]) == 0x16) return Sniffed::tls;
  std::size_t n = std::min(bytes.size(), kH2Preface.size());
  if (bytes.substr(0, n) != kH2Preface.substr(0, n)) return Sniffed::http1;
  if (n == kH2Preface.size()) return Sniffed::http2;
  return std::nullopt;
}

awaitable<std::expected<Sniffed, error_code>> sniff(Transport& t) {
  std::string seen;
  std::array<char, 4096> buf;
  for (;;) {
    auto [ec, n] = co_await t.read_some(buf);
    if (ec || n == 0) {
      t.unread(seen);
      co_return std::unexpected(ec ? ec : error_code(asio::error::eof));
    }
    seen.append(buf.data(), n);
    if (auto kind = classify_prefix(seen)) {
      t.unread(seen);
      co_return *kind;
    }
  }
}

}  // namespace cmux::net
