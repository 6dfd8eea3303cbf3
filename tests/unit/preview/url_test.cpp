// Minimal URL / authority parsing of the preview proxy (src/preview/url.hpp).
#include "preview/url.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

namespace cmux::preview {

void PrintTo(const Url& u, std::ostream* os) {
  *os << u.scheme << "://[" << u.host << "]:" << (u.port ? std::to_string(*u.port) : "-") << " "
      << u.path_and_query;
}
void PrintTo(const HostPort& h, std::ostream* os) {
  *os << "[" << h.host << "]:" << (h.port ? std::to_string(*h.port) : "-");
}

namespace {

struct UrlCase {
  std::string label;
  std::string input;
  std::optional<Url> expected;
  friend void PrintTo(const UrlCase& c, std::ostream* os) {
    *os << testing::PrintToString(c.input);
  }
};
class ParseUrlTest : public testing::TestWithParam<UrlCase> {};
TEST_P(ParseUrlTest, Parses) { EXPECT_EQ(parse_url(GetParam().input), GetParam().expected); }
std::string url_case_name(const testing::TestParamInfo<UrlCase>& info) { return info.param.label; }

Url url(std::string scheme, std::string host, std::optional<std::uint16_t> port, std::string path) {
  return Url{std::move(scheme), std::move(host), port, std::move(path)};
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseUrlTest,
    testing::Values(
        UrlCase{"plain", "http://example.com/a?b=c", url("http", "example.com", {}, "/a?b=c")},
        UrlCase{"port", "https://h:8443/x", url("https", "h", 8443, "/x")},
        UrlCase{"no_path", "http://h", url("http", "h", {}, "/")},
        UrlCase{"query_without_path", "http://h?x=1", url("http", "h", {}, "/?x=1")},
        UrlCase{"fragment_dropped", "http://h/p?q#frag", url("http", "h", {}, "/p?q")},
        UrlCase{"fragment_only", "http://h#frag", url("http", "h", {}, "/")},
        UrlCase{"uppercase_scheme_and_host", "HTTPS://Example.COM/Path",
                url("https", "example.com", {}, "/Path")},
        UrlCase{"trailing_dot_kept", "http://localhost.:3000/",
                url("http", "localhost.", 3000, "/")},
        UrlCase{"ipv6", "http://[::1]:5173/", url("http", "::1", 5173, "/")},
        UrlCase{"ipv6_uppercase", "http://[FE80::ABCD]/", url("http", "fe80::abcd", {}, "/")},
        UrlCase{"ipv6_mapped", "http://[::ffff:7f00:1]/", url("http", "::ffff:7f00:1", {}, "/")},
        UrlCase{"ipv6_no_port", "http://[::1]", url("http", "::1", {}, "/")},
        UrlCase{"userinfo_dropped", "http://user:pa:ss@h:81/", url("http", "h", 81, "/")},
        UrlCase{"userinfo_last_at", "http://a@b@h/", url("http", "h", {}, "/")},
        UrlCase{"at_in_path", "http://h/@evil", url("http", "h", {}, "/@evil")},
        UrlCase{"backslash_in_query", "http://h/?a=\\", url("http", "h", {}, "/?a=\\")},
        UrlCase{"port_zero", "http://h:0/", url("http", "h", 0, "/")},
        UrlCase{"port_max", "http://h:65535/", url("http", "h", 65535, "/")},
        UrlCase{"port_leading_zeros", "http://h:000080/", url("http", "h", 80, "/")},
        UrlCase{"port_empty", "http://h:/", url("http", "h", {}, "/")},
        UrlCase{"underscore_host", "http://my_host/", url("http", "my_host", {}, "/")},
        UrlCase{"ws_scheme", "wss://h/socket", url("wss", "h", {}, "/socket")},
        UrlCase{"custom_scheme", "git+ssh://h/", url("git+ssh", "h", {}, "/")},
        UrlCase{"surrounding_space", "  http://h/ \n", url("http", "h", {}, "/")},
        UrlCase{"dotted_ipv4_kept", "http://127.1:80/", url("http", "127.1", 80, "/")},
        UrlCase{"port_too_big", "http://h:65536/", std::nullopt},
        UrlCase{"port_overflow", "http://h:99999999999999999999/", std::nullopt},
        UrlCase{"port_sign", "http://h:+80/", std::nullopt},
        UrlCase{"port_letters", "http://h:8o/", std::nullopt}, UrlCase{"empty", "", std::nullopt},
        UrlCase{"no_scheme", "example.com/a", std::nullopt},
        UrlCase{"scheme_only", "http://", std::nullopt},
        UrlCase{"empty_host_with_port", "http://:80/", std::nullopt},
        UrlCase{"scheme_starts_with_digit", "1http://h/", std::nullopt},
        UrlCase{"opaque", "mailto:a@b", std::nullopt},
        UrlCase{"inner_space", "http://h/a b", std::nullopt},
        UrlCase{"inner_tab_in_host", "http://h\tx/", std::nullopt},
        UrlCase{"control_byte", "http://h/\x01x", std::nullopt},
        UrlCase{"trailing_control_trimmed", "http://h/\x01", url("http", "h", {}, "/")},
        UrlCase{"del_byte", "http://h/\x7Fx", std::nullopt},
        UrlCase{"backslash_authority", "http://evil.com\\@localhost/", std::nullopt},
        UrlCase{"percent_host", "http://h%2e/", std::nullopt},
        UrlCase{"non_ascii_host", "http://h\xC3\xA9/", std::nullopt},
        UrlCase{"bare_ipv6", "http://::1/", std::nullopt},
        UrlCase{"ipv6_unclosed", "http://[::1/", std::nullopt},
        UrlCase{"ipv6_invalid", "http://[::g]/", std::nullopt},
        UrlCase{"ipv6_zone", "http://[fe80::1%25eth0]/", std::nullopt},
        UrlCase{"ipv6_junk_after", "http://[::1]x/", std::nullopt},
        UrlCase{"ipv4_in_brackets", "http://[127.0.0.1]/", std::nullopt}),
    url_case_name);

struct AuthorityCase {
  std::string input;
  std::optional<HostPort> expected;
  friend void PrintTo(const AuthorityCase& c, std::ostream* os) {
    *os << testing::PrintToString(c.input);
  }
};
class ParseAuthorityTest : public testing::TestWithParam<AuthorityCase> {};
TEST_P(ParseAuthorityTest, Parses) {
  EXPECT_EQ(parse_authority(GetParam().input), GetParam().expected) << GetParam().input;
}
INSTANTIATE_TEST_SUITE_P(
    Table, ParseAuthorityTest,
    testing::Values(AuthorityCase{"h", HostPort{"h", {}}},
                    AuthorityCase{"H.Example:443", HostPort{"h.example", 443}},
                    AuthorityCase{"[::1]:1", HostPort{"::1", 1}},
                    AuthorityCase{"[0:0:0:0:0:0:0:1]", HostPort{"0:0:0:0:0:0:0:1", {}}},
                    AuthorityCase{"h:", HostPort{"h", {}}}, AuthorityCase{"", std::nullopt},
                    AuthorityCase{":80", std::nullopt}, AuthorityCase{"h:80:81", std::nullopt},
                    AuthorityCase{"u@h", std::nullopt}, AuthorityCase{"::1", std::nullopt},
                    AuthorityCase{"[::1", std::nullopt}, AuthorityCase{"[]:80", std::nullopt}));

TEST(Ipv6Literal, ParsesWithInetPton) {
  EXPECT_TRUE(parse_ipv6_literal("::1"));
  EXPECT_TRUE(parse_ipv6_literal("::ffff:127.0.0.1"));
  EXPECT_FALSE(parse_ipv6_literal("[::1]"));
  EXPECT_FALSE(parse_ipv6_literal("::1%lo"));
  EXPECT_FALSE(parse_ipv6_literal(std::string(100, ':')));
  EXPECT_FALSE(parse_ipv6_literal(""));
  // inet_pton would stop at the NUL and accept the prefix "::1".
  EXPECT_FALSE(parse_ipv6_literal(std::string("::1\0junk", 8)));
  EXPECT_FALSE(parse_authority(std::string("[0::00\0\0\0000::.0:1]:5173", 22)));
}

TEST(FormatHostPort, BracketsIpv6) {
  EXPECT_EQ(format_host_port("localhost", 80), "localhost:80");
  EXPECT_EQ(format_host_port("::1", 5173), "[::1]:5173");
  EXPECT_EQ(bracket_host("::ffff:7f00:1"), "[::ffff:7f00:1]");
  EXPECT_EQ(bracket_host("127.0.0.1"), "127.0.0.1");
}

}  // namespace
}  // namespace cmux::preview
