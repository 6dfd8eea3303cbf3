// SPEC §3 "Contexts and authentication": credential formats.
#include "preview/credentials.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

namespace cmux::preview {
namespace {

TEST(MakeUsername, Format) {
  const std::regex format("wc-42-[0-9a-f]{8}");
  for (int i = 0; i < 20; ++i) {
    const auto username = make_username(42);
    ASSERT_TRUE(username);
    EXPECT_TRUE(std::regex_match(*username, format)) << *username;
  }
}

TEST(MakeUsername, CarriesTheWholeId) {
  const auto zero = make_username(0);
  const auto max = make_username(18446744073709551615ull);
  ASSERT_TRUE(zero && max);
  EXPECT_TRUE(std::regex_match(*zero, std::regex("wc-0-[0-9a-f]{8}")));
  EXPECT_TRUE(std::regex_match(*max, std::regex("wc-18446744073709551615-[0-9a-f]{8}")));
}

TEST(MakePassword, Format) {
  const std::regex format("[0-9a-f]{24}");
  for (int i = 0; i < 20; ++i) {
    const auto password = make_password();
    ASSERT_TRUE(password);
    EXPECT_TRUE(std::regex_match(*password, format)) << *password;
  }
}

TEST(Credentials, CallsDiffer) {
  // 96 and 32 random bits: a repeat in 100 draws means a broken generator, not bad luck
  // (for the username the chance is about 1e-6).
  std::set<std::string> passwords;
  std::set<std::string> usernames;
  for (int i = 0; i < 100; ++i) {
    passwords.insert(*make_password());
    usernames.insert(*make_username(7));
  }
  EXPECT_EQ(passwords.size(), 100u);
  EXPECT_EQ(usernames.size(), 100u);
}

}  // namespace
}  // namespace cmux::preview
