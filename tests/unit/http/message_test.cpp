// Field helpers and SPEC §2 "Headers" hop-by-hop hygiene.
#include "http/message.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace cmux::http {
namespace {

// Field has no operator==; compare as (name, value) pairs, which gtest also prints readably.
using Pairs = std::vector<std::pair<std::string, std::string>>;
Pairs pairs(const Fields& fields) {
  Pairs out;
  for (const Field& field : fields) out.emplace_back(field.name, field.value);
  return out;
}

TEST(FieldHelpers, FindFieldReturnsFirstValue) {
  const Fields fields{{"accept", "a"}, {"cookie", "1"}, {"cookie", "2"}};
  EXPECT_EQ(find_field(fields, "cookie"), "1");
  EXPECT_EQ(find_field(fields, "accept"), "a");
  EXPECT_EQ(find_field(fields, "missing"), std::nullopt);
  EXPECT_EQ(find_field({}, "accept"), std::nullopt);
}

TEST(FieldHelpers, FindFieldDistinguishesEmptyFromAbsent) {
  const Fields fields{{"x-empty", ""}};
  ASSERT_TRUE(find_field(fields, "x-empty").has_value());
  EXPECT_EQ(*find_field(fields, "x-empty"), "");
}

TEST(FieldHelpers, CountField) {
  const Fields fields{{"cookie", "1"}, {"accept", "a"}, {"cookie", "2"}};
  EXPECT_EQ(count_field(fields, "cookie"), 2u);
  EXPECT_EQ(count_field(fields, "accept"), 1u);
  EXPECT_EQ(count_field(fields, "nope"), 0u);
}

TEST(FieldHelpers, RemoveFieldRemovesEveryRepeatAndKeepsOrder) {
  Fields fields{{"a", "1"}, {"cookie", "1"}, {"b", "2"}, {"cookie", "2"}, {"c", "3"}};
  remove_field(fields, "cookie");
  EXPECT_EQ(pairs(fields), (Pairs{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  remove_field(fields, "missing");
  EXPECT_EQ(fields.size(), 3u);
}

struct IequalsCase {
  std::string a, b;
  bool equal;
  friend void PrintTo(const IequalsCase& c, std::ostream* os) {
    *os << testing::PrintToString(c.a) << " vs " << testing::PrintToString(c.b);
  }
};
class IequalsTest : public testing::TestWithParam<IequalsCase> {};
TEST_P(IequalsTest, ComparesAsciiCaseInsensitively) {
  EXPECT_EQ(iequals(GetParam().a, GetParam().b), GetParam().equal);
  EXPECT_EQ(iequals(GetParam().b, GetParam().a), GetParam().equal);
}
INSTANTIATE_TEST_SUITE_P(Table, IequalsTest,
                         testing::Values(IequalsCase{"", "", true},
                                         IequalsCase{"Trailers", "trailers", true},
                                         IequalsCase{"X-CMUX", "x-cmux", true},
                                         IequalsCase{"abc", "abd", false},
                                         IequalsCase{"abc", "abcd", false},
                                         IequalsCase{"@", "`", false},  // 0x40 vs 0x60
                                         IequalsCase{"[", "{", false},  // 0x5B vs 0x7B
                                         IequalsCase{"\xC3\x89", "\xC3\xA9", false}));

TEST(FieldHelpers, ToLowerFoldsOnlyAscii) {
  EXPECT_EQ(to_lower("Content-TYPE"), "content-type");
  EXPECT_EQ(to_lower(""), "");
  // Longer than the small-string buffer: the result has exactly the input's length.
  EXPECT_EQ(to_lower("X-Cmux-Port-Internal"), "x-cmux-port-internal");
  EXPECT_EQ(to_lower(std::string(100, 'A')), std::string(100, 'a'));
  // Every byte value at every position of the eight-byte steps, against the one-byte rule.
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (std::size_t shift = 0; shift < 8; ++shift) {
    const std::string in = std::string(shift, 'Q') + all;
    const std::string got = to_lower(in);
    ASSERT_EQ(got.size(), in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
      const auto c = static_cast<unsigned char>(in[i]);
      const char want = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : static_cast<char>(c);
      ASSERT_EQ(got[i], want) << "byte " << int(c) << " at " << i;
    }
  }
  EXPECT_EQ(to_lower("@[`{\xC3\x89"), "@[`{\xC3\x89");
}

struct TrimCase {
  std::string in, out;
  friend void PrintTo(const TrimCase& c, std::ostream* os) { *os << testing::PrintToString(c.in); }
};
class TrimTest : public testing::TestWithParam<TrimCase> {};
TEST_P(TrimTest, StripsSpaceAndTabOnly) { EXPECT_EQ(trim(GetParam().in), GetParam().out); }
INSTANTIATE_TEST_SUITE_P(Table, TrimTest,
                         testing::Values(TrimCase{"", ""}, TrimCase{"   ", ""},
                                         TrimCase{" \t a b \t ", "a b"}, TrimCase{"x", "x"},
                                         TrimCase{"\r\nx\r\n", "\r\nx\r\n"},  // not OWS
                                         TrimCase{"\vx", "\vx"}));

struct StripCase {
  std::string label;
  Fields in;
  bool keep_te_trailers;
  Fields out;
  friend void PrintTo(const StripCase& c, std::ostream* os) { *os << c.label; }
};
class StripHopByHopTest : public testing::TestWithParam<StripCase> {};
TEST_P(StripHopByHopTest, RemovesHopByHopFields) {
  Fields fields = GetParam().in;
  strip_hop_by_hop(fields, GetParam().keep_te_trailers);
  EXPECT_EQ(pairs(fields), pairs(GetParam().out));
}
INSTANTIATE_TEST_SUITE_P(
    Table, StripHopByHopTest,
    testing::Values(
        StripCase{"every_fixed_name",
                  {{"connection", "keep-alive"},
                   {"keep-alive", "timeout=5"},
                   {"proxy-authenticate", "Basic"},
                   {"proxy-authorization", "Basic eA=="},
                   {"te", "gzip"},
                   {"trailer", "x-checksum"},
                   {"transfer-encoding", "chunked"},
                   {"upgrade", "websocket"},
                   {"proxy-connection", "keep-alive"},
                   {"accept", "*/*"}},
                  false,
                  {{"accept", "*/*"}}},
        StripCase{
            "trailers_is_not_trailer",  // the Rust proxy removed `trailers`; SPEC names `trailer`
            {{"trailers", "x"}, {"trailer", "y"}},
            false,
            {{"trailers", "x"}}},
        StripCase{"connection_listed_names",
                  {{"connection", "X-Foo, , x-bar ,\tClose"},
                   {"x-foo", "1"},
                   {"x-bar", "2"},
                   {"x-baz", "3"},
                   {"close", "4"}},
                  false,
                  {{"x-baz", "3"}}},
        StripCase{"every_connection_field_counts",
                  {{"connection", "x-a"}, {"x-a", "1"}, {"x-b", "2"}, {"connection", "X-B"}},
                  false,
                  {}},
        StripCase{"connection_can_name_internal_headers",
                  {{"connection", "x-cmux-port-internal"}, {"x-cmux-port-internal", "5173"}},
                  false,
                  {}},
        StripCase{"repeats_and_order_preserved",
                  {{"set-cookie", "a=1"},
                   {"connection", "close"},
                   {"via", "1.1 a"},
                   {"set-cookie", "b=2"},
                   {"via", "1.1 b"},
                   {"set-cookie", "c=3"}},
                  false,
                  {{"set-cookie", "a=1"},
                   {"via", "1.1 a"},
                   {"set-cookie", "b=2"},
                   {"via", "1.1 b"},
                   {"set-cookie", "c=3"}}},
        StripCase{"te_trailers_dropped_by_default", {{"te", "trailers"}}, false, {}},
        StripCase{"te_trailers_kept_for_h2", {{"te", "trailers"}}, true, {{"te", "trailers"}}},
        StripCase{
            "te_trailers_case_and_ows", {{"te", " \tTrailers "}}, true, {{"te", " \tTrailers "}}},
        StripCase{"te_other_value_dropped_for_h2",
                  {{"te", "trailers, deflate"}, {"te", "gzip"}, {"te", ""}},
                  true,
                  {}},
        StripCase{"te_trailers_survives_connection_te",  // an h1 sender must list TE there
                  {{"connection", "TE"}, {"te", "trailers"}},
                  true,
                  {{"te", "trailers"}}},
        StripCase{"te_only_trailers_repeat_kept",
                  {{"te", "gzip"}, {"te", "trailers"}},
                  true,
                  {{"te", "trailers"}}},
        StripCase{"nothing_to_strip", {{"a", "1"}, {"b", "2"}}, false, {{"a", "1"}, {"b", "2"}}},
        StripCase{"empty", {}, true, {}}),
    [](const testing::TestParamInfo<StripCase>& info) { return info.param.label; });

TEST(StripInternal, RemovesTheRoutingHeadersOnly) {
  Fields fields{{"x-cmux-port-internal", "5173"},
                {"accept", "*/*"},
                {"x-cmux-workspace-internal", "workspace-1"},
                {"x-cmux-host-override", "localhost:5173"},
                {"x-cmux-port-internal", "1"},
                {"x-cmux-other", "kept"}};
  strip_internal(fields);
  EXPECT_EQ(pairs(fields), (Pairs{{"accept", "*/*"}, {"x-cmux-other", "kept"}}));
}

TEST(StripInternal, LeavesHopByHopAlone) {
  Fields fields{{"connection", "close"}, {"te", "trailers"}};
  strip_internal(fields);
  EXPECT_EQ(fields.size(), 2u);
}


struct SameAuthorityCase {
  const char* a;
  const char* b;
  const char* scheme;
  bool same;
};
class SameAuthorityTest : public ::testing::TestWithParam<SameAuthorityCase> {};
TEST_P(SameAuthorityTest, ComparesHostAndEffectivePort) {
  const auto& c = GetParam();
  EXPECT_EQ(same_authority(c.a, c.b, c.scheme), c.same) << c.a << " vs " << c.b;
  EXPECT_EQ(same_authority(c.b, c.a, c.scheme), c.same) << "symmetric";
}
INSTANTIATE_TEST_SUITE_P(Table, SameAuthorityTest,
                         ::testing::Values(SameAuthorityCase{"localhost:5173", "localhost:5173", "http", true},
                                           SameAuthorityCase{"LocalHost:5173", "localhost:5173", "http", true},
                                           SameAuthorityCase{"example.com", "example.com:80", "http", true},
                                           SameAuthorityCase{"example.com", "example.com:443", "https", true},
                                           SameAuthorityCase{"example.com", "example.com:443", "http", false},
                                           SameAuthorityCase{"example.com:8080", "example.com", "http", false},
                                           SameAuthorityCase{"example.com", "elsewhere.example", "http", false},
                                           SameAuthorityCase{"[::1]:3000", "[::1]:3000", "http", true},
                                           SameAuthorityCase{"[::1]", "[::1]:80", "http", true},
                                           SameAuthorityCase{"[::1]:3000", "[::2]:3000", "http", false},
                                           SameAuthorityCase{"127.0.0.1:3000", "127.0.0.1:3001", "http", false},
                                           SameAuthorityCase{"", "", "http", true},
                                           SameAuthorityCase{"a:", "a:80", "http", true}));


TEST(FindPathStart, Table) {
  struct Case {
    std::string_view target;
    std::size_t from;
    std::size_t want;
  };
  constexpr auto npos = std::string_view::npos;
  for (const Case& c : {Case{"http://a.test/x", 7, 13}, Case{"http://a.test?q=1", 7, 13},
                        Case{"http://a.test:8080/?q", 7, 18}, Case{"http://a.test", 7, npos},
                        Case{"http://a.test", 13, npos}, Case{"http://a.test", 20, npos},
                        Case{"http:///x", 7, 7}, Case{"http://a/b?c/d", 7, 8}, Case{"http://a/b?c/d", 9, 10}, Case{"", 0, npos}}) {
    EXPECT_EQ(find_path_start(c.target, c.from), c.want) << c.target << " from " << c.from;
    if (c.from <= c.target.size()) {
      EXPECT_EQ(find_path_start(c.target, c.from), c.target.find_first_of("/?", c.from));
    }
  }
}

}  // namespace
}  // namespace cmux::http
