// SPEC §6 "HTTP/1.1 input is strict": head scanning, framing rules, the Connection list.
#include "http/h1_head.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cmux::http {
namespace {

using namespace std::string_literals;  // "\0"s keeps the NUL inside the literal

// One word for every scan_head outcome, so table rows read as what the proxy does.
enum class Outcome { need_more, complete, bad_request, uri_too_long, fields_too_large };

std::ostream& operator<<(std::ostream& os, Outcome o) {
  constexpr const char* kNames[] = {"need_more", "complete", "bad_request", "uri_too_long",
                                    "fields_too_large"};
  return os << kNames[static_cast<int>(o)];
}

Outcome outcome(const std::expected<HeadScan, HeadError>& r) {
  if (r) return r->length == 0 ? Outcome::need_more : Outcome::complete;
  switch (r.error()) {
    case HeadError::uri_too_long: return Outcome::uri_too_long;
    case HeadError::fields_too_large: return Outcome::fields_too_large;
    case HeadError::bad_request: break;
  }
  return Outcome::bad_request;
}

Outcome scan(std::string_view buf) { return outcome(scan_head(buf, HeadLimits{})); }

// A head whose field block (every byte after the start line's CRLF, final CRLF included) is
// exactly `block` bytes, spread over `count` fields. "X-Pad:" + 2 bytes of CRLF are 8 bytes.
std::string head_with_block(std::size_t block, std::size_t count) {
  std::string head = "GET / HTTP/1.1\r\n";
  std::size_t value_bytes = block - 2 - count * 8;  // every field line "X-Pad:" value CRLF
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t n = value_bytes / count + (i < value_bytes % count ? 1 : 0);
    head += "X-Pad:" + std::string(n, 'v') + "\r\n";
  }
  return head + "\r\n";
}

// A request line of exactly `n` bytes, CRLF not counted.
std::string request_line(std::size_t n) {
  const std::string prefix = "GET /", suffix = " HTTP/1.1";
  return prefix + std::string(n - prefix.size() - suffix.size(), 'a') + suffix;
}

std::string head_with_fields(std::size_t count) {
  std::string head = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i < count; ++i) head += "X-F" + std::to_string(i) + ": v\r\n";
  return head + "\r\n";
}

struct ScanCase {
  const char* name;
  std::string input;
  Outcome expected;
};

void PrintTo(const ScanCase& c, std::ostream* os) { *os << c.name; }

class ScanHead : public testing::TestWithParam<ScanCase> {};

TEST_P(ScanHead, Outcome) { EXPECT_EQ(scan(GetParam().input), GetParam().expected); }

// Feeding the same bytes one at a time never completes early and never fails differently:
// a prefix is either still undecided or already fails with the final verdict.
TEST_P(ScanHead, EveryPrefixAgreesWithTheWhole) {
  const ScanCase& c = GetParam();
  const std::size_t size = c.input.size();
  for (std::size_t n = 0; n < size; ++n) {
    // Every split of the small rows; for the 8 KiB / 64 KiB rows (quadratic otherwise) both
    // ends and a stride through the middle.
    if (size > 2048 && n > 512 && n + 512 < size && n % 509 != 0) continue;
    const Outcome got = scan(std::string_view(c.input).substr(0, n));
    if (got == Outcome::need_more) continue;
    ASSERT_NE(c.expected, Outcome::complete) << "prefix of " << n << " bytes: " << got;
    ASSERT_EQ(got, c.expected) << "prefix of " << n << " bytes";
  }
}

const std::string kGet = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

INSTANTIATE_TEST_SUITE_P(
    Valid, ScanHead,
    testing::Values(ScanCase{"simple", kGet, Outcome::complete},
                    ScanCase{"no_fields", "GET / HTTP/1.1\r\n\r\n", Outcome::complete},
                    ScanCase{"response", "HTTP/1.1 204 No Content\r\n\r\n", Outcome::complete},
                    ScanCase{"htab_in_value", "GET / HTTP/1.1\r\nX: a\tb\r\n\r\n",
                             Outcome::complete},
                    ScanCase{"four_leading_crlfs", "\r\n\r\n\r\n\r\n" + kGet, Outcome::complete},
                    ScanCase{"request_line_8192", request_line(8192) + "\r\n\r\n",
                             Outcome::complete},
                    ScanCase{"field_block_64k_one_field", head_with_block(64 * 1024, 1),
                             Outcome::complete},
                    ScanCase{"field_block_64k_many_fields", head_with_block(64 * 1024, 100),
                             Outcome::complete},
                    ScanCase{"fields_100", head_with_fields(100), Outcome::complete}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    NeedMore, ScanHead,
    testing::Values(ScanCase{"empty", "", Outcome::need_more},
                    ScanCase{"one_crlf", "\r\n", Outcome::need_more},
                    ScanCase{"start_line_cr", "GET / HTTP/1.1\r", Outcome::need_more},
                    ScanCase{"after_field", "GET / HTTP/1.1\r\nHost: a\r\n", Outcome::need_more},
                    ScanCase{"final_cr", "GET / HTTP/1.1\r\nHost: a\r\n\r", Outcome::need_more}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    BadRequest, ScanHead,
    testing::Values(
        ScanCase{"bare_lf_first_byte", "\nGET / HTTP/1.1\r\n\r\n", Outcome::bad_request},
        ScanCase{"bare_lf_after_leading_crlf", "\r\n\nGET / HTTP/1.1\r\n\r\n",
                 Outcome::bad_request},
        ScanCase{"bare_lf_start_line", "GET / HTTP/1.1\nHost: a\r\n\r\n", Outcome::bad_request},
        ScanCase{"bare_lf_field", "GET / HTTP/1.1\r\nHost: a\n\r\n", Outcome::bad_request},
        ScanCase{"bare_lf_terminator", "GET / HTTP/1.1\r\nHost: a\r\n\n", Outcome::bad_request},
        ScanCase{"bare_lf_in_value", "GET / HTTP/1.1\r\nX: a\nb\r\n\r\n", Outcome::bad_request},
        ScanCase{"lone_cr_start_line", "GET /\r HTTP/1.1\r\n\r\n", Outcome::bad_request},
        ScanCase{"lone_cr_value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", Outcome::bad_request},
        ScanCase{"lone_cr_incomplete", "GET / HTTP/1.1\r\nX: a\rb", Outcome::bad_request},
        ScanCase{"cr_cr_lf", "GET / HTTP/1.1\r\nX: a\r\r\n\r\n", Outcome::bad_request},
        ScanCase{"nul_start_line", "GET /\0 HTTP/1.1\r\n\r\n"s, Outcome::bad_request},
        ScanCase{"nul_name", "GET / HTTP/1.1\r\nX\0Y: a\r\n\r\n"s, Outcome::bad_request},
        ScanCase{"nul_value", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"s, Outcome::bad_request},
        ScanCase{"nul_incomplete", "GET / HTTP/1.1\r\nX: a\0"s, Outcome::bad_request},
        ScanCase{"obs_fold_sp", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", Outcome::bad_request},
        ScanCase{"obs_fold_htab", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n",
                 Outcome::bad_request},
        ScanCase{"space_before_first_field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
                 Outcome::bad_request},
        ScanCase{"five_leading_crlfs", "\r\n\r\n\r\n\r\n\r\n" + kGet, Outcome::bad_request}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    TooLarge, ScanHead,
    testing::Values(
        ScanCase{"request_line_8193", request_line(8193) + "\r\n\r\n", Outcome::uri_too_long},
        ScanCase{"status_line_8193", "HTTP/1.1 200 " + std::string(8180, 'k') + "\r\n\r\n",
                 Outcome::uri_too_long},
        ScanCase{"request_line_unterminated", std::string(9000, 'a'), Outcome::uri_too_long},
        ScanCase{"field_block_64k_plus_1_one_field", head_with_block(64 * 1024 + 1, 1),
                 Outcome::fields_too_large},
        ScanCase{"field_block_64k_plus_1_many_fields", head_with_block(64 * 1024 + 1, 100),
                 Outcome::fields_too_large},
        ScanCase{"field_block_unterminated",
                 "GET / HTTP/1.1\r\n" + std::string(64 * 1024 + 100, 'x'),
                 Outcome::fields_too_large},
        // complete lines within the limit, then a partial line that pushes the block over it
        ScanCase{"field_block_unterminated_after_lines",
                 head_with_block(60 * 1024, 10).substr(0, 16 + 60 * 1024 - 2) +
                     "X-Tail: " + std::string(6 * 1024, 't'),
                 Outcome::fields_too_large},
        ScanCase{"fields_101", head_with_fields(101), Outcome::fields_too_large}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ScanHeadLength, CountsTheHeadOnlyAndSkippedLeadingCrlfs) {
  auto r = scan_head(kGet + "hello", HeadLimits{});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->skipped, 0u);
  EXPECT_EQ(r->length, kGet.size());

  r = scan_head("\r\n\r\n" + kGet + "GET /next", HeadLimits{});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->skipped, 4u);
  EXPECT_EQ(r->length, kGet.size());
}

// The server loop calls scan_head after every read: each split point of a valid head (with a
// pipelined body behind it) must say "need more" until the head is whole, then the same answer.
TEST(ScanHeadIncremental, EverySplitPoint) {
  const std::vector<std::pair<std::string, std::size_t>> heads = {
      {kGet, 0},
      {"\r\n\r\n" + kGet, 4},
      {"POST /upload?x=1 HTTP/1.1\r\nHost: a:8080\r\nTransfer-Encoding: chunked\r\n"
       "Cookie: a=1\r\nX-Empty:\r\n\r\n",
       0},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0},
  };
  for (const auto& [head, skipped] : heads) {
    SCOPED_TRACE(head);
    const std::string wire = head + "5\r\nhello\r\n0\r\n\r\n";
    for (std::size_t n = 0; n <= wire.size(); ++n) {
      const auto r = scan_head(std::string_view(wire).substr(0, n), HeadLimits{});
      ASSERT_TRUE(r) << "prefix " << n;
      if (n < head.size()) {
        ASSERT_EQ(r->length, 0u) << "prefix " << n;
      } else {
        ASSERT_EQ(r->skipped, skipped) << "prefix " << n;
        ASSERT_EQ(r->length, head.size() - skipped) << "prefix " << n;
      }
    }
  }
}

TEST(ScanHeadLimits, CustomLimitsApply) {
  const HeadLimits tiny{.max_start_line = 14, .max_head_bytes = 32, .max_fields = 2};
  auto result = [&](std::string_view s) { return outcome(scan_head(s, tiny)); };
  EXPECT_EQ(result("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"), Outcome::complete);
  EXPECT_EQ(result("GET /x HTTP/1.1\r\n\r\n"), Outcome::uri_too_long);
  EXPECT_EQ(result("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), Outcome::fields_too_large);
  EXPECT_EQ(result("GET / HTTP/1.1\r\nA: " + std::string(27, 'v') + "\r\n\r\n"),
            Outcome::fields_too_large);  // 5 + 27 + 2 + 2 = 36 > 32
}

TEST(HeadErrorStatus, MapsToSpecStatuses) {
  EXPECT_EQ(head_error_status(HeadError::bad_request), 400);
  EXPECT_EQ(head_error_status(HeadError::uri_too_long), 414);
  EXPECT_EQ(head_error_status(HeadError::fields_too_large), 431);
  EXPECT_EQ(head_error_text(HeadError::bad_request), "Bad Request");
  EXPECT_EQ(head_error_text(HeadError::uri_too_long), "URI Too Long");
  EXPECT_EQ(head_error_text(HeadError::fields_too_large), "Request Header Fields Too Large");
}

// ---- connection_has ----

Fields connection(std::vector<std::string> values) {
  Fields out{{"upgrade", "websocket"}, {"proxy-connection", "close"}};
  for (auto& v : values) out.push_back({"connection", std::move(v)});
  return out;
}

TEST(ConnectionHas, ListsCaseAndRepeats) {
  EXPECT_TRUE(connection_has(connection({"Upgrade"}), "upgrade"));
  EXPECT_TRUE(connection_has(connection({"upgrade"}), "UPGRADE"));
  EXPECT_TRUE(connection_has(connection({"keep-alive, Upgrade"}), "upgrade"));
  EXPECT_TRUE(connection_has(connection({"keep-alive,upgrade"}), "keep-alive"));
  EXPECT_TRUE(connection_has(connection({"close ,\tupgrade\t"}), "upgrade"));
  EXPECT_TRUE(connection_has(connection({"a,,upgrade"}), "upgrade"));
  EXPECT_TRUE(connection_has(connection({"keep-alive", "Upgrade"}), "upgrade"));
  EXPECT_FALSE(connection_has(connection({}), "close"));  // proxy-connection does not count
  EXPECT_FALSE(connection_has(connection({"keep-alive"}), "upgrade"));
  EXPECT_FALSE(connection_has(connection({"upgraded, x-upgrade"}), "upgrade"));
  EXPECT_FALSE(connection_has(connection({"up grade"}), "upgrade"));
}

// ---- check_framing ----

struct FramingCase {
  const char* name;
  std::vector<std::string> lines;  // field lines as on the wire, without CRLF
  std::optional<Framing> expected;  // nullopt = 400
};

void PrintTo(const FramingCase& c, std::ostream* os) { *os << c.name; }

class CheckFraming : public testing::TestWithParam<FramingCase> {};

// Fields as H1Parser hands them over (name lower-cased, value trimmed; h1_parser_test.cpp):
// names arrive in any case on the wire.
Fields fields_of(const std::vector<std::string>& lines) {
  Fields out;
  for (std::string_view l : lines) {
    const auto colon = l.find(':');
    out.push_back({to_lower(l.substr(0, colon)), std::string(trim(l.substr(colon + 1)))});
  }
  return out;
}

TEST_P(CheckFraming, Verdict) {
  const auto got = check_framing(fields_of(GetParam().lines));
  const auto& want = GetParam().expected;
  if (!want) {
    ASSERT_FALSE(got) << "chunked=" << got->chunked;
    EXPECT_EQ(got.error(), HeadError::bad_request);
    return;
  }
  ASSERT_TRUE(got);
  EXPECT_EQ(got->chunked, want->chunked);
  EXPECT_EQ(got->content_length, want->content_length);
}

constexpr std::optional<Framing> kBad = std::nullopt;
Framing chunked() { return Framing{.chunked = true, .content_length = std::nullopt}; }
Framing length(std::uint64_t n) { return Framing{.chunked = false, .content_length = n}; }

INSTANTIATE_TEST_SUITE_P(
    Accepted, CheckFraming,
    testing::Values(
        FramingCase{"none", {"Host: a"}, Framing{}},
        FramingCase{"cl_0", {"Content-Length: 0"}, length(0)},
        FramingCase{"cl_5", {"content-length: 5"}, length(5)},
        FramingCase{"cl_leading_zeros", {"Content-Length: 005"}, length(5)},
        FramingCase{"cl_19_digits", {"Content-Length: 9999999999999999999"},
                    length(9999999999999999999ull)},
        FramingCase{"te_chunked", {"Transfer-Encoding: chunked"}, chunked()},
        FramingCase{"te_chunked_case", {"TRANSFER-ENCODING: ChUnKeD"}, chunked()},
        FramingCase{"te_gzip_chunked", {"Transfer-Encoding: gzip , chunked"}, chunked()},
        FramingCase{"te_two_fields_gzip_then_chunked",
                    {"Transfer-Encoding: gzip", "Host: a", "Transfer-Encoding: chunked"},
                    chunked()}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Rejected, CheckFraming,
    testing::Values(
        FramingCase{"te_chunked_gzip", {"Transfer-Encoding: chunked, gzip"}, kBad},
        FramingCase{"te_gzip_alone", {"Transfer-Encoding: gzip"}, kBad},
        FramingCase{"te_identity", {"Transfer-Encoding: identity"}, kBad},
        FramingCase{"te_chunked_chunked", {"Transfer-Encoding: chunked, chunked"}, kBad},
        FramingCase{"te_chunked_in_two_fields",
                    {"Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}, kBad},
        FramingCase{"te_chunked_then_gzip_field",
                    {"Transfer-Encoding: chunked", "Transfer-Encoding: gzip"}, kBad},
        FramingCase{"te_trailing_comma", {"Transfer-Encoding: chunked,"}, kBad},
        FramingCase{"te_leading_comma", {"Transfer-Encoding: , chunked"}, kBad},
        FramingCase{"te_empty", {"Transfer-Encoding:"}, kBad},
        FramingCase{"te_chunked_param", {"Transfer-Encoding: chunked;x=1"}, kBad},
        FramingCase{"te_and_cl", {"Transfer-Encoding: chunked", "Content-Length: 5"}, kBad},
        FramingCase{"cl_and_te", {"Content-Length: 0", "Transfer-Encoding: chunked"}, kBad},
        FramingCase{"cl_list_equal", {"Content-Length: 5, 5"}, kBad},
        FramingCase{"cl_list_differing", {"Content-Length: 5,6"}, kBad},
        FramingCase{"cl_two_fields_differing", {"Content-Length: 5", "Content-Length: 6"},
                    kBad},
        FramingCase{"cl_two_fields_equal", {"Content-Length: 5", "Content-Length: 5"}, kBad},
        FramingCase{"cl_plus", {"Content-Length: +5"}, kBad},
        FramingCase{"cl_minus", {"Content-Length: -1"}, kBad},
        FramingCase{"cl_empty", {"Content-Length:"}, kBad},
        FramingCase{"cl_inner_space", {"Content-Length: 5 5"}, kBad},
        FramingCase{"cl_hex", {"Content-Length: 0x10"}, kBad},
        FramingCase{"cl_exponent", {"Content-Length: 1e3"}, kBad},
        FramingCase{"cl_2_pow_64", {"Content-Length: 18446744073709551616"}, kBad},
        FramingCase{"cl_huge", {"Content-Length: 99999999999999999999999999999999"}, kBad}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CheckFramingDirect, TrimsValuesItself) {
  const auto got = check_framing(Fields{{"content-length", " \t7 "}});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->content_length, 7u);
  EXPECT_FALSE(got->chunked);
  EXPECT_TRUE(check_framing(Fields{{"transfer-encoding", " chunked\t"}}).value().chunked);
}

// ---- serialising ----

TEST(AppendFieldLine, AppendsNameColonValueCrlfWhateverTheRoomLeft) {
  std::string out = "HTTP/1.1 200 OK\r\n";
  append_field_line(out, {"a", ""});
  append_field_line(out, {"content-type", "text/plain"});
  const std::string long_value(300, 'v');  // past the string's capacity: it grows
  append_field_line(out, {"x-long", long_value});
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\na: \r\ncontent-type: text/plain\r\nx-long: " + long_value + "\r\n");
  std::string empty;
  append_field_line(empty, {"x-cmux-port-internal", "3000"});
  EXPECT_EQ(empty, "x-cmux-port-internal: 3000\r\n");
}

TEST(LastChunk, CarriesTheTrailers) {
  EXPECT_EQ(last_chunk({}), "0\r\n\r\n");
  EXPECT_EQ(last_chunk({{"x-checksum", "abc"}, {"grpc-status", "0"}}), "0\r\nx-checksum: abc\r\ngrpc-status: 0\r\n\r\n");
}

}  // namespace
}  // namespace cmux::http
