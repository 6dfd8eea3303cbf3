// SPEC §3 "Target rewriting": request targets, the rewrite rule, internal header hygiene.
#include "preview/rewrite.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

namespace cmux::preview {

void PrintTo(const Target& t, std::ostream* os) {
  *os << t.scheme << "://" << t.host << ":" << t.port << t.path;
}
void PrintTo(const Rewritten& r, std::ostream* os) {
  PrintTo(r.connect_to, os);
  *os << " Host: " << r.authority << (r.rewritten ? " (rewritten)" : " (unchanged)");
  for (const http::Field& f : r.add_headers) *os << " [" << f.name << ": " << f.value << "]";
}

namespace {

// http::Field has no operator==; compare the flattened form (order matters).
std::string flatten(const Rewritten& r) { return testing::PrintToString(r); }

struct TargetCase {
  std::string label;
  std::string input;
  std::optional<Target> expected;
  friend void PrintTo(const TargetCase& c, std::ostream* os) {
    *os << testing::PrintToString(c.input);
  }
};
std::string target_case_name(const testing::TestParamInfo<TargetCase>& info) {
  return info.param.label;
}

class TargetFromUrlTest : public testing::TestWithParam<TargetCase> {};
TEST_P(TargetFromUrlTest, Parses) {
  EXPECT_EQ(target_from_url(GetParam().input), GetParam().expected);
}
INSTANTIATE_TEST_SUITE_P(
    Table, TargetFromUrlTest,
    testing::Values(TargetCase{"http_default", "http://localhost/a",
                               Target{"http", "localhost", 80, "/a"}},
                    TargetCase{"https_default", "https://h/", Target{"https", "h", 443, "/"}},
                    TargetCase{"wss_default", "wss://h", Target{"wss", "h", 443, "/"}},
                    TargetCase{"ws_default", "ws://h/s", Target{"ws", "h", 80, "/s"}},
                    TargetCase{"explicit_port", "HTTP://LOCALHOST:5173/x?y",
                               Target{"http", "localhost", 5173, "/x?y"}},
                    TargetCase{"ipv6", "http://[::1]:3000/", Target{"http", "::1", 3000, "/"}},
                    TargetCase{"port_max", "http://h:65535/", Target{"http", "h", 65535, "/"}},
                    TargetCase{"port_zero", "http://h:0/", std::nullopt},
                    TargetCase{"port_too_big", "http://h:65536/", std::nullopt},
                    TargetCase{"ftp", "ftp://h/", std::nullopt},
                    TargetCase{"origin_form", "/path", std::nullopt},
                    TargetCase{"garbage", "http://a b/", std::nullopt}),
    target_case_name);

class ConnectTargetTest : public testing::TestWithParam<TargetCase> {};
TEST_P(ConnectTargetTest, Parses) {
  EXPECT_EQ(parse_connect_target(GetParam().input), GetParam().expected);
}
INSTANTIATE_TEST_SUITE_P(
    Table, ConnectTargetTest,
    testing::Values(TargetCase{"name", "Example.com:443", Target{"", "example.com", 443, ""}},
                    TargetCase{"ipv6", "[::1]:5173", Target{"", "::1", 5173, ""}},
                    TargetCase{"port_one", "h:1", Target{"", "h", 1, ""}},
                    TargetCase{"port_max", "h:65535", Target{"", "h", 65535, ""}},
                    TargetCase{"trailing_dot", "localhost.:80", Target{"", "localhost.", 80, ""}},
                    TargetCase{"port_zero", "h:0", std::nullopt},
                    TargetCase{"port_too_big", "h:65536", std::nullopt},
                    TargetCase{"port_missing", "h", std::nullopt},
                    TargetCase{"port_empty", "h:", std::nullopt},
                    TargetCase{"host_missing", ":443", std::nullopt},
                    TargetCase{"bare_ipv6", "::1:443", std::nullopt},
                    TargetCase{"ipv6_no_port", "[::1]", std::nullopt},
                    TargetCase{"userinfo", "u@h:443", std::nullopt},
                    TargetCase{"empty", "", std::nullopt}),
    target_case_name);

TEST(AuthorityOf, LeavesOutTheDefaultPort) {
  EXPECT_EQ(authority_of(Target{"http", "h", 80, "/"}), "h");
  EXPECT_EQ(authority_of(Target{"http", "h", 443, "/"}), "h:443");
  EXPECT_EQ(authority_of(Target{"https", "h", 443, "/"}), "h");
  EXPECT_EQ(authority_of(Target{"wss", "::1", 443, "/"}), "[::1]");
  EXPECT_EQ(authority_of(Target{"http", "::1", 5173, "/"}), "[::1]:5173");
  EXPECT_EQ(authority_of(Target{"", "h", 443, ""}), "h:443");  // CONNECT: always the port
}

// --- rewrite ---------------------------------------------------------------------------------

const std::string kMorphOrigin = "https://port-39379-morphvm-abc.http.cloud.morph.so";
const std::string kMorphHost = "port-39379-morphvm-abc.http.cloud.morph.so";
const Route kBaseRoute{"abc", "base", "cmux.app", kMorphOrigin, std::nullopt};
const Route kWorkspaceRoute{"abc", "ws-1", "cmux.app", kMorphOrigin, "ws-1"};
const Route kNoOriginRoute{"m-1", "base", "cmux.sh", "", std::nullopt};

http::Fields internal(std::uint16_t port, std::string host_override,
                      std::optional<std::string> workspace = std::nullopt) {
  http::Fields fields{{"x-cmux-port-internal", std::to_string(port)},
                      {"x-cmux-host-override", std::move(host_override)}};
  if (workspace) fields.push_back({"x-cmux-workspace-internal", *workspace});
  return fields;
}

struct RewriteCase {
  std::string label;
  Target target;
  std::optional<Route> route;
  std::string upstream;
  Rewritten expected;
  friend void PrintTo(const RewriteCase& c, std::ostream* os) { *os << c.label; }
};
class RewriteTest : public testing::TestWithParam<RewriteCase> {};
TEST_P(RewriteTest, Rewrites) {
  const RewriteCase& c = GetParam();
  const auto result = rewrite(c.target, c.route, c.upstream);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(flatten(*result), flatten(c.expected));
}
std::string rewrite_case_name(const testing::TestParamInfo<RewriteCase>& info) {
  return info.param.label;
}

INSTANTIATE_TEST_SUITE_P(
    ToOrigin, RewriteTest,
    testing::Values(
        RewriteCase{"localhost", Target{"http", "localhost", 5173, "/a?b"}, kBaseRoute, "",
                    Rewritten{Target{"https", kMorphHost, 443, "/a?b"}, kMorphHost,
                              internal(5173, "localhost:5173"), true}},
        RewriteCase{"default_port_http", Target{"http", "127.0.0.1", 80, "/"}, kBaseRoute, "",
                    Rewritten{Target{"https", kMorphHost, 443, "/"}, kMorphHost,
                              internal(80, "127.0.0.1:80"), true}},
        RewriteCase{"default_port_https", Target{"https", "localhost", 443, "/"}, kBaseRoute, "",
                    Rewritten{Target{"https", kMorphHost, 443, "/"}, kMorphHost,
                              internal(443, "localhost:443"), true}},
        RewriteCase{"ipv6_bracketed", Target{"http", "::1", 3000, "/"}, kBaseRoute, "",
                    Rewritten{Target{"https", kMorphHost, 443, "/"}, kMorphHost,
                              internal(3000, "[::1]:3000"), true}},
        RewriteCase{"mapped_ipv6", Target{"http", "::ffff:7f00:1", 3000, "/"}, kBaseRoute, "",
                    Rewritten{Target{"https", kMorphHost, 443, "/"}, kMorphHost,
                              internal(3000, "[::ffff:7f00:1]:3000"), true}},
        RewriteCase{"trailing_dot_kept_in_override", Target{"http", "localhost.", 80, "/"},
                    kBaseRoute, "",
                    Rewritten{Target{"https", kMorphHost, 443, "/"}, kMorphHost,
                              internal(80, "localhost.:80"), true}},
        RewriteCase{"cmux_local", Target{"https", "app.cmux.local", 443, "/"}, kBaseRoute, "",
                    Rewritten{Target{"https", kMorphHost, 443, "/"}, kMorphHost,
                              internal(443, "app.cmux.local:443"), true}},
        RewriteCase{"workspace", Target{"http", "localhost", 5173, "/"}, kWorkspaceRoute, "",
                    Rewritten{Target{"https", kMorphHost, 443, "/"}, kMorphHost,
                              internal(5173, "localhost:5173", "ws-1"), true}},
        RewriteCase{"http_origin", Target{"http", "localhost", 5173, "/"},
                    Route{"abc", "base", "cmux.app",
                          "http://port-39379-morphvm-abc.http.cloud.morph.so", std::nullopt},
                    "",
                    Rewritten{Target{"http", kMorphHost, 80, "/"}, kMorphHost,
                              internal(5173, "localhost:5173"), true}},
        RewriteCase{"origin_port_and_path_ignored", Target{"http", "localhost", 1, "/x"},
                    Route{"abc", "base", "cmux.app", "HTTPS://U@Origin.Example:8443/ignored?q",
                          std::nullopt},
                    "",
                    Rewritten{Target{"https", "origin.example", 8443, "/x"}, "origin.example:8443",
                              internal(1, "localhost:1"), true}},
        RewriteCase{"origin_beats_upstream", Target{"http", "localhost", 5173, "/"}, kBaseRoute,
                    "http://127.0.0.1:39379",
                    Rewritten{Target{"https", kMorphHost, 443, "/"}, kMorphHost,
                              internal(5173, "localhost:5173"), true}},
        RewriteCase{"upstream_fallback", Target{"http", "localhost", 5173, "/p"}, kNoOriginRoute,
                    "http://127.0.0.1:39379",
                    Rewritten{Target{"http", "127.0.0.1", 39379, "/p"}, "127.0.0.1:39379",
                              internal(5173, "localhost:5173"), true}},
        RewriteCase{"upstream_ipv6", Target{"http", "localhost", 5173, "/"},
                    Route{"m", "ws", "cmux.app", "", "ws"}, "http://[::1]:39379",
                    Rewritten{Target{"http", "::1", 39379, "/"}, "[::1]:39379",
                              internal(5173, "localhost:5173", "ws"), true}},
        RewriteCase{"connect_target", Target{"", "localhost", 5173, ""}, kBaseRoute, "",
                    Rewritten{Target{"https", kMorphHost, 443, ""}, kMorphHost,
                              internal(5173, "localhost:5173"), true}},
        RewriteCase{"empty_workspace_is_none", Target{"http", "localhost", 1, "/"},
                    Route{"abc", "x", "cmux.app", kMorphOrigin, ""}, "",
                    Rewritten{Target{"https", kMorphHost, 443, "/"}, kMorphHost,
                              internal(1, "localhost:1"), true}}),
    rewrite_case_name);

INSTANTIATE_TEST_SUITE_P(
    ToEdge, RewriteTest,
    testing::Values(
        RewriteCase{"cmux_fallback", Target{"http", "localhost", 5173, "/a?b"}, kNoOriginRoute, "",
                    Rewritten{Target{"https", "cmux-m-1-base-5173.cmux.sh", 443, "/a?b"},
                              "cmux-m-1-base-5173.cmux.sh",
                              {},
                              true}},
        RewriteCase{"workspace_scope", Target{"https", "127.0.0.1", 443, "/"},
                    Route{"abc", "ws-2", "cmux.app", "", "ws-2"}, "",
                    Rewritten{Target{"https", "cmux-abc-ws-2-443.cmux.app", 443, "/"},
                              "cmux-abc-ws-2-443.cmux.app",
                              {},
                              true}},
        RewriteCase{"lower_cased", Target{"http", "localhost", 80, "/"},
                    Route{"ABC", "Base", "CMUX.App", "", std::nullopt}, "",
                    Rewritten{Target{"https", "cmux-abc-base-80.cmux.app", 443, "/"},
                              "cmux-abc-base-80.cmux.app",
                              {},
                              true}}),
    rewrite_case_name);

INSTANTIATE_TEST_SUITE_P(
    Unchanged, RewriteTest,
    testing::Values(
        RewriteCase{"unrouted_loopback", Target{"http", "localhost", 5173, "/"}, std::nullopt,
                    "http://127.0.0.1:39379",
                    Rewritten{Target{"http", "localhost", 5173, "/"}, "localhost:5173", {}, false}},
        RewriteCase{"non_loopback", Target{"https", "example.com", 443, "/x"}, kBaseRoute, "",
                    Rewritten{Target{"https", "example.com", 443, "/x"}, "example.com", {}, false}},
        RewriteCase{"private_ip", Target{"http", "10.0.0.1", 80, "/"}, kBaseRoute, "",
                    Rewritten{Target{"http", "10.0.0.1", 80, "/"}, "10.0.0.1", {}, false}},
        RewriteCase{
            "example_local", Target{"http", "example.local", 80, "/"}, kBaseRoute, "",
            Rewritten{Target{"http", "example.local", 80, "/"}, "example.local", {}, false}},
        RewriteCase{
            "mapped_private", Target{"http", "::ffff:10.0.0.1", 8080, "/"}, kBaseRoute, "",
            Rewritten{
                Target{"http", "::ffff:10.0.0.1", 8080, "/"}, "[::ffff:10.0.0.1]:8080", {}, false}},
        RewriteCase{"connect_non_loopback", Target{"", "example.com", 443, ""}, kBaseRoute, "",
                    Rewritten{Target{"", "example.com", 443, ""}, "example.com:443", {}, false}}),
    rewrite_case_name);

struct RewriteErrorCase {
  std::string label;
  std::optional<Route> route;
  std::string upstream;
  friend void PrintTo(const RewriteErrorCase& c, std::ostream* os) { *os << c.label; }
};
class RewriteErrorTest : public testing::TestWithParam<RewriteErrorCase> {};
TEST_P(RewriteErrorTest, Fails) {
  const auto result =
      rewrite(Target{"http", "localhost", 80, "/"}, GetParam().route, GetParam().upstream);
  ASSERT_FALSE(result.has_value());
  EXPECT_FALSE(result.error().message.empty());
}
INSTANTIATE_TEST_SUITE_P(
    Table, RewriteErrorTest,
    testing::Values(
        RewriteErrorCase{"origin_unparsable", Route{"a", "base", "cmux.app", "not a url", {}}, ""},
        RewriteErrorCase{"origin_not_http", Route{"a", "base", "cmux.app", "ftp://h", {}}, ""},
        RewriteErrorCase{"origin_port_zero", Route{"a", "base", "cmux.app", "http://h:0", {}}, ""},
        RewriteErrorCase{"upstream_unparsable", Route{"a", "base", "cmux.app", "", {}},
                         "127.0.0.1:39379"},
        RewriteErrorCase{"workspace_injection",
                         Route{"a", "x", "cmux.app", kMorphOrigin, "x\r\nevil: 1"}, ""},
        RewriteErrorCase{"workspace_space", Route{"a", "x y", "cmux.app", kMorphOrigin, "x y"}, ""},
        RewriteErrorCase{"edge_empty_morph", Route{"", "base", "cmux.app", "", {}}, ""},
        RewriteErrorCase{"edge_empty_domain", Route{"a", "base", "", "", {}}, ""},
        RewriteErrorCase{"edge_bad_host_chars", Route{"a/b", "base", "cmux.app", "", {}}, ""},
        RewriteErrorCase{"edge_port_in_domain", Route{"a", "base", "cmux.app:80", "", {}}, ""}),
    [](const testing::TestParamInfo<RewriteErrorCase>& info) { return info.param.label; });

TEST(StripClientInternalHeaders, RemovesEveryXCmuxName) {
  http::Fields fields{{"host", "h"},
                      {"x-cmux-port-internal", "1"},
                      {"accept", "*/*"},
                      {"x-cmux-workspace-internal", "w"},
                      {"x-cmux-host-override", "o"},
                      {"x-cmux-proxied", "true"},
                      {"X-Cmux-Port-Internal", "2"},  // not lower-cased by a sloppy caller
                      {"x-cmux", "kept: no dash after the prefix"},
                      {"x-cmuxy", "kept"},
                      {"x-forwarded-for", "1.2.3.4"}};
  strip_client_internal_headers(fields);
  const http::Fields expected{{"host", "h"},
                              {"accept", "*/*"},
                              {"x-cmux", "kept: no dash after the prefix"},
                              {"x-cmuxy", "kept"},
                              {"x-forwarded-for", "1.2.3.4"}};
  EXPECT_EQ(fields.size(), expected.size());
  for (std::size_t i = 0; i < std::min(fields.size(), expected.size()); ++i) {
    EXPECT_EQ(fields[i].name, expected[i].name);
    EXPECT_EQ(fields[i].value, expected[i].value);
  }
}

TEST(StripClientInternalHeaders, ThenRewriteAddsOnlyTheProxysOwn) {
  http::Fields fields{{"x-cmux-port-internal", "22"}, {"x-cmux-workspace-internal", "other"}};
  strip_client_internal_headers(fields);
  const auto result = rewrite(Target{"http", "localhost", 5173, "/"}, kBaseRoute, "");
  ASSERT_TRUE(result);
  fields.insert(fields.end(), result->add_headers.begin(), result->add_headers.end());
  EXPECT_EQ(http::count_field(fields, "x-cmux-port-internal"), 1u);
  EXPECT_EQ(*http::find_field(fields, "x-cmux-port-internal"), "5173");
  EXPECT_EQ(http::count_field(fields, "x-cmux-workspace-internal"), 0u);
}

}  // namespace
}  // namespace cmux::preview
