// Protocol sniffing on the first bytes of a connection: TLS record, HTTP/2 preface, else HTTP/1.1.
#include "net/sniff.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace cmux::net {

// gtest prints the enum by name in failure messages.
void PrintTo(Sniffed s, std::ostream* os) {
  switch (s) {
    case Sniffed::http1: *os << "http1"; return;
    case Sniffed::http2: *os << "http2"; return;
    case Sniffed::tls: *os << "tls"; return;
  }
}

namespace {

using namespace std::string_literals;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::optional<Sniffed> kNeedMore = std::nullopt;

TEST(ClassifyPrefix, EmptyNeedsMore) { EXPECT_EQ(classify_prefix(""), kNeedMore); }

TEST(ClassifyPrefix, TlsHandshakeRecordByFirstByte) {
  EXPECT_EQ(classify_prefix("\x16"), Sniffed::tls);
  EXPECT_EQ(classify_prefix("\x16\x03\x01\x02\x00\x01"), Sniffed::tls);
  EXPECT_EQ(classify_prefix("\x16"s + std::string(kPreface)), Sniffed::tls);
}

TEST(ClassifyPrefix, OtherRecordTypesAndLate0x16AreHttp1) {
  EXPECT_EQ(classify_prefix("\x17\x03\x03"), Sniffed::http1);  // TLS application data
  EXPECT_EQ(classify_prefix("\x15"), Sniffed::http1);
  EXPECT_EQ(classify_prefix("\x80"), Sniffed::http1);
  EXPECT_EQ(classify_prefix("\0"s), Sniffed::http1);
  EXPECT_EQ(classify_prefix("P\x16"), Sniffed::http1);
}

TEST(ClassifyPrefix, EveryProperPrefixOfThePrefaceNeedsMore) {
  for (std::size_t n = 1; n < kPreface.size(); ++n)
    EXPECT_EQ(classify_prefix(kPreface.substr(0, n)), kNeedMore) << "prefix length " << n;
}

TEST(ClassifyPrefix, CompletePrefaceIsHttp2) {
  EXPECT_EQ(kPreface.size(), 24u);
  EXPECT_EQ(classify_prefix(kPreface), Sniffed::http2);
  // The client's SETTINGS frame usually arrives in the same read.
  EXPECT_EQ(classify_prefix(std::string(kPreface) + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"s),
            Sniffed::http2);
}

// A wrong byte anywhere decides HTTP/1.1 at once, whether or not the rest of the preface follows.
TEST(ClassifyPrefix, MismatchAtEachPositionIsHttp1) {
  for (std::size_t i = 0; i < kPreface.size(); ++i) {
    std::string bad(kPreface);
    bad[i] = bad[i] == 'x' ? 'y' : 'x';
    EXPECT_EQ(classify_prefix(std::string_view(bad).substr(0, i + 1)), Sniffed::http1)
        << "mismatch at " << i << ", cut there";
    EXPECT_EQ(classify_prefix(bad), Sniffed::http1) << "mismatch at " << i << ", full length";
  }
}

TEST(ClassifyPrefix, Http1Requests) {
  EXPECT_EQ(classify_prefix("GET / HTTP/1.1"), Sniffed::http1);
  EXPECT_EQ(classify_prefix("G"), Sniffed::http1);
  EXPECT_EQ(classify_prefix("PUT / HTTP/1.1\r\n"), Sniffed::http1);
  EXPECT_EQ(classify_prefix("PRI"), kNeedMore);   // could still be the preface
  EXPECT_EQ(classify_prefix("PRIX"), Sniffed::http1);
  // An HTTP/1.1 request naming PRI is not the preface.
  EXPECT_EQ(classify_prefix("PRI * HTTP/1.1\r\n\r\n"), Sniffed::http1);
}

}  // namespace
}  // namespace cmux::net
