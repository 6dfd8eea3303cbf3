// TLS ClientHello classification (SPEC §3 "CONNECT and TLS interception").
//
// Wire format: TLS records (RFC 8446 §5.1: type 22 = handshake, legacy version 0x03xx, length
// 1..2^14) carry the handshake message (type 1 = client_hello, 24-bit length) in one or more
// fragments; the body is RFC 8446 §4.1.2 / RFC 5246 §7.4.1.2, with server_name (RFC 6066 §3)
// and ALPN (RFC 7301 §3.1) read out of the extensions.
//
// Decisions where SPEC §3 is silent:
// - Record versions 0x0300..0x0304 and ClientHello legacy_version 0x03xx are accepted (clients
//   send 0x0301 or 0x0303); SSLv2-compatible hellos (first byte 0x80) are NotTls. Every record
//   up to the end of the ClientHello must be a handshake record; a zero-length one is NotTls.
// - Strict lengths: each vector fits its parent, and the extensions block, the server_name list
//   and the ALPN list end exactly where their parent ends. Bytes after the ClientHello message
//   (in its last record or later records) are not examined: the TLS stack judges those.
// - server_name: exactly one entry, of type host_name (0), 1..255 bytes of printable ASCII
//   without spaces (IDNs travel as punycode); lower-cased. ALPN: at least one name, none empty.
//   Any extension type appearing twice is NotTls (RFC 8446 §4.2).
// - The 16 KiB bound counts everything from the first byte to the end of the ClientHello's
//   last fragment, record headers included (kMaxClientHelloBytes). The largest real hellos
//   (Chromium with a post-quantum key share) are about 2 KB.
// - Incomplete input is parsed as far as it goes: the record headers, the handshake header and
//   the body fields received so far are checked against their declared lengths, so garbage
//   after a plausible first byte is NotTls without waiting for the rest.
#include "tls/client_hello.hpp"

#include <algorithm>
#include <bitset>

namespace cmux::tls {
namespace {

constexpr std::uint8_t kHandshakeRecord = 22;
constexpr std::uint8_t kClientHelloType = 1;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kHandshakeHeader = 4;
constexpr std::size_t kMaxRecordLength = 16 * 1024;  // 2^14, RFC 8446 §5.1
constexpr std::uint16_t kServerNameExtension = 0;
constexpr std::uint16_t kAlpnExtension = 16;
constexpr std::uint8_t kHostNameType = 0;
constexpr std::size_t kMaxHostName = 255;

enum class Status { ok, truncated, invalid };

// Reads a field declared `declared` bytes long, of which `data` (a prefix) has been received.
// Going past the declared end is invalid; going past the received bytes (but not the declared
// end) is truncated. The first failure sticks; values read after it are zero.
class Reader {
 public:
  Reader(std::span<const std::uint8_t> data, std::size_t declared)
      : data_(data), declared_(declared) {}

  [[nodiscard]] Status status() const { return status_; }
  [[nodiscard]] bool failed() const { return status_ != Status::ok; }
  // Every declared byte has been consumed (whether or not a sub-block was fully received).
  [[nodiscard]] bool at_end() const { return pos_ == declared_; }

  std::span<const std::uint8_t> bytes(std::size_t n) {
    if (!reserve(n)) return {};
    if (pos_ + n > data_.size()) {
      status_ = Status::truncated;
      return {};
    }
    const auto out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  std::uint8_t u8() {
    const auto b = bytes(1);
    return b.empty() ? 0 : b[0];
  }
  std::uint16_t u16() {
    const auto b = bytes(2);
    return b.empty() ? 0 : static_cast<std::uint16_t>(b[0] << 8 | b[1]);
  }

  // The next `n` declared bytes as their own reader (a length-prefixed vector's contents). The
  // sub-reader sees only the part received; this reader moves past the whole block.
  Reader sub(std::size_t n) {
    if (!reserve(n)) return failed_reader();
    const std::size_t received = pos_ < data_.size() ? std::min(n, data_.size() - pos_) : 0;
    Reader out(data_.subspan(std::min(pos_, data_.size()), received), n);
    pos_ += n;
    return out;
  }
  // A vector with a 1- or 2-byte length prefix.
  Reader sub_u8() {
    const std::size_t n = u8();
    return failed() ? failed_reader() : sub(n);
  }
  Reader sub_u16() {
    const std::size_t n = u16();
    return failed() ? failed_reader() : sub(n);
  }

  // Declared bytes not consumed yet.
  [[nodiscard]] std::size_t remaining() const { return declared_ - pos_; }
  std::span<const std::uint8_t> rest() { return bytes(remaining()); }

 private:
  bool reserve(std::size_t n) {
    if (failed()) return false;
    if (n > declared_ - pos_) {
      status_ = Status::invalid;
      return false;
    }
    return true;
  }
  [[nodiscard]] Reader failed_reader() const {
    Reader r({}, 0);
    r.status_ = status_;
    return r;
  }

  std::span<const std::uint8_t> data_;
  std::size_t declared_;
  std::size_t pos_ = 0;
  Status status_ = Status::ok;
};

bool host_name_char(std::uint8_t c) { return c > 0x20 && c < 0x7F; }

Status parse_server_name(Reader& ext, ClientHello& out) {
  Reader list = ext.sub_u16();
  if (ext.failed()) return ext.status();
  if (!ext.at_end() || list.at_end()) return Status::invalid;  // list = whole extension, non-empty
  const std::uint8_t type = list.u8();
  if (list.failed()) return list.status();
  if (type != kHostNameType) return Status::invalid;
  Reader name = list.sub_u16();
  if (list.failed()) return list.status();
  // Exactly one entry; a name of 1..255 bytes.
  if (!list.at_end() || name.at_end() || name.remaining() > kMaxHostName) return Status::invalid;
  const auto host = name.rest();
  if (name.failed()) return name.status();
  std::string sni;
  sni.reserve(host.size());
  for (const std::uint8_t c : host) {
    if (!host_name_char(c)) return Status::invalid;
    sni.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
  }
  out.sni = std::move(sni);
  return Status::ok;
}

Status parse_alpn(Reader& ext, ClientHello& out) {
  Reader list = ext.sub_u16();
  if (ext.failed()) return ext.status();
  if (!ext.at_end() || list.at_end()) return Status::invalid;  // list = whole extension, non-empty
  std::vector<std::string> names;
  while (!list.at_end()) {
    Reader name = list.sub_u8();
    if (list.failed()) return list.status();
    if (name.at_end()) return Status::invalid;  // empty protocol name
    const auto bytes = name.rest();
    if (name.failed()) return name.status();
    names.emplace_back(bytes.begin(), bytes.end());
  }
  out.alpn = std::move(names);
  return Status::ok;
}

Status parse_extensions(Reader& exts, ClientHello& out) {
  std::bitset<65536> seen;
  while (!exts.at_end()) {
    const std::uint16_t type = exts.u16();
    Reader ext = exts.sub_u16();
    if (exts.failed()) return exts.status();
    if (seen.test(type)) return Status::invalid;
    seen.set(type);
    Status status = Status::ok;
    if (type == kServerNameExtension) {
      status = parse_server_name(ext, out);
    } else if (type == kAlpnExtension) {
      status = parse_alpn(ext, out);
    }
    // Other extensions are skipped; their data has been bounded by `sub_u16`.
    if (status != Status::ok) return status;
  }
  return Status::ok;
}

// The ClientHello body (after the 4-byte handshake header).
Status parse_body(Reader& body, ClientHello& out) {
  const std::uint8_t legacy_major = body.u8();
  if (body.failed()) return body.status();
  if (legacy_major != 3) return Status::invalid;
  body.bytes(1 + 32);  // legacy_version minor, random
  const Reader session_id = body.sub_u8();
  if (body.failed()) return body.status();
  if (session_id.remaining() > 32) return Status::invalid;
  const Reader cipher_suites = body.sub_u16();
  if (body.failed()) return body.status();
  if (cipher_suites.remaining() < 2 || cipher_suites.remaining() % 2 != 0) return Status::invalid;
  const Reader compression = body.sub_u8();
  if (body.failed()) return body.status();
  if (compression.at_end()) return Status::invalid;
  if (body.at_end()) return Status::ok;  // no extensions (TLS 1.2 and older may omit them)
  Reader exts = body.sub_u16();
  if (body.failed()) return body.status();
  if (!body.at_end()) return Status::invalid;  // the extensions block ends the message
  return parse_extensions(exts, out);
}

// The handshake message received so far (at least its header) of `message_size` bytes.
Status parse_message(std::span<const std::uint8_t> message, std::size_t message_size,
                     ClientHello& out) {
  Reader body(message.subspan(kHandshakeHeader), message_size - kHandshakeHeader);
  return parse_body(body, out);
}

// Record header bytes received so far: handshake type, version 0x0300..0x0304, length 1..2^14.
bool valid_record_header_prefix(std::span<const std::uint8_t> header) {
  if (header.size() >= 1 && header[0] != kHandshakeRecord) return false;
  if (header.size() >= 2 && header[1] != 3) return false;
  if (header.size() >= 3 && header[2] > 4) return false;
  if (header.size() >= 5) {
    const std::size_t length = static_cast<std::size_t>(header[3]) << 8 | header[4];
    if (length == 0 || length > kMaxRecordLength) return false;
  }
  return true;
}

}  // namespace

HelloResult parse_client_hello(std::span<const std::uint8_t> bytes) {
  std::vector<std::uint8_t> message;  // the handshake message, reassembled from its fragments
  std::size_t message_size = 0;       // header + body; 0 until the handshake header is in
  std::size_t offset = 0;             // start of the current record in `bytes`
  while (offset < bytes.size()) {
    const auto record = bytes.subspan(offset);
    if (!valid_record_header_prefix(record.first(std::min(record.size(), kRecordHeader)))) {
      return NotTls{};
    }
    if (record.size() < kRecordHeader) break;
    const std::size_t length = static_cast<std::size_t>(record[3]) << 8 | record[4];
    const auto fragment =
        record.subspan(kRecordHeader, std::min(length, record.size() - kRecordHeader));
    const std::size_t before = message.size();
    const std::size_t wanted = message_size != 0 ? message_size - before : fragment.size();
    message.insert(message.end(), fragment.begin(),
                   fragment.begin() + std::min(wanted, fragment.size()));

    if (!message.empty() && message[0] != kClientHelloType) return NotTls{};
    if (message_size == 0 && message.size() >= kHandshakeHeader) {
      const std::size_t body_size = static_cast<std::size_t>(message[1]) << 16 |
                                    static_cast<std::size_t>(message[2]) << 8 | message[3];
      message_size = kHandshakeHeader + body_size;
      if (message_size > kMaxClientHelloBytes) return NotTls{};
      if (message.size() > message_size) message.resize(message_size);  // trailing bytes
    }
    if (message_size != 0) {
      // Where the message ends at the earliest: the rest of it after this record's header, and
      // a header for every (at most 2^14-byte) record needed after this one.
      const std::size_t rest = message_size - before;
      const std::size_t later = rest > length ? rest - length : 0;
      const std::size_t later_headers =
          (later + kMaxRecordLength - 1) / kMaxRecordLength * kRecordHeader;
      if (offset + kRecordHeader + rest + later_headers > kMaxClientHelloBytes) return NotTls{};
      if (message.size() == message_size) {
        ClientHello hello;
        if (parse_message(message, message_size, hello) != Status::ok) return NotTls{};
        return hello;
      }
    }
    if (fragment.size() < length) break;  // the rest of this record has not arrived
    offset += kRecordHeader + length;
  }
  if (message_size != 0) {
    // Check the part of the body received so far.
    ClientHello ignored;
    if (parse_message(message, message_size, ignored) == Status::invalid) return NotTls{};
  }
  return NeedMore{};
}

}  // namespace cmux::tls
