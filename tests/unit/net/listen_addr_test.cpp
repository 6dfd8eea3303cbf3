// SPEC §2 "Start": --listen / CMUX_LISTEN parsing and de-duplication.
#include "net/listen_addr.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace cmux::net {
namespace {

using Addrs = std::vector<ListenAddr>;

std::vector<std::string> texts(const Addrs& addrs) {
  std::vector<std::string> out;
  for (const ListenAddr& addr : addrs) out.push_back(addr.to_string());
  return out;
}

TEST(ListenAddr, ToString) {
  EXPECT_EQ((ListenAddr{"1.2.3.4", 80}).to_string(), "1.2.3.4:80");
  EXPECT_EQ((ListenAddr{"0.0.0.0", 0}).to_string(), "0.0.0.0:0");
  EXPECT_EQ((ListenAddr{"::1", 39379}).to_string(), "[::1]:39379");
  EXPECT_EQ((ListenAddr{"::", 65535}).to_string(), "[::]:65535");
}

TEST(ListenAddr, IsV6) {
  EXPECT_FALSE((ListenAddr{"127.0.0.1", 1}).is_v6());
  EXPECT_TRUE((ListenAddr{"::ffff:127.0.0.1", 1}).is_v6());
}

struct ParseCase {
  std::vector<std::string> items;
  std::vector<std::string> expected;  // to_string() of each result
  friend void PrintTo(const ParseCase& c, std::ostream* os) {
    *os << testing::PrintToString(c.items);
  }
};
class ParseListenListTest : public testing::TestWithParam<ParseCase> {};
TEST_P(ParseListenListTest, Parses) {
  const auto result = parse_listen_list(GetParam().items);
  ASSERT_TRUE(result.has_value()) << result.error();
  EXPECT_EQ(texts(*result), GetParam().expected);
}
INSTANTIATE_TEST_SUITE_P(
    Table, ParseListenListTest,
    testing::Values(
        ParseCase{{"0.0.0.0:39379"}, {"0.0.0.0:39379"}},
        ParseCase{{"127.0.0.1:0"}, {"127.0.0.1:0"}},  // port 0 = any free port
        ParseCase{{"127.0.0.1:65535"}, {"127.0.0.1:65535"}},
        ParseCase{{"127.0.0.1:0000080"}, {"127.0.0.1:80"}}, ParseCase{{"[::1]:80"}, {"[::1]:80"}},
        ParseCase{{"[::]:80"}, {"[::]:80"}},
        ParseCase{{"[0:0:0:0:0:0:0:1]:80"}, {"[::1]:80"}},  // canonical form
        ParseCase{{"[FE80::ABCD]:80"}, {"[fe80::abcd]:80"}},
        ParseCase{{"[::ffff:127.0.0.1]:80"}, {"[::ffff:127.0.0.1]:80"}},
        ParseCase{{"1.1.1.1:1,2.2.2.2:2"}, {"1.1.1.1:1", "2.2.2.2:2"}},
        ParseCase{{"1.1.1.1:1", "[::1]:2,3.3.3.3:3"}, {"1.1.1.1:1", "[::1]:2", "3.3.3.3:3"}},
        ParseCase{{" 1.1.1.1:1 ,\t[::1]:2 "}, {"1.1.1.1:1", "[::1]:2"}},
        ParseCase{{",,1.1.1.1:1,, ,"}, {"1.1.1.1:1"}}, ParseCase{{"", " "}, {}}, ParseCase{{}, {}},
        ParseCase{{"1.1.1.1:1,1.1.1.1:1"}, {"1.1.1.1:1", "1.1.1.1:1"}}));  // no dedupe here

struct ErrorCase {
  std::vector<std::string> items;
  std::string error;
  friend void PrintTo(const ErrorCase& c, std::ostream* os) {
    *os << testing::PrintToString(c.items);
  }
};
class ParseListenErrorTest : public testing::TestWithParam<ErrorCase> {};
TEST_P(ParseListenErrorTest, Rejects) {
  const auto result = parse_listen_list(GetParam().items);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error(), GetParam().error);
}
INSTANTIATE_TEST_SUITE_P(
    Table, ParseListenErrorTest,
    testing::Values(
        ErrorCase{{"127.0.0.1"},
                  "invalid listen address '127.0.0.1': expected IP:PORT or [IPv6]:PORT"},
        ErrorCase{{"127.0.0.1:"},
                  "invalid listen address '127.0.0.1:': port must be a number from 0 to 65535"},
        ErrorCase{{"127.0.0.1:65536"},
                  "invalid listen address '127.0.0.1:65536': port must be a number from 0 to "
                  "65535"},
        ErrorCase{{"127.0.0.1:-1"},
                  "invalid listen address '127.0.0.1:-1': port must be a number from 0 to 65535"},
        ErrorCase{{"127.0.0.1:+80"},
                  "invalid listen address '127.0.0.1:+80': port must be a number from 0 to 65535"},
        ErrorCase{{"localhost:80"},
                  "invalid listen address 'localhost:80': not a numeric IPv4 address"},
        ErrorCase{{"256.0.0.1:80"},
                  "invalid listen address '256.0.0.1:80': not a numeric IPv4 address"},
        ErrorCase{{"127.1:80"}, "invalid listen address '127.1:80': not a numeric IPv4 address"},
        ErrorCase{{":80"}, "invalid listen address ':80': not a numeric IPv4 address"},
        ErrorCase{{"::1:80"},
                  "invalid listen address '::1:80': IPv6 addresses need brackets, e.g. "
                  "[::1]:PORT"},
        ErrorCase{{"[::1]"}, "invalid listen address '[::1]': expected [IPv6]:PORT"},
        ErrorCase{{"[::1]80"}, "invalid listen address '[::1]80': expected [IPv6]:PORT"},
        ErrorCase{{"[::1:80"}, "invalid listen address '[::1:80': missing ']'"},
        ErrorCase{{"[127.0.0.1]:80"},
                  "invalid listen address '[127.0.0.1]:80': not a numeric IPv6 address"},
        ErrorCase{{"[fe80::1%eth0]:80"},
                  "invalid listen address '[fe80::1%eth0]:80': not a numeric IPv6 address"},
        ErrorCase{{"[]:80"}, "invalid listen address '[]:80': not a numeric IPv6 address"},
        ErrorCase{{"1.1.1.1:1,bad"},
                  "invalid listen address 'bad': expected IP:PORT or [IPv6]:PORT"},
        ErrorCase{{"1.1.1.1:1", " 2.2.2.2 :2"},
                  "invalid listen address '2.2.2.2 :2': not a numeric IPv4 address"}));

struct DedupeCase {
  std::string label;
  std::vector<std::string> in;  // parsed with parse_listen_list
  std::vector<std::string> out;
  friend void PrintTo(const DedupeCase& c, std::ostream* os) { *os << c.label; }
};
class DedupeTest : public testing::TestWithParam<DedupeCase> {};
TEST_P(DedupeTest, Dedupes) {
  const auto parsed = parse_listen_list(GetParam().in);
  ASSERT_TRUE(parsed.has_value()) << parsed.error();
  EXPECT_EQ(texts(dedupe_listen_addrs(*parsed)), GetParam().out);
}
INSTANTIATE_TEST_SUITE_P(
    Table, DedupeTest,
    testing::Values(
        DedupeCase{"defaults", {"0.0.0.0:39379,127.0.0.1:39379"}, {"0.0.0.0:39379"}},
        DedupeCase{"wildcard_after", {"127.0.0.1:80,10.0.0.1:80,0.0.0.0:80"}, {"0.0.0.0:80"}},
        DedupeCase{"other_port_kept", {"0.0.0.0:80,127.0.0.1:81"}, {"0.0.0.0:80", "127.0.0.1:81"}},
        DedupeCase{"v6_never_shadowed",
                   {"0.0.0.0:80,[::1]:80,[::]:80,[::ffff:127.0.0.1]:80"},
                   {"0.0.0.0:80", "[::1]:80", "[::]:80", "[::ffff:127.0.0.1]:80"}},
        DedupeCase{"v6_any_shadows_nothing",
                   {"[::]:80,[::1]:80,127.0.0.1:80"},
                   {"[::]:80", "[::1]:80", "127.0.0.1:80"}},
        DedupeCase{"duplicates_first_wins",
                   {"127.0.0.1:1,[::1]:2,127.0.0.1:1", "[::1]:2,0.0.0.0:3,0.0.0.0:3"},
                   {"127.0.0.1:1", "[::1]:2", "0.0.0.0:3"}},
        DedupeCase{"v6_spellings_are_duplicates", {"[::1]:80,[0:0::1]:80"}, {"[::1]:80"}},
        DedupeCase{
            "port_zero_never_shadowed", {"0.0.0.0:0,127.0.0.1:0"}, {"0.0.0.0:0", "127.0.0.1:0"}},
        DedupeCase{
            "port_zero_never_deduped", {"127.0.0.1:0,127.0.0.1:0"}, {"127.0.0.1:0", "127.0.0.1:0"}},
        DedupeCase{"wildcard_port_zero_shadows_nothing_on_other_ports",
                   {"0.0.0.0:0,127.0.0.1:80"},
                   {"0.0.0.0:0", "127.0.0.1:80"}},
        DedupeCase{"order_kept",
                   {"[::1]:9,10.0.0.1:8,0.0.0.0:7,127.0.0.1:7,10.0.0.1:8"},
                   {"[::1]:9", "10.0.0.1:8", "0.0.0.0:7"}},
        DedupeCase{"empty", {}, {}}),
    [](const testing::TestParamInfo<DedupeCase>& info) { return info.param.label; });

}  // namespace
}  // namespace cmux::net
