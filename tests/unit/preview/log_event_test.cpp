// SPEC §3 "Logging": event serialisation and the logging environment variables.
#include "preview/log_event.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <optional>
#include <string>

namespace cmux::preview {
namespace {

TEST(LogEventToJson, EventOnly) { EXPECT_EQ(to_json(LogEvent{"listening", {}}), R"({"event":"listening"})"); }

TEST(LogEventToJson, TypedFieldsInOrder) {
  const LogEvent event{"http-request",
                       {{"method", std::string("GET")},
                        {"port", std::int64_t{8080}},
                        {"mitm", true},
                        {"h2", false},
                        {"delta", std::int64_t{-3}},
                        {"a", std::string("first-added-last-key")}}};
  EXPECT_EQ(to_json(event),
            R"({"event":"http-request","method":"GET","port":8080,"mitm":true,"h2":false,"delta":-3,)"
            R"("a":"first-added-last-key"})");
}

TEST(LogEventToJson, IntegerLimits) {
  const LogEvent event{"e",
                       {{"min", std::numeric_limits<std::int64_t>::min()},
                        {"max", std::numeric_limits<std::int64_t>::max()}}};
  EXPECT_EQ(to_json(event), R"({"event":"e","min":-9223372036854775808,"max":9223372036854775807})");
}

TEST(LogEventToJson, EscapesNamesKeysAndValues) {
  const LogEvent event{"ev\"il", {{"k\\ey", std::string("line\nbreak \"quoted\"\t\x01")}}};
  EXPECT_EQ(to_json(event), R"({"event":"ev\"il","k\\ey":"line\nbreak \"quoted\"\t\u0001"})");
}

struct FlagCase {
  const char* value;  // nullptr = unset
  std::optional<bool> expected;
};
class LogEventEnvFlagTest : public testing::TestWithParam<FlagCase> {};
TEST_P(LogEventEnvFlagTest, Parses) { EXPECT_EQ(env_flag(GetParam().value), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(
    Table, LogEventEnvFlagTest,
    testing::Values(FlagCase{nullptr, std::nullopt}, FlagCase{"", true}, FlagCase{"  ", true},
                    FlagCase{"1", true}, FlagCase{"true", true}, FlagCase{"TRUE", true},
                    FlagCase{"yes", true}, FlagCase{"Yes", true}, FlagCase{"on", true},
                    FlagCase{"ON", true}, FlagCase{" on\t", true}, FlagCase{"0", false},
                    FlagCase{"false", false}, FlagCase{"False", false}, FlagCase{"no", false},
                    FlagCase{"NO", false}, FlagCase{"off", false}, FlagCase{"Off ", false},
                    FlagCase{"maybe", std::nullopt}, FlagCase{"2", std::nullopt},
                    FlagCase{"onn", std::nullopt}, FlagCase{"o n", std::nullopt}));

}  // namespace
}  // namespace cmux::preview
