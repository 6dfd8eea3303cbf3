// SPEC §3 "CONNECT and TLS interception": classifying the first bytes of an intercepted tunnel.
// Real ClientHellos captured by tests/unit/tls/data/capture.py, and synthetic ones built below.
#include "tls/client_hello.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace cmux::tls {

void PrintTo(const ClientHello& h, std::ostream* os) {
  *os << "ClientHello{sni=" << testing::PrintToString(h.sni)
      << ", alpn=" << testing::PrintToString(h.alpn) << "}";
}
void PrintTo(NeedMore, std::ostream* os) { *os << "NeedMore"; }
void PrintTo(NotTls, std::ostream* os) { *os << "NotTls"; }

namespace {

using Bytes = std::vector<std::uint8_t>;

HelloResult parse(const Bytes& b) { return parse_client_hello(b); }

const HelloResult kNeedMore = NeedMore{};
const HelloResult kNotTls = NotTls{};
HelloResult hello(std::string sni, std::vector<std::string> alpn) {
  return ClientHello{std::move(sni), std::move(alpn)};
}

// ---- building TLS bytes ----

void put8(Bytes& b, std::size_t v) { b.push_back(static_cast<std::uint8_t>(v)); }
void put16(Bytes& b, std::size_t v) {
  put8(b, v >> 8);
  put8(b, v);
}
void put24(Bytes& b, std::size_t v) {
  put8(b, v >> 16);
  put16(b, v);
}
void set16(Bytes& b, std::size_t at, std::size_t v) {
  b.at(at) = static_cast<std::uint8_t>(v >> 8);
  b.at(at + 1) = static_cast<std::uint8_t>(v);
}
void set24(Bytes& b, std::size_t at, std::size_t v) {
  b.at(at) = static_cast<std::uint8_t>(v >> 16);
  set16(b, at + 1, v);
}
Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }
Bytes vec8(const Bytes& content) {
  Bytes b;
  put8(b, content.size());
  return b + content;
}
Bytes vec16(const Bytes& content) {
  Bytes b;
  put16(b, content.size());
  return b + content;
}

Bytes extension(std::size_t type, const Bytes& data) {
  Bytes b;
  put16(b, type);
  return b + vec16(data);
}
Bytes server_name(std::string_view host, std::uint8_t name_type = 0) {
  return extension(0, vec16(Bytes{name_type} + vec16(text(host))));
}
Bytes alpn(const std::vector<std::string>& names) {
  Bytes list;
  for (const auto& n : names) list = list + vec8(text(n));
  return extension(16, vec16(list));
}
const Bytes kSupportedVersions = extension(43, vec8(Bytes{0x03, 0x04, 0x03, 0x03}));

// legacy_version, random, session id, cipher suites, compression; then the extensions block.
Bytes hello_prefix(std::size_t legacy_version = 0x0303) {
  Bytes b;
  put16(b, legacy_version);
  b.insert(b.end(), 32, 0xAB);                   // random
  b = b + vec8(Bytes(32, 0xCD));                 // legacy_session_id
  b = b + vec16(Bytes{0x13, 0x01, 0x13, 0x02});  // cipher suites
  b = b + vec8(Bytes{0x00});                     // compression: null
  return b;
}
Bytes hello_body(const Bytes& extensions) { return hello_prefix() + vec16(extensions); }

Bytes handshake(const Bytes& body, std::uint8_t type = 1) {
  Bytes b{type};
  put24(b, body.size());
  return b + body;
}
Bytes record(const Bytes& fragment, std::uint8_t type = 22, std::size_t version = 0x0301) {
  Bytes b{type};
  put16(b, version);
  put16(b, fragment.size());
  return b + fragment;
}
// The handshake message in records of at most `chunk` bytes.
Bytes frame(const Bytes& message, std::size_t chunk = 16384) {
  Bytes out;
  for (std::size_t i = 0; i < message.size(); i += chunk) {
    out = out + record(Bytes(message.begin() + static_cast<std::ptrdiff_t>(i),
                             message.begin() +
                                 static_cast<std::ptrdiff_t>(std::min(message.size(), i + chunk))));
  }
  return out;
}
// The handshake message in two records, the first holding `split` bytes.
Bytes frame_at(const Bytes& message, std::size_t split) {
  const auto mid = message.begin() + static_cast<std::ptrdiff_t>(split);
  return record(Bytes(message.begin(), mid)) + record(Bytes(mid, message.end()));
}
Bytes client_hello(const Bytes& extensions) { return frame(handshake(hello_body(extensions))); }

// The handshake message inside single-record captures.
Bytes message_of(const Bytes& records) {
  EXPECT_GE(records.size(), 9u);
  return Bytes(records.begin() + 5, records.end());
}

Bytes prefix(const Bytes& b, std::size_t n) {
  return Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
}

// Every strict prefix is NeedMore (and the empty input too).
void expect_prefixes_need_more(const Bytes& b) {
  for (std::size_t n = 0; n < b.size(); ++n) {
    ASSERT_EQ(parse(prefix(b, n)), kNeedMore)
        << "prefix of " << n << " of " << b.size() << " bytes";
  }
}

// ---- real captures ----

Bytes read_capture(const std::string& name) {
  const auto path = std::filesystem::path(__FILE__).parent_path() / "data" / name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "missing capture " << path << " (tests/unit/tls/data/capture.py)";
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct CaptureCase {
  std::string file;
  std::string sni;
  std::vector<std::string> alpn;
  friend void PrintTo(const CaptureCase& c, std::ostream* os) { *os << c.file; }
};
class ClientHelloCaptureTest : public testing::TestWithParam<CaptureCase> {
 protected:
  void SetUp() override {
    bytes_ = read_capture(GetParam().file);
    ASSERT_GT(bytes_.size(), 200u);
    expected_ = hello(GetParam().sni, GetParam().alpn);
  }
  Bytes bytes_;
  HelloResult expected_;
};
std::string capture_name(const testing::TestParamInfo<CaptureCase>& info) {
  return info.param.file.substr(0, info.param.file.find('.'));
}

TEST_P(ClientHelloCaptureTest, ParsesSniAndAlpn) { EXPECT_EQ(parse(bytes_), expected_); }

TEST_P(ClientHelloCaptureTest, EveryStrictPrefixNeedsMore) { expect_prefixes_need_more(bytes_); }

TEST_P(ClientHelloCaptureTest, BytesAfterTheHelloAreIgnored) {
  EXPECT_EQ(parse(bytes_ + record(Bytes{1}, 20)), expected_);  // ChangeCipherSpec
  EXPECT_EQ(parse(bytes_ + text("garbage")), expected_);
}

TEST_P(ClientHelloCaptureTest, ReframedIntoTwoRecordsAtEverySplit) {
  const Bytes message = message_of(bytes_);
  for (std::size_t split = 1; split < message.size(); ++split) {
    ASSERT_EQ(parse(frame_at(message, split)), expected_) << "split at " << split;
  }
}

TEST_P(ClientHelloCaptureTest, PrefixesOfTwoRecordsNeedMore) {
  const Bytes message = message_of(bytes_);
  for (std::size_t split :
       {std::size_t{1}, std::size_t{3}, std::size_t{4}, message.size() / 2, message.size() - 1}) {
    SCOPED_TRACE("split at " + std::to_string(split));
    expect_prefixes_need_more(frame_at(message, split));
  }
}

TEST_P(ClientHelloCaptureTest, OneByteRecords) {
  const Bytes framed = frame(message_of(bytes_), 1);
  ASSERT_LT(framed.size(), kMaxClientHelloBytes);
  EXPECT_EQ(parse(framed), expected_);
  expect_prefixes_need_more(framed);
}

TEST_P(ClientHelloCaptureTest, RecordVersion0303) {
  Bytes b = bytes_;
  b[2] = 0x03;
  EXPECT_EQ(parse(b), expected_);
}

TEST_P(ClientHelloCaptureTest, CorruptedHeadersAreNotTls) {
  for (const auto& [index, value] : std::vector<std::pair<std::size_t, std::uint8_t>>{
           {0, 0x17}, {1, 0x02}, {2, 0x05}, {5, 0x02}, {9, 0x02}}) {
    Bytes b = bytes_;
    b[index] = value;
    EXPECT_EQ(parse(b), kNotTls) << "byte " << index << " = " << int{value};
    // Decided as soon as the byte is in.
    EXPECT_EQ(parse(prefix(b, index + 1)), kNotTls) << "byte " << index << " = " << int{value};
  }
}

TEST_P(ClientHelloCaptureTest, LengthsOffByOne) {
  const std::size_t record_length = bytes_.size() - 5;
  const std::size_t body_length = record_length - 4;
  // The message one byte shorter than its record: the extensions block overflows it.
  Bytes b = bytes_;
  set24(b, 6, body_length - 1);
  EXPECT_EQ(parse(b), kNotTls);
  // One byte longer: the extensions block no longer ends the message. Decided without waiting
  // for the record that would carry the missing byte.
  set24(b, 6, body_length + 1);
  EXPECT_EQ(parse(b), kNotTls);
  EXPECT_EQ(parse(b + record(Bytes{0})), kNotTls);
  // The record one byte shorter than the message it carries: the same.
  Bytes shorter_record = prefix(bytes_, bytes_.size() - 1);
  set16(shorter_record, 3, record_length - 1);
  EXPECT_EQ(parse(shorter_record), kNeedMore);
  EXPECT_EQ(parse(shorter_record + record(Bytes{bytes_.back()})), expected_);
  EXPECT_EQ(parse(shorter_record + text("x")), kNotTls);
}

INSTANTIATE_TEST_SUITE_P(
    Captures, ClientHelloCaptureTest,
    testing::Values(
        // curl 7.88 / OpenSSL 3.0: `curl -sk --http2 https://localhost:PORT/`
        CaptureCase{"curl_http2.bin", "localhost", {"h2", "http/1.1"}},
        // `curl -sk --http1.1 https://127.0.0.1:PORT/`: no SNI for an IP literal
        CaptureCase{"curl_http11_ip.bin", "", {"http/1.1"}},
        // `openssl s_client -servername localhost -alpn h2,http/1.1`
        CaptureCase{"openssl_alpn.bin", "localhost", {"h2", "http/1.1"}},
        // Debian's Chromium (BoringSSL): GREASE, ECH GREASE, X25519MLKEM768 key share, ~1.9 KB
        CaptureCase{"chromium.bin", "localhost", {"h2", "http/1.1"}}),
    capture_name);

// ---- not TLS ----

struct NotTlsCase {
  std::string label;
  Bytes bytes;
  friend void PrintTo(const NotTlsCase& c, std::ostream* os) { *os << c.label; }
};
class ClientHelloNotTlsTest : public testing::TestWithParam<NotTlsCase> {};
TEST_P(ClientHelloNotTlsTest, IsNotTls) { EXPECT_EQ(parse(GetParam().bytes), kNotTls); }
std::string not_tls_name(const testing::TestParamInfo<NotTlsCase>& info) {
  return info.param.label;
}

Bytes with_body_length(Bytes body, std::size_t declared) {
  Bytes b{1};
  put24(b, declared);
  return b + body;
}

INSTANTIATE_TEST_SUITE_P(
    PlainText, ClientHelloNotTlsTest,
    testing::Values(NotTlsCase{"get", text("GET / HTTP/1.1\r\n")},
                    NotTlsCase{"one_byte_G", text("G")}, NotTlsCase{"connect", text("CONNECT x")},
                    NotTlsCase{"h2_preface", text("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")},
                    NotTlsCase{"nul", Bytes{0}},
                    NotTlsCase{"sslv2_hello", Bytes{0x80, 0x2e, 0x01, 0x03, 0x01}}),
    not_tls_name);

const Bytes kGoodBody = hello_body(server_name("localhost") + alpn({"h2"}));

INSTANTIATE_TEST_SUITE_P(
    Records, ClientHelloNotTlsTest,
    testing::Values(NotTlsCase{"application_data_record", record(handshake(kGoodBody), 23)},
                    NotTlsCase{"alert_record", record(Bytes{2, 40}, 21)},
                    NotTlsCase{"version_2", record(handshake(kGoodBody), 22, 0x0201)},
                    NotTlsCase{"version_0305", record(handshake(kGoodBody), 22, 0x0305)},
                    NotTlsCase{"version_0403", record(handshake(kGoodBody), 22, 0x0403)},
                    NotTlsCase{"empty_record", record(Bytes{})},
                    NotTlsCase{"record_over_16k", Bytes{22, 3, 1, 0x40, 0x01}},
                    NotTlsCase{"second_record_not_handshake",
                               [] {
                                 const Bytes m = handshake(kGoodBody);
                                 return record(prefix(m, 10)) +
                                        record(Bytes(m.begin() + 10, m.end()), 23);
                               }()},
                    NotTlsCase{"second_record_empty",
                               record(prefix(handshake(kGoodBody), 10)) + record(Bytes{})}),
    not_tls_name);

INSTANTIATE_TEST_SUITE_P(
    Handshake, ClientHelloNotTlsTest,
    testing::Values(
        NotTlsCase{"server_hello", record(handshake(kGoodBody, 2))},
        NotTlsCase{"hello_request", record(handshake(Bytes{}, 0))},
        NotTlsCase{"empty_client_hello", record(handshake(Bytes{}))},
        NotTlsCase{"message_shorter_than_body", record(with_body_length(kGoodBody, 60))},
        NotTlsCase{"message_longer_than_body",
                   record(with_body_length(kGoodBody, kGoodBody.size() + 1) + Bytes{0})},
        NotTlsCase{"message_over_16k", record(with_body_length(kGoodBody, 16 * 1024))},
        NotTlsCase{"legacy_version_2", frame(handshake(hello_prefix(0x0200) + vec16(Bytes{})))},
        NotTlsCase{"session_id_33", frame(handshake([] {
                     Bytes b = hello_prefix();
                     b[34] = 33;  // session id length; the bytes still fit the message
                     return b + Bytes{0} + vec16(Bytes{});
                   }()))},
        NotTlsCase{"session_id_overflows", frame(handshake([] {
                     Bytes b = hello_prefix();
                     b.resize(34);
                     b.push_back(32);
                     b.insert(b.end(), 10, 0);
                     return b;
                   }()))},
        NotTlsCase{
            "cipher_suites_odd", frame(handshake([] {
              Bytes b;
              put16(b, 0x0303);
              b.insert(b.end(), 32, 0);
              return b + vec8({}) + vec16(Bytes{0x13, 0x01, 0x13}) + vec8(Bytes{0}) + vec16({});
            }()))},
        NotTlsCase{"cipher_suites_empty", frame(handshake([] {
                     Bytes b;
                     put16(b, 0x0303);
                     b.insert(b.end(), 32, 0);
                     return b + vec8({}) + vec16({}) + vec8(Bytes{0}) + vec16({});
                   }()))},
        NotTlsCase{"cipher_suites_overflow", frame(handshake([] {
                     Bytes b;
                     put16(b, 0x0303);
                     b.insert(b.end(), 32, 0);
                     b = b + vec8({});
                     put16(b, 400);
                     return b + Bytes{0x13, 0x01};
                   }()))},
        NotTlsCase{"no_compression_method", frame(handshake([] {
                     Bytes b;
                     put16(b, 0x0303);
                     b.insert(b.end(), 32, 0);
                     return b + vec8({}) + vec16(Bytes{0x13, 0x01}) + vec8({}) + vec16({});
                   }()))},
        NotTlsCase{"extensions_length_overflows", frame(handshake([] {
                     Bytes b = hello_prefix();
                     put16(b, 100);
                     return b + server_name("localhost");
                   }()))},
        NotTlsCase{"bytes_after_extensions",
                   frame(handshake(hello_body(server_name("localhost")) + Bytes{0}))},
        NotTlsCase{"one_byte_extensions_length", frame(handshake(hello_prefix() + Bytes{0}))},
        NotTlsCase{"extension_length_overflows", client_hello([] {
                     Bytes e;
                     put16(e, 43);
                     put16(e, 200);
                     return e + Bytes{0x02, 0x03, 0x04};
                   }())},
        NotTlsCase{"truncated_extension_header", client_hello(kSupportedVersions + Bytes{0, 0})}),
    not_tls_name);

INSTANTIATE_TEST_SUITE_P(
    Extensions, ClientHelloNotTlsTest,
    testing::Values(
        NotTlsCase{"sni_bad_name_type", client_hello(server_name("localhost", 1))},
        NotTlsCase{"sni_two_names", client_hello(extension(0, vec16(Bytes{0} + vec16(text("a")) +
                                                                    Bytes{0} + vec16(text("b")))))},
        NotTlsCase{"sni_empty_name", client_hello(server_name(""))},
        NotTlsCase{"sni_empty_list", client_hello(extension(0, vec16({})))},
        NotTlsCase{"sni_empty_extension", client_hello(extension(0, {}))},
        NotTlsCase{"sni_list_shorter_than_extension",
                   client_hello(extension(0, vec16(Bytes{0} + vec16(text("a"))) + Bytes{0}))},
        NotTlsCase{"sni_name_overflows_list", client_hello(extension(0,
                                                                     [] {
                                                                       Bytes list{0};
                                                                       put16(list, 10);
                                                                       return vec16(list +
                                                                                    text("abc"));
                                                                     }()))},
        NotTlsCase{"sni_list_overflows_extension",
                   client_hello(extension(0,
                                          [] {
                                            Bytes b;
                                            put16(b, 50);
                                            return b + Bytes{0} + vec16(text("abc"));
                                          }()))},
        NotTlsCase{"sni_nul", client_hello(server_name(std::string_view("a\0b", 3)))},
        NotTlsCase{"sni_space", client_hello(server_name("a b"))},
        NotTlsCase{"sni_non_ascii", client_hello(server_name("caf\xc3\xa9"))},
        NotTlsCase{"sni_256_bytes", client_hello(server_name(std::string(256, 'a')))},
        NotTlsCase{"duplicate_sni",
                   client_hello(server_name("localhost") + server_name("localhost"))},
        NotTlsCase{"duplicate_alpn", client_hello(alpn({"h2"}) + alpn({"http/1.1"}))},
        NotTlsCase{"duplicate_other", client_hello(kSupportedVersions + kSupportedVersions)},
        NotTlsCase{"duplicate_after_other",
                   client_hello(extension(21, {}) + alpn({"h2"}) + extension(21, Bytes{0}))},
        NotTlsCase{"alpn_empty_name", client_hello(alpn({"h2", ""}))},
        NotTlsCase{"alpn_empty_list", client_hello(extension(16, vec16({})))},
        NotTlsCase{"alpn_empty_extension", client_hello(extension(16, {}))},
        NotTlsCase{"alpn_name_overflows_list",
                   client_hello(extension(16, vec16(Bytes{5, 'h', '2'})))},
        NotTlsCase{"alpn_list_shorter_than_extension",
                   client_hello(extension(16, vec16(vec8(text("h2"))) + Bytes{0}))}),
    not_tls_name);

// ---- synthetic hellos that parse ----

struct HelloCase {
  std::string label;
  Bytes bytes;
  HelloResult expected;
  friend void PrintTo(const HelloCase& c, std::ostream* os) { *os << c.label; }
};
class ClientHelloSyntheticTest : public testing::TestWithParam<HelloCase> {};
TEST_P(ClientHelloSyntheticTest, Parses) {
  EXPECT_EQ(parse(GetParam().bytes), GetParam().expected);
  expect_prefixes_need_more(GetParam().bytes);
}
std::string hello_name(const testing::TestParamInfo<HelloCase>& info) { return info.param.label; }

INSTANTIATE_TEST_SUITE_P(
    Synthetic, ClientHelloSyntheticTest,
    testing::Values(
        HelloCase{"sni_and_alpn", client_hello(server_name("localhost") + alpn({"h2", "http/1.1"})),
                  hello("localhost", {"h2", "http/1.1"})},
        HelloCase{"no_sni", client_hello(alpn({"h2"})), hello("", {"h2"})},
        HelloCase{"no_alpn", client_hello(server_name("example.com")), hello("example.com", {})},
        HelloCase{"uppercase_sni_lowered", client_hello(server_name("LocalHost.Example-1.COM")),
                  hello("localhost.example-1.com", {})},
        HelloCase{"sni_255_bytes", client_hello(server_name(std::string(255, 'A'))),
                  hello(std::string(255, 'a'), {})},
        HelloCase{"sni_ip_literal", client_hello(server_name("127.0.0.1")), hello("127.0.0.1", {})},
        HelloCase{"alpn_order_kept", client_hello(alpn({"http/1.1", "h2", "h3"})),
                  hello("", {"http/1.1", "h2", "h3"})},
        HelloCase{"alpn_binary_name", client_hello(alpn({std::string("\x00\xff", 2)})),
                  hello("", {std::string("\x00\xff", 2)})},
        HelloCase{"alpn_before_sni_other_extensions_around",
                  client_hello(kSupportedVersions + alpn({"h2"}) + extension(0x0a0a, {}) +
                               server_name("x.localhost") + extension(21, Bytes(20, 0))),
                  hello("x.localhost", {"h2"})},
        HelloCase{"empty_extensions_block", client_hello({}), hello("", {})},
        HelloCase{"no_extensions_block", frame(handshake(hello_prefix())), hello("", {})},
        HelloCase{"legacy_version_0301", frame(handshake(hello_prefix(0x0301) + vec16({}))),
                  hello("", {})},
        HelloCase{"record_version_0300", record(handshake(kGoodBody), 22, 0x0300),
                  hello("localhost", {"h2"})},
        HelloCase{"header_split_over_records", frame(handshake(kGoodBody), 2),
                  hello("localhost", {"h2"})},
        HelloCase{"three_records",
                  [] {
                    const Bytes m = handshake(kGoodBody);
                    const auto a = m.begin() + 7, b = m.begin() + 50;
                    return record(Bytes(m.begin(), a)) + record(Bytes(a, b)) +
                           record(Bytes(b, m.end()));
                  }(),
                  hello("localhost", {"h2"})}),
    hello_name);

// ---- early decisions ----

TEST(ClientHelloTest, EmptyInputNeedsMore) { EXPECT_EQ(parse(Bytes{}), kNeedMore); }

TEST(ClientHelloTest, PlausibleHeaderPrefixesNeedMore) {
  EXPECT_EQ(parse(Bytes{22}), kNeedMore);
  EXPECT_EQ(parse(Bytes{22, 3}), kNeedMore);
  EXPECT_EQ(parse(Bytes{22, 3, 1, 0, 200}), kNeedMore);
  EXPECT_EQ(parse(Bytes{22, 3, 1, 0, 200, 1, 0, 0, 196}), kNeedMore);
}

TEST(ClientHelloTest, GarbageAfterHeadersIsNotTlsBeforeTheRestArrives) {
  Bytes b{22, 3, 1, 0, 200, 1, 0, 0, 196};
  EXPECT_EQ(parse(b + Bytes{3, 3}), kNeedMore);
  EXPECT_EQ(parse(b + Bytes{'G', 'E'}), kNotTls);  // legacy_version
  // A session id length over 32, with the rest of the record still to come.
  Bytes c = b + Bytes{3, 3};
  c.insert(c.end(), 32, 0);
  EXPECT_EQ(parse(c + Bytes{33}), kNotTls);
  EXPECT_EQ(parse(c + Bytes{32}), kNeedMore);
  // A bad SNI name type in a hello whose end has not arrived yet.
  const Bytes bad = client_hello(server_name("localhost", 7) + extension(21, Bytes(100, 0)));
  EXPECT_EQ(parse(prefix(bad, bad.size() - 50)), kNotTls);
}

TEST(ClientHelloTest, HandshakeTypeIsCheckedInTheFirstFragmentByte) {
  EXPECT_EQ(parse(Bytes{22, 3, 1, 0, 200, 2}), kNotTls);
  EXPECT_EQ(parse(Bytes{22, 3, 1, 0, 1, 1, 22, 3, 1, 0, 1, 0}), kNeedMore);
}

// ---- the 16 KiB bound ----

// A hello whose records take exactly `total` bytes, in two records (a record holds 16 KiB at
// most), padded with extension 21.
Bytes hello_of_total_size(std::size_t total) {
  const Bytes base = hello_body(server_name("big.localhost") + alpn({"h2"}));
  const std::size_t overhead = 2 * 5 + 4 + base.size() + 4;  // records, handshake, padding hdr
  Bytes exts =
      server_name("big.localhost") + alpn({"h2"}) + extension(21, Bytes(total - overhead, 0));
  const Bytes message = handshake(hello_body(exts));
  Bytes out = frame_at(message, message.size() / 2);
  EXPECT_EQ(out.size(), total);
  return out;
}

TEST(ClientHelloTest, AtMost16KiBIncludingRecordHeaders) {
  const Bytes fits = hello_of_total_size(kMaxClientHelloBytes);
  EXPECT_EQ(parse(fits), hello("big.localhost", {"h2"}));
  const Bytes too_big = hello_of_total_size(kMaxClientHelloBytes + 1);
  EXPECT_EQ(parse(too_big), kNotTls);
  // Decided from the declared lengths, long before the bytes arrive.
  EXPECT_EQ(parse(prefix(too_big, 9)), kNotTls);
  EXPECT_EQ(parse(prefix(fits, 9)), kNeedMore);
}

TEST(ClientHelloTest, NeedMoreOnlyBelowTheBound) {
  // Fragmented into small records the overhead grows; the bound still holds for every prefix.
  const Bytes message = handshake(hello_body(extension(21, Bytes(12000, 0))));
  const Bytes framed = frame(message, 3);  // 5 bytes of header per 3 bytes of message
  ASSERT_GT(framed.size(), kMaxClientHelloBytes);
  EXPECT_EQ(parse(framed), kNotTls);
  for (std::size_t n = 0; n <= framed.size(); n += 97) {
    const HelloResult r = parse(prefix(framed, n));
    if (r == kNeedMore) {
      EXPECT_LT(n, kMaxClientHelloBytes);
    }
  }
  EXPECT_EQ(parse(prefix(framed, kMaxClientHelloBytes)), kNotTls);
}

TEST(ClientHelloTest, NeverReadsPastTheSpan) {
  // A hello in a larger buffer: the span ends one byte short, so it must ask for more.
  const Bytes full = client_hello(server_name("localhost"));
  Bytes buffer = full;
  buffer.back() ^= 0xFF;  // would change nothing if read, but the span excludes it anyway
  const auto view = std::span<const std::uint8_t>(buffer).first(buffer.size() - 1);
  EXPECT_EQ(parse_client_hello(view), kNeedMore);
}

}  // namespace
}  // namespace cmux::tls
