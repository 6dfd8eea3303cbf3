// SPEC §3 "Target rewriting": loopback hosts and the requested port.
#include "preview/loopback.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

namespace cmux::preview {
namespace {

struct LoopbackCase {
  std::string host;
  bool loopback;
  friend void PrintTo(const LoopbackCase& c, std::ostream* os) {
    *os << testing::PrintToString(c.host);
  }
};
class LoopbackTest : public testing::TestWithParam<LoopbackCase> {};
TEST_P(LoopbackTest, Classifies) {
  EXPECT_EQ(is_loopback_host(GetParam().host), GetParam().loopback) << GetParam().host;
}

INSTANTIATE_TEST_SUITE_P(
    Names, LoopbackTest,
    testing::Values(LoopbackCase{"localhost", true}, LoopbackCase{"LOCALHOST", true},
                    LoopbackCase{"LocalHost.", true},  // trailing dot: same name
                    LoopbackCase{"app.localhost", true}, LoopbackCase{"a.b.LOCALHOST", true},
                    LoopbackCase{"a.localhost.", true}, LoopbackCase{".localhost", true},
                    LoopbackCase{"x.cmux.local", true}, LoopbackCase{"X.CMUX.LOCAL", true},
                    LoopbackCase{"a.b.manaflow.local", true},
                    LoopbackCase{"x.manaflow.local.", true},
                    LoopbackCase{"cmux.local", false},  // SPEC: *.cmux.local only
                    LoopbackCase{"manaflow.local", false}, LoopbackCase{"example.local", false},
                    LoopbackCase{"localhost.example.com", false},
                    LoopbackCase{"notlocalhost", false}, LoopbackCase{"xcmux.local", false},
                    LoopbackCase{"localhost..", false}, LoopbackCase{"", false},
                    LoopbackCase{".", false}, LoopbackCase{"example.com", false}));

INSTANTIATE_TEST_SUITE_P(
    Ipv4, LoopbackTest,
    testing::Values(LoopbackCase{"127.0.0.1", true}, LoopbackCase{"127.255.255.254", true},
                    LoopbackCase{"127.1.2.3", true}, LoopbackCase{"0.0.0.0", true},
                    LoopbackCase{"127.0.0.1.", true},
                    // Every spelling glibc's resolver takes (getaddrinfo -> inet_aton):
                    LoopbackCase{"127.1", true}, LoopbackCase{"127.0.1", true},
                    LoopbackCase{"0x7f.0.0.1", true}, LoopbackCase{"0X7F.1", true},
                    LoopbackCase{"0177.0.0.1", true}, LoopbackCase{"2130706433", true},
                    LoopbackCase{"0", true}, LoopbackCase{"10.0.0.1", false},
                    LoopbackCase{"128.0.0.1", false}, LoopbackCase{"1.127.0.0", false},
                    LoopbackCase{"126.255.255.255", false}, LoopbackCase{"0.0.0.1", false},
                    LoopbackCase{"127.0.0.256", false}, LoopbackCase{"127.0.0.1.1", false},
                    LoopbackCase{"127..1", false}, LoopbackCase{"127.0.0.1 x", false},
                    LoopbackCase{"127.0.0.1x", false}, LoopbackCase{"4294967296", false},
                    LoopbackCase{"deadbeef", false}));

INSTANTIATE_TEST_SUITE_P(
    Ipv6, LoopbackTest,
    testing::Values(LoopbackCase{"::1", true}, LoopbackCase{"[::1]", true},
                    LoopbackCase{"0:0:0:0:0:0:0:1", true},
                    LoopbackCase{"[0000:0000:0000:0000:0000:0000:0000:0001]", true},
                    LoopbackCase{"::ffff:127.0.0.1", true}, LoopbackCase{"[::ffff:7f00:1]", true},
                    LoopbackCase{"::FFFF:7F01:203", true}, LoopbackCase{"::ffff:127.255.0.9", true},
                    LoopbackCase{"::", true}, LoopbackCase{"[::]", true},
                    LoopbackCase{"::ffff:0.0.0.0", true}, LoopbackCase{"::1%lo", true},
                    LoopbackCase{"[::1%25lo]", true},  // any zone is ignored: errs to loopback
                    LoopbackCase{"::ffff:10.0.0.1", false}, LoopbackCase{"::ffff:7e00:1", false},
                    LoopbackCase{"::127.0.0.1", false},  // IPv4-compatible (deprecated)
                    LoopbackCase{"::2", false}, LoopbackCase{"fe80::1", false},
                    LoopbackCase{"1::1", false}, LoopbackCase{"[::1", false},
                    LoopbackCase{"::1]", false}, LoopbackCase{"[127.0.0.1]", false},
                    LoopbackCase{"[]", false}, LoopbackCase{":::1", false},
                    LoopbackCase{std::string("::1\0x", 5), false},
                    LoopbackCase{std::string("127.0.0.1\0", 10), false}));

struct PortCase {
  std::string scheme;
  std::optional<std::uint16_t> port;
  std::uint16_t expected;
  friend void PrintTo(const PortCase& c, std::ostream* os) {
    *os << c.scheme << (c.port ? ":" + std::to_string(*c.port) : "");
  }
};
class RequestedPortTest : public testing::TestWithParam<PortCase> {};
TEST_P(RequestedPortTest, Defaults) {
  EXPECT_EQ(requested_port(GetParam().scheme, GetParam().port), GetParam().expected);
}
INSTANTIATE_TEST_SUITE_P(
    Table, RequestedPortTest,
    testing::Values(PortCase{"http", std::nullopt, 80}, PortCase{"https", std::nullopt, 443},
                    PortCase{"ws", std::nullopt, 80}, PortCase{"wss", std::nullopt, 443},
                    PortCase{"HTTPS", std::nullopt, 443}, PortCase{"WsS", std::nullopt, 443},
                    PortCase{"", std::nullopt, 80}, PortCase{"ftp", std::nullopt, 80},
                    PortCase{"https", 80, 80}, PortCase{"http", 5173, 5173},
                    PortCase{"http", 65535, 65535}, PortCase{"https", 0, 0}));

}  // namespace
}  // namespace cmux::preview
