// SPEC §3 "Routes": deriveRoute.
#include "preview/route.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace cmux::preview {

void PrintTo(const Route& r, std::ostream* os) {
  *os << "{" << r.morph_id << ", " << r.scope << ", " << r.domain_suffix << ", "
      << r.cmux_proxy_origin << ", " << (r.workspace ? *r.workspace : "<no workspace>") << "}";
}

namespace {

struct RouteCase {
  std::string label;
  std::string url;
  std::optional<Route> expected;
  friend void PrintTo(const RouteCase& c, std::ostream* os) {
    *os << testing::PrintToString(c.url);
  }
};
class DeriveRouteTest : public testing::TestWithParam<RouteCase> {};
TEST_P(DeriveRouteTest, Derives) { EXPECT_EQ(derive_route(GetParam().url), GetParam().expected); }
std::string case_name(const testing::TestParamInfo<RouteCase>& info) { return info.param.label; }

Route morph(std::string id, std::string origin) {
  return Route{std::move(id), "base", "cmux.app", std::move(origin), std::nullopt};
}
Route cmux(std::string id, std::string scope, std::string domain, std::string proto,
           std::optional<std::string> workspace = std::nullopt) {
  std::string origin = proto + "//port-39379-morphvm-" + id + ".http.cloud.morph.so";
  return Route{std::move(id), std::move(scope), std::move(domain), std::move(origin),
               std::move(workspace)};
}

INSTANTIATE_TEST_SUITE_P(
    Morph, DeriveRouteTest,
    testing::Values(
        RouteCase{"https", "https://port-5173-morphvm-abc123.http.cloud.morph.so/x?y",
                  morph("abc123", "https://port-39379-morphvm-abc123.http.cloud.morph.so")},
        RouteCase{"http_origin", "http://port-5173-morphvm-abc123.http.cloud.morph.so/",
                  morph("abc123", "http://port-39379-morphvm-abc123.http.cloud.morph.so")},
        RouteCase{"ws_gets_https", "ws://port-1-morphvm-a.b/",
                  morph("a", "https://port-39379-morphvm-a.b")},
        RouteCase{"any_suffix_kept", "https://port-80-morphvm-xyz.example.test:8443/",
                  morph("xyz", "https://port-39379-morphvm-xyz.example.test")},
        RouteCase{"id_with_dashes", "https://port-80-morphvm-a-b-c.morph.so/",
                  morph("a-b-c", "https://port-39379-morphvm-a-b-c.morph.so")},
        RouteCase{"uppercase_host", "HTTPS://PORT-80-MORPHVM-ABC.HTTP.CLOUD.MORPH.SO/",
                  morph("abc", "https://port-39379-morphvm-abc.http.cloud.morph.so")},
        RouteCase{"trailing_dot_folded", "https://port-80-morphvm-abc.http.cloud.morph.so./",
                  morph("abc", "https://port-39379-morphvm-abc.http.cloud.morph.so")},
        RouteCase{"userinfo_ignored", "https://u:p@port-80-morphvm-abc.morph.so/",
                  morph("abc", "https://port-39379-morphvm-abc.morph.so")},
        RouteCase{"huge_port_digits", "https://port-99999999-morphvm-abc.morph.so/",
                  morph("abc", "https://port-39379-morphvm-abc.morph.so")},
        RouteCase{"wins_over_cmux_domain", "https://port-1-morphvm-x.cmux.app/",
                  morph("x", "https://port-39379-morphvm-x.cmux.app")},
        RouteCase{"no_suffix", "https://port-80-morphvm-abc/", std::nullopt},
        RouteCase{"dot_only_suffix", "https://port-80-morphvm-abc../", std::nullopt},
        RouteCase{"empty_id", "https://port-80-morphvm-.morph.so/", std::nullopt},
        RouteCase{"no_port_digits", "https://port--morphvm-abc.morph.so/", std::nullopt},
        RouteCase{"port_not_digits", "https://port-8a-morphvm-abc.morph.so/", std::nullopt},
        RouteCase{"wrong_infix", "https://port-80-morph-abc.morph.so/", std::nullopt},
        RouteCase{"not_at_start", "https://xport-80-morphvm-abc.morph.so/", std::nullopt}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    Cmux, DeriveRouteTest,
    testing::Values(
        RouteCase{"base", "https://cmux-abc-base-5173.cmux.app/",
                  cmux("abc", "base", "cmux.app", "https:")},
        RouteCase{"http_origin", "http://cmux-abc-base-5173.cmux.localhost:8080/",
                  cmux("abc", "base", "cmux.localhost", "http:")},
        RouteCase{"base_case_insensitive", "https://cmux-abc-BASE-5173.cmux.app/",
                  cmux("abc", "base", "cmux.app", "https:")},
        RouteCase{"workspace_scope", "https://cmux-abc-feature-5173.cmux.sh/",
                  cmux("abc", "feature", "cmux.sh", "https:", "feature")},
        RouteCase{"uppercase_workspace_lowered", "https://CMUX-ABC-Feature-5173.CMUX.SH/",
                  cmux("abc", "feature", "cmux.sh", "https:", "feature")},
        RouteCase{"morph_id_with_dashes", "https://cmux-a-b-c-ws1-80.cmux.dev/",
                  cmux("a-b-c", "ws1", "cmux.dev", "https:", "ws1")},
        RouteCase{"empty_pieces_dropped", "https://cmux--a--b---base--80-.cmux.com/",
                  cmux("a-b", "base", "cmux.com", "https:")},
        RouteCase{"manaflow_prefix", "https://manaflow-abc-base-1.manaflow.com/",
                  cmux("abc", "base", "manaflow.com", "https:")},
        RouteCase{"trailing_dot_folded", "https://cmux-abc-base-1.cmux.app./",
                  cmux("abc", "base", "cmux.app", "https:")},
        RouteCase{"dotted_morph_id", "https://cmux-a.b-base-1.cmux.app/",
                  cmux("a.b", "base", "cmux.app", "https:")},
        RouteCase{"port_digits_unbounded", "https://cmux-abc-base-999999.cmux.app/",
                  cmux("abc", "base", "cmux.app", "https:")},
        RouteCase{"two_pieces", "https://cmux-abc-5173.cmux.app/", std::nullopt},
        RouteCase{"port_not_digits", "https://cmux-abc-base-51x3.cmux.app/", std::nullopt},
        RouteCase{"no_prefix", "https://abc-base-5173.cmux.app/", std::nullopt},
        RouteCase{"other_prefix", "https://cmuf-abc-base-5173.cmux.app/", std::nullopt},
        RouteCase{"prefix_in_deeper_label", "https://x.cmux-abc-base-1.cmux.app/", std::nullopt},
        RouteCase{"unknown_domain", "https://cmux-abc-base-5173.example.com/", std::nullopt},
        RouteCase{"domain_itself", "https://cmux.app/", std::nullopt},
        RouteCase{"domain_lookalike", "https://cmux-abc-base-1.evilcmux.app/", std::nullopt},
        RouteCase{"two_trailing_dots", "https://cmux-abc-base-1.cmux.app../", std::nullopt}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    Unrouted, DeriveRouteTest,
    testing::Values(RouteCase{"example", "https://example.com/", std::nullopt},
                    RouteCase{"localhost", "http://localhost:5173/", std::nullopt},
                    RouteCase{"ipv6", "http://[::1]:5173/", std::nullopt},
                    RouteCase{"not_a_url", "cmux-abc-base-5173.cmux.app", std::nullopt},
                    RouteCase{"empty", "", std::nullopt},
                    RouteCase{"bad_port", "https://cmux-abc-base-1.cmux.app:65536/", std::nullopt}),
    case_name);

// Every domain with both prefixes and both protocols.
TEST(DeriveRoute, AllDomainsBothPrefixesBothProtocols) {
  const std::vector<std::string> domains = {
      "cmux.app",       "cmux.sh",      "cmux.dev",       "cmux.com",           "cmux.local",
      "cmux.localhost", "manaflow.com", "manaflow.local", "manaflow.localhost", "autobuild.app"};
  int checked = 0;
  for (const std::string& domain : domains) {
    for (const std::string prefix : {"cmux-", "manaflow-"}) {
      for (const std::string scheme : {"http", "https"}) {
        const std::string url = scheme + "://" + prefix + "m-1-ws-3000." + domain + "/p";
        EXPECT_EQ(derive_route(url), cmux("m-1", "ws", domain, scheme + ":", "ws")) << url;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 40);
}

}  // namespace
}  // namespace cmux::preview
