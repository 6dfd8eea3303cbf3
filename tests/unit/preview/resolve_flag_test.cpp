// SPEC §5 `cmux-preview-proxy --resolve HOST:PORT:IP:PORT`.
#include "preview/resolve_flag.hpp"

#include <gtest/gtest.h>

#include <string>

namespace cmux::preview {
namespace {

struct Accepted {
  std::string label;
  std::string value;
  std::string key;
  std::string address;
};
class ResolveFlagAcceptedTest : public testing::TestWithParam<Accepted> {};
TEST_P(ResolveFlagAcceptedTest, Parses) {
  const auto parsed = parse_resolve_flag(GetParam().value);
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->first, GetParam().key);
  EXPECT_EQ(parsed->second, GetParam().address);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ResolveFlagAcceptedTest,
    testing::Values(
        Accepted{"name_to_ipv4", "example.com:443:127.0.0.1:8443", "example.com:443", "127.0.0.1:8443"},
        Accepted{"host_lower_cased", "Port-1-MorphVM-x.HTTP.cloud.morph.so:443:10.0.0.1:443",
                 "port-1-morphvm-x.http.cloud.morph.so:443", "10.0.0.1:443"},
        Accepted{"ipv6_address", "localhost:80:[::1]:8080", "localhost:80", "[::1]:8080"},
        Accepted{"ipv6_host", "[::1]:80:127.0.0.1:8080", "[::1]:80", "127.0.0.1:8080"},
        Accepted{"ipv6_both", "[2001:DB8::1]:443:[::1]:1", "[2001:db8::1]:443", "[::1]:1"},
        Accepted{"ipv4_host", "127.0.0.1:1:127.0.0.2:65535", "127.0.0.1:1", "127.0.0.2:65535"}),
    [](const testing::TestParamInfo<Accepted>& info) { return info.param.label; });

struct Rejected {
  std::string label;
  std::string value;
};
class ResolveFlagRejectedTest : public testing::TestWithParam<Rejected> {};
TEST_P(ResolveFlagRejectedTest, Rejects) {
  const auto parsed = parse_resolve_flag(GetParam().value);
  ASSERT_FALSE(parsed) << parsed->first << " -> " << parsed->second;
  EXPECT_NE(parsed.error().find(GetParam().value), std::string::npos) << parsed.error();
}

INSTANTIATE_TEST_SUITE_P(
    Table, ResolveFlagRejectedTest,
    testing::Values(Rejected{"empty", ""}, Rejected{"junk", "junk"},
                    Rejected{"host_only", "example.com"}, Rejected{"no_address", "example.com:443"},
                    Rejected{"no_address_port", "example.com:443:127.0.0.1"},
                    Rejected{"empty_host", ":443:127.0.0.1:80"},
                    Rejected{"empty_port", "example.com::127.0.0.1:80"},
                    Rejected{"empty_address", "example.com:443::80"},
                    Rejected{"empty_address_port", "example.com:443:127.0.0.1:"},
                    Rejected{"trailing_colon", "example.com:443:127.0.0.1:80:"},
                    Rejected{"extra_part", "example.com:443:127.0.0.1:80:1"},
                    Rejected{"host_port_zero", "example.com:0:127.0.0.1:80"},
                    Rejected{"address_port_zero", "example.com:443:127.0.0.1:0"},
                    Rejected{"port_65536", "example.com:65536:127.0.0.1:80"},
                    Rejected{"address_port_65536", "example.com:443:127.0.0.1:65536"},
                    Rejected{"port_not_number", "example.com:https:127.0.0.1:80"},
                    Rejected{"port_negative", "example.com:-1:127.0.0.1:80"},
                    Rejected{"address_is_name", "example.com:443:localhost:80"},
                    Rejected{"address_short_ipv4", "example.com:443:127.1:80"},
                    Rejected{"ipv6_unbracketed", "example.com:443:::1:80"},
                    Rejected{"ipv6_unclosed", "example.com:443:[::1:80"},
                    Rejected{"ipv6_invalid", "example.com:443:[::g]:80"},
                    Rejected{"ipv4_bracketed", "example.com:443:[127.0.0.1]:80"},
                    Rejected{"space_in_host", "exa mple.com:443:127.0.0.1:80"}),
    [](const testing::TestParamInfo<Rejected>& info) { return info.param.label; });

}  // namespace
}  // namespace cmux::preview
