// SPEC §3 "Contexts and authentication": Proxy-Authorization: Basic.
#include "preview/basic_auth.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

namespace cmux::preview {

void PrintTo(const Credentials& c, std::ostream* os) {
  *os << testing::PrintToString(c.username) << ":" << testing::PrintToString(c.password);
}

namespace {

struct AuthCase {
  std::string label;
  std::string value;
  std::optional<Credentials> expected;
  friend void PrintTo(const AuthCase& c, std::ostream* os) {
    *os << testing::PrintToString(c.value);
  }
};
class ParseBasicAuthTest : public testing::TestWithParam<AuthCase> {};
TEST_P(ParseBasicAuthTest, Parses) {
  EXPECT_EQ(parse_basic_auth(GetParam().value), GetParam().expected);
}
std::string case_name(const testing::TestParamInfo<AuthCase>& info) { return info.param.label; }

Credentials creds(std::string user, std::string password) {
  return Credentials{std::move(user), std::move(password)};
}

// base64("user:pass") = dXNlcjpwYXNz, base64("wc-1-0a1b2c3d:0123456789abcdef01234567") below.
INSTANTIATE_TEST_SUITE_P(
    Accepted, ParseBasicAuthTest,
    testing::Values(
        AuthCase{"plain", "Basic dXNlcjpwYXNz", creds("user", "pass")},
        AuthCase{"real_credentials", "Basic d2MtMS0wYTFiMmMzZDowMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc=",
                 creds("wc-1-0a1b2c3d", "0123456789abcdef01234567")},
        AuthCase{"scheme_lower", "basic dXNlcjpwYXNz", creds("user", "pass")},
        AuthCase{"scheme_upper", "BASIC dXNlcjpwYXNz", creds("user", "pass")},
        AuthCase{"surrounding_spaces", " \t Basic dXNlcjpwYXNz \t", creds("user", "pass")},
        AuthCase{"several_spaces_after_scheme", "Basic  \t dXNlcjpwYXNz", creds("user", "pass")},
        AuthCase{"tab_after_scheme", "Basic\tdXNlcjpwYXNz", creds("user", "pass")},
        AuthCase{"one_pad", "Basic dTpwYXM=", creds("u", "pas")},
        AuthCase{"two_pads", "Basic dTpwYQ==", creds("u", "pa")},
        AuthCase{"missing_one_pad", "Basic dTpwYXM", creds("u", "pas")},
        AuthCase{"missing_two_pads", "Basic dTpwYQ", creds("u", "pa")},
        AuthCase{"password_with_colons", "Basic dTphOmI6Yw==", creds("u", "a:b:c")},
        AuthCase{"empty_user", "Basic OnBhc3M=", creds("", "pass")},
        AuthCase{"empty_password", "Basic dXNlcjo=", creds("user", "")},
        AuthCase{"colon_only", "Basic Og==", creds("", "")},
        AuthCase{"binary_bytes",
                 "Basic /wA6AP8=", creds(std::string("\xFF\x00", 2), std::string("\x00\xFF", 2))},
        AuthCase{"plus_and_slash", "Basic Pj4+Oj8/Pw==", creds(">>>", "???")}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    Rejected, ParseBasicAuthTest,
    testing::Values(AuthCase{"empty", "", std::nullopt}, AuthCase{"blank", "   ", std::nullopt},
                    AuthCase{"scheme_only", "Basic", std::nullopt},
                    AuthCase{"scheme_and_space", "Basic   ", std::nullopt},
                    AuthCase{"no_space", "BasicdXNlcjpwYXNz", std::nullopt},
                    AuthCase{"other_scheme", "Bearer dXNlcjpwYXNz", std::nullopt},
                    AuthCase{"scheme_prefix", "Basics dXNlcjpwYXNz", std::nullopt},
                    AuthCase{"no_colon", "Basic dXNlcg==", std::nullopt},
                    AuthCase{"raw_credentials", "Basic user:pass", std::nullopt},
                    AuthCase{"inner_space", "Basic dXNl cjpwYXNz", std::nullopt},
                    AuthCase{"second_token", "Basic dXNlcjpwYXNz extra", std::nullopt},
                    AuthCase{"auth_param", "Basic dXNlcjpwYXNz, realm=x", std::nullopt},
                    AuthCase{"url_safe_alphabet", "Basic Pj4-Oj8_Pw==", std::nullopt},
                    AuthCase{"invalid_char", "Basic dXNlcjpwYXNz!", std::nullopt},
                    AuthCase{"newline", "Basic dXNlcjpw\nYXNz", std::nullopt},
                    AuthCase{"length_4n_plus_1", "Basic dXNlcjpwYXNzZ", std::nullopt},
                    AuthCase{"pad_in_middle", "Basic dQ==OnBh", std::nullopt},
                    AuthCase{"pad_then_data", "Basic dTpwYQ=a", std::nullopt},
                    AuthCase{"leading_pad", "Basic =dTpwYQ=", std::nullopt},
                    AuthCase{"three_pads", "Basic dTp===", std::nullopt},
                    AuthCase{"too_much_padding", "Basic dTpwYQ====", std::nullopt},
                    AuthCase{"pads_only", "Basic ====", std::nullopt},
                    AuthCase{"partial_padding", "Basic dTpwYQ=", std::nullopt},
                    AuthCase{"nonzero_pad_bits", "Basic dTpwYR==", std::nullopt},
                    AuthCase{"nonzero_pad_bits_unpadded", "Basic dTpwYR", std::nullopt},
                    AuthCase{"too_long", "Basic " + std::string(1028, 'A'), std::nullopt}),
    case_name);

TEST(ParseBasicAuth, LongestAcceptedToken) {
  // 1024 base64 characters (768 bytes) are the limit.
  const std::string token = "dTp" + std::string(1021, 'A');
  const auto parsed = parse_basic_auth("Basic " + token);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->username, "u");
  EXPECT_EQ(parsed->password.size(), 766u);
}

TEST(ConstantTimeEquals, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_TRUE(constant_time_equals("abc", "abc"));
  EXPECT_TRUE(constant_time_equals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(constant_time_equals("abc", "abd"));
  EXPECT_FALSE(constant_time_equals("abc", "ab"));
  EXPECT_FALSE(constant_time_equals("", "a"));
  EXPECT_FALSE(constant_time_equals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace cmux::preview
