// SPEC §2 "Workspace IP": workspace name -> 127.18.x.y.
#include "workspace/workspace_ip.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace cmux::workspace {
namespace {

using Ip = std::array<std::uint8_t, 4>;

// Independent FNV-1a-32 reference, written from the published algorithm (not the code under
// test): fold ASCII to lower case, xor the byte, multiply by the prime mod 2^32.
constexpr std::uint32_t reference_fnv1a32(std::string_view s) {
  std::uint64_t h = 2166136261u;  // 0x811C9DC5
  for (unsigned char c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c + 32);
    h = ((h ^ c) * 16777619u) & 0xFFFFFFFFu;  // prime 0x01000193
  }
  return static_cast<std::uint32_t>(h);
}
// Published FNV-1a-32 test vectors pin the reference itself.
static_assert(reference_fnv1a32("") == 0x811C9DC5u);
static_assert(reference_fnv1a32("a") == 0xE40C292Cu);
static_assert(reference_fnv1a32("foobar") == 0xBF9CF968u);

constexpr Ip ip_of_hash(std::uint32_t hash) {
  return Ip{127, 18, static_cast<std::uint8_t>((hash >> 8) & 0xFF),
            static_cast<std::uint8_t>(hash & 0xFF)};
}

struct Case {
  std::string name;
  std::optional<Ip> expected;
  friend void PrintTo(const Case& c, std::ostream* os) { *os << testing::PrintToString(c.name); }
};

class WorkspaceIpTest : public testing::TestWithParam<Case> {};

TEST_P(WorkspaceIpTest, MapsNameToIp) {
  EXPECT_EQ(workspace_ip(GetParam().name), GetParam().expected) << "name: " << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    TrailingNumber, WorkspaceIpTest,
    testing::Values(Case{"workspace-1", Ip{127, 18, 0, 1}},    // SPEC example
                    Case{"workspace-258", Ip{127, 18, 1, 2}},  // SPEC example
                    Case{"workspace-0", Ip{127, 18, 0, 0}},
                    Case{"workspace-255", Ip{127, 18, 0, 255}},
                    Case{"workspace-256", Ip{127, 18, 1, 0}},
                    Case{"workspace-65535", Ip{127, 18, 255, 255}},
                    Case{"workspace-65536", Ip{127, 18, 0, 0}},  // masked to 16 bits
                    Case{"workspace-65794", Ip{127, 18, 1, 2}},  // 0x10102
                    Case{"7", Ip{127, 18, 0, 7}},                // all digits
                    Case{"WORKSPACE-7", Ip{127, 18, 0, 7}},
                    Case{"abc123", Ip{127, 18, 0, 123}},  // no dash needed
                    Case{"workspace-007", Ip{127, 18, 0, 7}},
                    Case{"1-2-3", Ip{127, 18, 0, 3}},  // only the trailing run counts
                    Case{"workspace-4294967295", Ip{127, 18, 255, 255}},  // UINT32_MAX
                    Case{"workspace-000000000000004294967295", Ip{127, 18, 255, 255}},
                    Case{"workspace-4294967296", std::nullopt},  // UINT32_MAX + 1
                    Case{"workspace-99999999999", std::nullopt},
                    Case{"workspace-18446744073709551617", std::nullopt}));  // 2^64 + 1

INSTANTIATE_TEST_SUITE_P(PathComponents, WorkspaceIpTest,
                         testing::Values(Case{"a/b/workspace-7", Ip{127, 18, 0, 7}},
                                         Case{"/workspaces/workspace-258", Ip{127, 18, 1, 2}},
                                         Case{"workspace-9/main",
                                              ip_of_hash(reference_fnv1a32("main"))},
                                         Case{"7/x", ip_of_hash(reference_fnv1a32("x"))},
                                         Case{"a/b/", std::nullopt},  // empty last component
                                         Case{"/", std::nullopt}, Case{"", std::nullopt}));

// Hand-computed constants as well as the reference, so a shared mistake cannot hide.
INSTANTIATE_TEST_SUITE_P(
    Fnv, WorkspaceIpTest,
    testing::Values(Case{"workspace", Ip{127, 18, 117, 182}},    // 0x2F2D75B6
                    Case{"main", Ip{127, 18, 226, 8}},           // 0xEA90E208
                    Case{"a", Ip{127, 18, 41, 44}},              // 0xE40C292C
                    Case{"my-project", Ip{127, 18, 106, 11}},    // 0xA0776A0B
                    Case{"Workspace-ABC", Ip{127, 18, 38, 95}},  // hashed lower-case
                    Case{"WORKSPACE-abc", Ip{127, 18, 38, 95}},
                    Case{"dev.box", Ip{127, 18, 110, 35}},
                    Case{"x-", Ip{127, 18, 251, 158}},  // dash without digits
                    Case{"team/dev.box", Ip{127, 18, 110, 35}},
                    Case{"caf\xC3\xA9", Ip{127, 18, 80, 73}},  // UTF-8 bytes hashed as is
                    Case{"CAF\xC3\xA9", Ip{127, 18, 80, 73}},
                    Case{"my project", ip_of_hash(reference_fnv1a32("my project"))},
                    Case{"x-1a", ip_of_hash(reference_fnv1a32("x-1a"))}));

TEST(WorkspaceIp, FoldsOnlyAsciiLetters) {
  // U+00C9 (É) and U+00E9 (é) differ: no locale-dependent folding.
  EXPECT_NE(workspace_ip("caf\xC3\x89"), workspace_ip("caf\xC3\xA9"));
}

TEST(WorkspaceIp, AgreesWithReferenceOnManyNames) {
  for (int i = 0; i < 500; ++i) {
    const std::string name = "ws-" + std::to_string(i) + "x";
    EXPECT_EQ(workspace_ip(name), ip_of_hash(reference_fnv1a32(name))) << name;
  }
}

}  // namespace
}  // namespace cmux::workspace
