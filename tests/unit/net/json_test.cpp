// JSON string escaping shared by the log lines and the CLI output.
#include "net/json.hpp"

#include <gtest/gtest.h>

#include <string>

namespace cmux::net {
namespace {

struct EscapeCase {
  std::string label;
  std::string input;
  std::string expected;
};
class JsonEscapeTest : public testing::TestWithParam<EscapeCase> {};
TEST_P(JsonEscapeTest, Escapes) { EXPECT_EQ(json_escape(GetParam().input), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(
    Cases, JsonEscapeTest,
    testing::Values(EscapeCase{"empty", "", ""}, EscapeCase{"plain", "GET /a?b=c", "GET /a?b=c"},
                    EscapeCase{"quote", "a\"b", "a\\\"b"}, EscapeCase{"backslash", "a\\b", "a\\\\b"},
                    EscapeCase{"newline", "a\nb", "a\\nb"}, EscapeCase{"return", "a\rb", "a\\rb"},
                    EscapeCase{"tab", "a\tb", "a\\tb"},
                    EscapeCase{"nul", std::string("a\0b", 3), "a\\u0000b"},
                    EscapeCase{"other_controls", "\x01\x1f\x1b", "\\u0001\\u001f\\u001b"},
                    EscapeCase{"del_passes", "\x7f", "\x7f"},
                    EscapeCase{"utf8_passes", "caf\xc3\xa9", "caf\xc3\xa9"},
                    EscapeCase{"high_bytes_pass", "\x80\xff", "\x80\xff"}),
    [](const testing::TestParamInfo<EscapeCase>& info) { return info.param.label; });

}  // namespace
}  // namespace cmux::net
