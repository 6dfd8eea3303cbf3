// libFuzzer target: TLS ClientHello classification (SPEC §3 "CONNECT and TLS interception").
// Input: the first bytes of an intercepted tunnel.
//
// Checks the properties the caller relies on:
// - NeedMore only below the 16 KiB bound, and a non-TLS first byte is NotTls at once;
// - monotonic: once a prefix is decided (NotTls or a ClientHello), every longer input agrees,
//   and every prefix of a NeedMore input is NeedMore too;
// - a parsed SNI is 1..255 printable lower-case ASCII bytes; ALPN names are non-empty, < 256;
// - re-framing the handshake message of a single-record hello into other record sizes gives the
//   same answer (handshake fragmentation).
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "tls/client_hello.hpp"

namespace {

using cmux::tls::ClientHello;
using cmux::tls::HelloResult;
using cmux::tls::NeedMore;
using cmux::tls::NotTls;

using Bytes = std::span<const std::uint8_t>;

HelloResult parse(Bytes b) {
  // A copy of exactly the bytes, so ASan catches any read past the span.
  const std::vector<std::uint8_t> copy(b.begin(), b.end());
  return cmux::tls::parse_client_hello(copy);
}

void check_hello(const ClientHello& h) {
  if (h.sni.size() > 255) __builtin_trap();
  for (const char c : h.sni) {
    if (c <= 0x20 || c >= 0x7F || (c >= 'A' && c <= 'Z')) __builtin_trap();
  }
  for (const auto& name : h.alpn) {
    if (name.empty() || name.size() > 255) __builtin_trap();
  }
}

// Some prefixes (all of a short input, a sample of a long one) agree with the whole answer.
void check_prefixes(Bytes input, const HelloResult& whole) {
  const std::size_t step = input.size() <= 64 ? 1 : input.size() / 48;
  for (std::size_t n = 0; n < input.size(); n += step) {
    const HelloResult r = parse(input.first(n));
    if (std::holds_alternative<NeedMore>(r)) continue;
    if (r != whole) __builtin_trap();  // decided early: the rest cannot change it
  }
  if (std::holds_alternative<NeedMore>(whole)) {
    for (std::size_t n = 0; n < input.size(); n += step) {
      if (!std::holds_alternative<NeedMore>(parse(input.first(n)))) __builtin_trap();
    }
  }
}

// The message of a one-record hello, re-framed into records of `chunk` bytes.
void check_reframed(Bytes input, const ClientHello& hello) {
  if (input.size() < 9) return;
  const std::size_t record_length = static_cast<std::size_t>(input[3]) << 8 | input[4];
  const std::size_t message_length = 4 + (static_cast<std::size_t>(input[6]) << 16 |
                                          static_cast<std::size_t>(input[7]) << 8 | input[8]);
  if (message_length != record_length || input.size() < 5 + message_length) return;
  const Bytes message = input.subspan(5, message_length);
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{3}, message_length / 2 + 1}) {
    std::vector<std::uint8_t> framed;
    for (std::size_t i = 0; i < message.size(); i += chunk) {
      const Bytes part = message.subspan(i, std::min(chunk, message.size() - i));
      framed.insert(framed.end(),
                    {22, input[1], input[2], static_cast<std::uint8_t>(part.size() >> 8),
                     static_cast<std::uint8_t>(part.size())});
      framed.insert(framed.end(), part.begin(), part.end());
    }
    const HelloResult r = parse(framed);
    if (framed.size() <= cmux::tls::kMaxClientHelloBytes) {
      if (r != HelloResult(hello)) __builtin_trap();
    } else if (!std::holds_alternative<NotTls>(r)) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Bytes input(data, size);
  const HelloResult whole = parse(input);
  if (std::holds_alternative<NeedMore>(whole) && size >= cmux::tls::kMaxClientHelloBytes) {
    __builtin_trap();
  }
  if (size > 0 && data[0] != 22 && !std::holds_alternative<NotTls>(whole)) __builtin_trap();
  check_prefixes(input, whole);
  if (const auto* hello = std::get_if<ClientHello>(&whole)) {
    check_hello(*hello);
    check_reframed(input, *hello);
  }
  return 0;
}
