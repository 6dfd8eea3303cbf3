// TLS ClientHello classification for intercepted tunnels (SPEC §3 "CONNECT and TLS
// interception": classify the first bytes, bounded to 16 KiB). Pure: standard library only, no
// I/O, no OpenSSL, so the fuzz target builds it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace cmux::tls {

struct ClientHello {
  // server_name host_name (lower-cased); empty if absent
  std::string sni;
  // Protocol names in the client's order; empty if no ALPN extension.
  std::vector<std::string> alpn;

  friend bool operator==(const ClientHello&, const ClientHello&) = default;
};
struct NeedMore {  // a valid prefix of a TLS record carrying a ClientHello: read more
  friend bool operator==(NeedMore, NeedMore) = default;
};
struct NotTls {  // not a TLS handshake (e.g. plain HTTP) — or garbage
  friend bool operator==(NotTls, NotTls) = default;
};
using HelloResult = std::variant<NeedMore, NotTls, ClientHello>;

// The TLS records that carry the ClientHello (record headers included) must end within this
// many bytes of the start of the connection. NeedMore is only ever returned for inputs shorter
// than this, so a caller that buffers up to 16 KiB always gets an answer.
inline constexpr std::size_t kMaxClientHelloBytes = 16 * 1024;

// Parses the first bytes of a connection. Handles a ClientHello split over several TLS records
// (handshake fragmentation) and a record split across reads. Never reads past `bytes`; bounded:
// a ClientHello longer than 16 KiB is NotTls. Strict on lengths (every inner length must fit
// its parent). Decides as early as it can: an impossible byte in an incomplete prefix is
// already NotTls. Bytes after the end of the ClientHello are not looked at.
HelloResult parse_client_hello(std::span<const std::uint8_t> bytes);

}  // namespace cmux::tls
