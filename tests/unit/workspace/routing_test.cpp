// SPEC §2 "Routing": port, upstream host and Host rules of cmux-proxy.
#include "workspace/routing.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

namespace cmux::workspace {
namespace {

// route()'s result flattened so one table can hold successes and errors.
struct Outcome {
  int status = 0;  // 0 = routed
  std::string message;
  std::string host;
  std::uint16_t port = 0;
  std::string authority;
  friend bool operator==(const Outcome&, const Outcome&) = default;
  friend void PrintTo(const Outcome& o, std::ostream* os) {
    if (o.status != 0) {
      *os << o.status << " \"" << o.message << "\"";
    } else {
      *os << "-> " << o.host << ":" << o.port << " Host: \"" << o.authority << "\"";
    }
  }
};

Outcome routed(std::string host, std::uint16_t port, std::string authority) {
  return Outcome{0, "", std::move(host), port, std::move(authority)};
}
Outcome rejected(int status, std::string message) {
  return Outcome{status, std::move(message), "", 0, ""};
}

Outcome outcome_of(const std::expected<Target, RouteError>& result) {
  if (!result) return rejected(result.error().status, result.error().message);
  return routed(result->host, result->port, result->authority);
}

const RouteConfig kDefaults{};
const RouteConfig kNoDefaultUpstream{.allow_default_upstream = false};
const RouteConfig kRequireLocal{.require_local_host = true};
const RouteConfig kV6Upstream{.default_upstream_host = "::1"};

struct RouteCase {
  std::string label;
  std::string authority;
  http::Fields fields;
  Outcome expected;
  RouteConfig config = kDefaults;
  std::string method = "GET";
  std::string upgrade = "";
  friend void PrintTo(const RouteCase& c, std::ostream* os) { *os << c.label; }
};

class RouteTest : public testing::TestWithParam<RouteCase> {};

TEST_P(RouteTest, Routes) {
  const RouteCase& c = GetParam();
  http::RequestHead req;
  req.method = c.method;
  req.authority = c.authority;
  req.upgrade = c.upgrade;
  req.fields = c.fields;
  EXPECT_EQ(outcome_of(route(req, c.config)), c.expected);
}

std::string case_name(const testing::TestParamInfo<RouteCase>& info) { return info.param.label; }

const std::string kPort = "x-cmux-port-internal";
const std::string kWorkspace = "x-cmux-workspace-internal";
const std::string kOverride = "x-cmux-host-override";
const std::string kMissingPort = "missing required header: X-Cmux-Port-Internal";
const std::string kEmpty = "header value cannot be empty";
const std::string kBadPort = "invalid port in X-Cmux-Port-Internal";

INSTANTIATE_TEST_SUITE_P(
    Port, RouteTest,
    testing::Values(
        RouteCase{"header",
                  "localhost:39379",
                  {{kPort, "5173"}},
                  routed("127.0.0.1", 5173, "localhost:39379")},
        RouteCase{"header_trimmed", "h", {{kPort, " \t5173 \t"}}, routed("127.0.0.1", 5173, "h")},
        RouteCase{"min", "h", {{kPort, "1"}}, routed("127.0.0.1", 1, "h")},
        RouteCase{"max", "h", {{kPort, "65535"}}, routed("127.0.0.1", 65535, "h")},
        RouteCase{"leading_zeros", "h", {{kPort, "00080"}}, routed("127.0.0.1", 80, "h")},
        RouteCase{"zero", "h", {{kPort, "0"}}, rejected(400, kBadPort)},
        RouteCase{"too_big", "h", {{kPort, "65536"}}, rejected(400, kBadPort)},
        RouteCase{"overflow", "h", {{kPort, "99999999999999999999999"}}, rejected(400, kBadPort)},
        RouteCase{"negative", "h", {{kPort, "-1"}}, rejected(400, kBadPort)},
        RouteCase{"plus_sign", "h", {{kPort, "+80"}}, rejected(400, kBadPort)},
        RouteCase{"suffix", "h", {{kPort, "80a"}}, rejected(400, kBadPort)},
        RouteCase{"inner_space", "h", {{kPort, "8 0"}}, rejected(400, kBadPort)},
        RouteCase{"hex", "h", {{kPort, "0x50"}}, rejected(400, kBadPort)},
        RouteCase{"list", "h", {{kPort, "80, 81"}}, rejected(400, kBadPort)},
        RouteCase{"fullwidth_digits",
                  "h",
                  {{kPort, "\xEF\xBC\x98\xEF\xBC\x90"}},
                  rejected(400, kBadPort)},
        RouteCase{"empty", "h", {{kPort, ""}}, rejected(400, kEmpty)},
        RouteCase{"blank", "h", {{kPort, " \t "}}, rejected(400, kEmpty)},
        RouteCase{"empty_does_not_fall_back_to_pattern",
                  "ws-1-5173.localhost",
                  {{kPort, ""}},
                  rejected(400, kEmpty)},
        RouteCase{"invalid_does_not_fall_back_to_pattern",
                  "ws-1-5173.localhost",
                  {{kPort, "x"}},
                  rejected(400, kBadPort)},
        RouteCase{"not_utf8",
                  "h",
                  {{kPort, "\xFF"}},
                  rejected(400, "invalid header value (not UTF-8): X-Cmux-Port-Internal")},
        RouteCase{"overlong_utf8",
                  "h",
                  {{kPort, "\xC0\xB5"}},
                  rejected(400, "invalid header value (not UTF-8): X-Cmux-Port-Internal")},
        RouteCase{"surrogate_utf8",
                  "h",
                  {{kPort, "\xED\xA0\x80"}},
                  rejected(400, "invalid header value (not UTF-8): X-Cmux-Port-Internal")},
        RouteCase{"control_char",
                  "h",
                  {{kPort, "80\x01"}},
                  rejected(400, "invalid header value (not UTF-8): X-Cmux-Port-Internal")},
        RouteCase{"duplicate",
                  "h",
                  {{kPort, "80"}, {kPort, "80"}},
                  rejected(400, "duplicate header: X-Cmux-Port-Internal")},
        RouteCase{"from_host_pattern",
                  "workspace-1-5173.localhost:39379",
                  {},
                  routed("127.0.0.1", 5173, "workspace-1-5173.localhost:39379")},
        RouteCase{"header_beats_pattern",
                  "ws-5173.localhost",
                  {{kPort, "3000"}},
                  routed("127.0.0.1", 3000, "ws-5173.localhost")},
        RouteCase{"missing", "localhost:39379", {}, rejected(400, kMissingPort)},
        RouteCase{"missing_no_host", "", {}, rejected(400, kMissingPort)},
        RouteCase{
            "pattern_port_zero_is_no_pattern", "ws-0.localhost", {}, rejected(400, kMissingPort)},
        RouteCase{"connection_cannot_hide_routing",
                  "h",
                  {{"connection", "X-Cmux-Port-Internal, x-cmux-workspace-internal"},
                   {kPort, "5173"},
                   {kWorkspace, "workspace-2"}},
                  routed("127.18.0.2", 5173, "h")}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    UpstreamHost, RouteTest,
    testing::Values(
        RouteCase{"workspace_header",
                  "h",
                  {{kPort, "80"}, {kWorkspace, "workspace-258"}},
                  routed("127.18.1.2", 80, "h")},
        RouteCase{"workspace_header_trimmed_path",
                  "h",
                  {{kPort, "80"}, {kWorkspace, " a/b/workspace-7\t"}},
                  routed("127.18.0.7", 80, "h")},
        RouteCase{"workspace_header_fnv",
                  "h",
                  {{kPort, "80"}, {kWorkspace, "Main"}},
                  routed("127.18.226.8", 80, "h")},
        RouteCase{"workspace_header_utf8_name",
                  "h",
                  {{kPort, "80"}, {kWorkspace, "caf\xC3\xA9"}},
                  routed("127.18.80.73", 80, "h")},
        RouteCase{"workspace_empty", "h", {{kPort, "80"}, {kWorkspace, ""}}, rejected(400, kEmpty)},
        RouteCase{
            "workspace_blank", "h", {{kPort, "80"}, {kWorkspace, "  "}}, rejected(400, kEmpty)},
        RouteCase{"workspace_overflow",
                  "h",
                  {{kPort, "80"}, {kWorkspace, " workspace-4294967296 "}},
                  rejected(400, "invalid workspace name: workspace-4294967296")},
        RouteCase{"workspace_empty_component",
                  "h",
                  {{kPort, "80"}, {kWorkspace, "a/b/"}},
                  rejected(400, "invalid workspace name: a/b/")},
        RouteCase{"workspace_not_utf8",
                  "h",
                  {{kPort, "80"}, {kWorkspace, "ws-\xC3"}},
                  rejected(400, "invalid header value (not UTF-8): X-Cmux-Workspace-Internal")},
        RouteCase{"workspace_duplicate",
                  "h",
                  {{kPort, "80"}, {kWorkspace, "workspace-1"}, {kWorkspace, "workspace-2"}},
                  rejected(400, "duplicate header: X-Cmux-Workspace-Internal")},
        RouteCase{
            "port_error_first", "h", {{kPort, "x"}, {kWorkspace, ""}}, rejected(400, kBadPort)},
        RouteCase{"default_ignores_pattern_workspace",
                  "workspace-3-5173.localhost",
                  {},
                  routed("127.0.0.1", 5173, "workspace-3-5173.localhost")},
        RouteCase{"pattern_workspace",
                  "workspace-3-5173.localhost",
                  {},
                  routed("127.18.0.3", 5173, "workspace-3-5173.localhost"),
                  kNoDefaultUpstream},
        RouteCase{"pattern_workspace_with_port_header",
                  "workspace-3-5173.localhost:39379",
                  {{kPort, "8080"}},
                  routed("127.18.0.3", 8080, "workspace-3-5173.localhost:39379"),
                  kNoDefaultUpstream},
        RouteCase{"pattern_workspace_fnv_case_insensitive",
                  "MAIN-8080.LOCALHOST",
                  {},
                  routed("127.18.226.8", 8080, "MAIN-8080.LOCALHOST"),
                  kNoDefaultUpstream},
        RouteCase{"pattern_workspace_unmappable",
                  "workspace-99999999999-5173.localhost",
                  {},
                  rejected(400, "invalid workspace name: workspace-99999999999"),
                  kNoDefaultUpstream},
        RouteCase{"header_beats_pattern_workspace",
                  "workspace-3-5173.localhost",
                  {{kWorkspace, "workspace-4"}},
                  routed("127.18.0.4", 5173, "workspace-3-5173.localhost"),
                  kNoDefaultUpstream},
        RouteCase{"no_pattern_uses_default",
                  "localhost",
                  {{kPort, "80"}},
                  routed("127.0.0.1", 80, "localhost"),
                  kNoDefaultUpstream},
        RouteCase{
            "ipv6_default_upstream", "h", {{kPort, "80"}}, routed("::1", 80, "h"), kV6Upstream}),
    case_name);

const std::string kBadOverride = "invalid header value (not visible ASCII): X-Cmux-Host-Override";
const std::string kBadHost = "invalid Host header (not UTF-8)";
const std::string kNeedsOverride = "Host header requires X-Cmux-Host-Override";

INSTANTIATE_TEST_SUITE_P(
    Host, RouteTest,
    testing::Values(
        RouteCase{"forwarded_unchanged",
                  "Example.COM:8443",
                  {{kPort, "80"}},
                  routed("127.0.0.1", 80, "Example.COM:8443")},
        RouteCase{"empty_host_allowed", "", {{kPort, "80"}}, routed("127.0.0.1", 80, "")},
        RouteCase{"override",
                  "h",
                  {{kPort, "80"}, {kOverride, "localhost:3006"}},
                  routed("127.0.0.1", 80, "localhost:3006")},
        RouteCase{"override_trimmed",
                  "h",
                  {{kPort, "80"}, {kOverride, " \tlocalhost:3006 "}},
                  routed("127.0.0.1", 80, "localhost:3006")},
        RouteCase{"override_empty_is_absent",
                  "h",
                  {{kPort, "80"}, {kOverride, ""}},
                  routed("127.0.0.1", 80, "h")},
        RouteCase{"override_blank_is_absent",
                  "h",
                  {{kPort, "80"}, {kOverride, "  "}},
                  routed("127.0.0.1", 80, "h")},
        RouteCase{"override_inner_space",
                  "h",
                  {{kPort, "80"}, {kOverride, "a b"}},
                  rejected(400, kBadOverride)},
        RouteCase{"override_non_ascii",
                  "h",
                  {{kPort, "80"}, {kOverride, "h\xC3\xA9"}},
                  rejected(400, kBadOverride)},
        RouteCase{"override_not_utf8",
                  "h",
                  {{kPort, "80"}, {kOverride, "h\xFF"}},
                  rejected(400, "invalid header value (not UTF-8): X-Cmux-Host-Override")},
        RouteCase{"override_duplicate",
                  "h",
                  {{kPort, "80"}, {kOverride, "a"}, {kOverride, "a"}},
                  rejected(400, "duplicate header: X-Cmux-Host-Override")},
        RouteCase{"override_replaces_invalid_host",
                  "h\xC3\xA9",
                  {{kPort, "80"}, {kOverride, "a"}},
                  routed("127.0.0.1", 80, "a")},
        RouteCase{"host_non_ascii", "ex\xC3\xA4mple.com", {{kPort, "80"}}, rejected(400, kBadHost)},
        RouteCase{"host_not_utf8", "ex\xFF", {{kPort, "80"}}, rejected(400, kBadHost)},
        RouteCase{"host_space", "a b", {{kPort, "80"}}, rejected(400, kBadHost)},
        RouteCase{"host_control", "a\x7F", {{kPort, "80"}}, rejected(400, kBadHost)},
        RouteCase{"port_error_before_host_error", "a b", {{kPort, "x"}}, rejected(400, kBadPort)},
        RouteCase{"require_local_rejects_remote",
                  "example.com",
                  {{kPort, "80"}},
                  rejected(502, kNeedsOverride),
                  kRequireLocal},
        RouteCase{"require_local_rejects_trailing_dot",
                  "localhost.",
                  {{kPort, "80"}},
                  rejected(502, kNeedsOverride),
                  kRequireLocal},
        RouteCase{"require_local_empty_override_is_absent",
                  "example.com",
                  {{kPort, "80"}, {kOverride, " "}},
                  rejected(502, kNeedsOverride),
                  kRequireLocal},
        RouteCase{"require_local_with_override",
                  "example.com",
                  {{kPort, "80"}, {kOverride, "localhost:5173"}},
                  routed("127.0.0.1", 80, "localhost:5173"),
                  kRequireLocal},
        RouteCase{"require_local_override_need_not_be_local",
                  "localhost",
                  {{kPort, "80"}, {kOverride, "example.com"}},
                  routed("127.0.0.1", 80, "example.com"),
                  kRequireLocal},
        RouteCase{"require_local_localhost",
                  "localhost:5173",
                  {{kPort, "80"}},
                  routed("127.0.0.1", 80, "localhost:5173"),
                  kRequireLocal},
        RouteCase{"require_local_v6",
                  "[::1]:5173",
                  {{kPort, "80"}},
                  routed("127.0.0.1", 80, "[::1]:5173"),
                  kRequireLocal},
        RouteCase{
            "require_local_empty", "", {{kPort, "80"}}, routed("127.0.0.1", 80, ""), kRequireLocal},
        RouteCase{"require_local_pattern_host",
                  "workspace-1-5173.localhost:39379",
                  {},
                  routed("127.0.0.1", 5173, "workspace-1-5173.localhost:39379"),
                  kRequireLocal},
        RouteCase{"bad_host_before_require_local",
                  "ex\xFF",
                  {{kPort, "80"}},
                  rejected(400, kBadHost),
                  kRequireLocal},
        RouteCase{"upgrade_gets_override",
                  "h",
                  {{kPort, "80"}, {kOverride, "localhost:3006"}},
                  routed("127.0.0.1", 80, "localhost:3006"),
                  kDefaults,
                  "GET",
                  "websocket"},
        RouteCase{"connect_ignores_override",
                  "example.com:443",
                  {{kPort, "80"}, {kOverride, "localhost:3006"}},
                  routed("127.0.0.1", 80, "example.com:443"),
                  kDefaults,
                  "CONNECT"},
        RouteCase{"connect_ignores_invalid_override",
                  "example.com:443",
                  {{kPort, "80"}, {kOverride, "a b"}},
                  routed("127.0.0.1", 80, "example.com:443"),
                  kDefaults,
                  "CONNECT"},
        RouteCase{"connect_skips_require_local",
                  "example.com:443",
                  {{kPort, "80"}},
                  routed("127.0.0.1", 80, "example.com:443"),
                  kRequireLocal,
                  "CONNECT"},
        RouteCase{"extended_connect_is_an_upgrade",
                  "example.com",
                  {{kPort, "80"}, {kOverride, "localhost"}},
                  routed("127.0.0.1", 80, "localhost"),
                  kRequireLocal,
                  "CONNECT",
                  "websocket"},
        RouteCase{"extended_connect_require_local",
                  "example.com",
                  {{kPort, "80"}},
                  rejected(502, kNeedsOverride),
                  kRequireLocal,
                  "CONNECT",
                  "websocket"}),
    case_name);

struct PatternCase {
  std::string host;
  std::optional<std::string> workspace;  // nullopt: no match
  std::uint16_t port = 0;
  friend void PrintTo(const PatternCase& c, std::ostream* os) {
    *os << testing::PrintToString(c.host);
  }
};
class HostPatternTest : public testing::TestWithParam<PatternCase> {};
TEST_P(HostPatternTest, Parses) {
  const PatternCase& c = GetParam();
  const std::optional<HostPattern> pattern = parse_host_pattern(c.host);
  ASSERT_EQ(pattern.has_value(), c.workspace.has_value()) << "host: " << c.host;
  if (pattern) {
    EXPECT_EQ(pattern->workspace, *c.workspace);
    EXPECT_EQ(pattern->port, c.port);
  }
}
INSTANTIATE_TEST_SUITE_P(
    Table, HostPatternTest,
    testing::Values(
        PatternCase{"workspace-1-5173.localhost:39379", "workspace-1", 5173},
        PatternCase{"workspace-1-5173.localhost", "workspace-1", 5173},
        PatternCase{"ws-1.localhost", "ws", 1}, PatternCase{"ws-65535.localhost", "ws", 65535},
        PatternCase{"ws-05173.localhost", "ws", 5173},
        PatternCase{"WorkSpace-1-5173.LocalHost:80", "workspace-1", 5173},
        PatternCase{"a--80.localhost", "a-", 80},
        PatternCase{"ws-5173.localhost:", "ws", 5173},  // empty port: RFC 3986
        PatternCase{"ws-0.localhost", std::nullopt},
        PatternCase{"ws-65536.localhost", std::nullopt},
        PatternCase{"ws-99999999999999999999.localhost", std::nullopt},
        PatternCase{"ws-+80.localhost", std::nullopt},
        PatternCase{"ws-80a.localhost", std::nullopt}, PatternCase{"ws-.localhost", std::nullopt},
        PatternCase{"-5173.localhost", std::nullopt}, PatternCase{"5173.localhost", std::nullopt},
        PatternCase{"ws5173.localhost", std::nullopt}, PatternCase{".localhost", std::nullopt},
        PatternCase{"localhost", std::nullopt},
        PatternCase{"ws-5173.localhost.", std::nullopt},   // trailing dot
        PatternCase{"a.ws-5173.localhost", std::nullopt},  // one label only
        PatternCase{"ws-5173.localhost.example", std::nullopt},
        PatternCase{"ws-5173.notlocalhost", std::nullopt},
        PatternCase{"ws-5173.localhost:abc", std::nullopt},
        PatternCase{"ws-5173.localhost:65536", std::nullopt},
        PatternCase{"ws-5173.localhost:80:80", std::nullopt},
        PatternCase{"[ws-5173.localhost]:80", std::nullopt},
        PatternCase{"w s-5173.localhost", std::nullopt},
        PatternCase{"w\xC3\xA9-5173.localhost", std::nullopt}, PatternCase{"", std::nullopt}));

struct LocalCase {
  std::string host;
  bool local;
  friend void PrintTo(const LocalCase& c, std::ostream* os) {
    *os << testing::PrintToString(c.host);
  }
};
class HostIsLocalTest : public testing::TestWithParam<LocalCase> {};
TEST_P(HostIsLocalTest, Classifies) {
  EXPECT_EQ(host_is_local(GetParam().host), GetParam().local) << "host: " << GetParam().host;
}
INSTANTIATE_TEST_SUITE_P(
    Table, HostIsLocalTest,
    testing::Values(LocalCase{"", true}, LocalCase{":80", true},  // empty name, as in Rust
                    LocalCase{"localhost", true}, LocalCase{"LOCALHOST:5173", true},
                    LocalCase{"localhost:", true}, LocalCase{"app.localhost", true},
                    LocalCase{"a.b.Localhost:1", true}, LocalCase{"127.0.0.1", true},
                    LocalCase{"127.0.0.1:39379", true}, LocalCase{"127.255.255.254:1", true},
                    LocalCase{"127.18.0.1", true}, LocalCase{"::1", true}, LocalCase{"[::1]", true},
                    LocalCase{"[::1]:5173", true}, LocalCase{"[0:0:0:0:0:0:0:1]:80", true},
                    LocalCase{"0::0:1", true}, LocalCase{"[::ffff:127.0.0.1]:80", true},
                    LocalCase{"[::FFFF:127.1.2.3]", true}, LocalCase{"::ffff:7f00:1", true},
                    LocalCase{"localhost.", false}, LocalCase{"app.localhost.", false},
                    LocalCase{".localhost", false}, LocalCase{"localhost.com", false},
                    LocalCase{"mylocalhost", false}, LocalCase{"example.com", false},
                    LocalCase{"128.0.0.1", false}, LocalCase{"0.0.0.0", false},
                    LocalCase{"127.1", false}, LocalCase{"127.0.0.01", false},
                    LocalCase{"127.0.0.1.", false}, LocalCase{"[127.0.0.1]", false},
                    LocalCase{"::2", false}, LocalCase{"::", false},
                    LocalCase{"[::ffff:10.0.0.1]", false}, LocalCase{"::127.0.0.1", false},
                    LocalCase{"[::1%lo]", false}, LocalCase{"[::1", false},
                    LocalCase{"[::1]x", false}, LocalCase{"[::1]:99999", false},
                    LocalCase{"localhost:abc", false}, LocalCase{"localhost:65536", false},
                    LocalCase{"local host", false}, LocalCase{"localhost\x01", false}));

}  // namespace
}  // namespace cmux::workspace
