// SPEC §3 "Contexts and authentication": context creation, replacement, release, and the
// Proxy-Authorization lookup.
#include "preview/context_registry.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <atomic>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace cmux::preview {
namespace {

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // + NUL written by OpenSSL
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()),
                                     static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(length));
  return out;
}

std::string basic(std::string_view username, std::string_view password) {
  return "Basic " + base64(std::string(username) + ":" + std::string(password));
}

std::string header_of(const Context& context) { return basic(context.username, context.password); }

Route routed() {
  return Route{"abc123", "base", "cmux.app", "https://port-39379-morphvm-abc123.http.cloud.morph.so",
               std::nullopt};
}

std::shared_ptr<const Context> must_create(ContextRegistry& registry, std::uint64_t web_contents_id,
                                           std::optional<Route> route = std::nullopt) {
  auto created = registry.create(web_contents_id, std::nullopt, std::move(route));
  EXPECT_TRUE(created) << created.error();
  return created ? *created : nullptr;
}

TEST(ContextRegistry, CreateFormats) {
  ContextRegistry registry;
  auto created = registry.create(7, "persist-7", routed());
  ASSERT_TRUE(created) << created.error();
  const Context& context = **created;
  EXPECT_TRUE(std::regex_match(context.username, std::regex("^wc-7-[0-9a-f]{8}$"))) << context.username;
  EXPECT_TRUE(std::regex_match(context.password, std::regex("^[0-9a-f]{24}$"))) << context.password;
  EXPECT_TRUE(std::regex_match(context.id, std::regex("^ctx-[0-9]+$"))) << context.id;
  EXPECT_EQ(context.web_contents_id, 7u);
  EXPECT_EQ(context.persist_key, "persist-7");
  EXPECT_EQ(context.route, routed());
  EXPECT_EQ(registry.find(7), *created);
  EXPECT_EQ(registry.find(8), nullptr);
  EXPECT_EQ(registry.size(), 1u);
}

TEST(ContextRegistry, AuthenticatesItsOwnCredentials) {
  ContextRegistry registry;
  const auto one = must_create(registry, 1);
  const auto two = must_create(registry, 2);
  ASSERT_TRUE(one && two);
  EXPECT_EQ(registry.authenticate(header_of(*one)), one);
  EXPECT_EQ(registry.authenticate(header_of(*two)), two);
}

TEST(ContextRegistry, RejectsWrongCredentials) {
  ContextRegistry registry;
  const auto one = must_create(registry, 1);
  const auto two = must_create(registry, 2);
  ASSERT_TRUE(one && two);
  EXPECT_EQ(registry.authenticate(basic(one->username, two->password)), nullptr) << "other's password";
  EXPECT_EQ(registry.authenticate(basic(two->username, one->password)), nullptr) << "other's user";
  EXPECT_EQ(registry.authenticate(basic("wc-9-00000000", one->password)), nullptr) << "unknown user";
  EXPECT_EQ(registry.authenticate(basic("", one->password)), nullptr) << "empty user";
  EXPECT_EQ(registry.authenticate(basic(one->username, "")), nullptr) << "empty password";
  EXPECT_EQ(registry.authenticate(basic(one->username, one->password.substr(1))), nullptr) << "prefix";
  EXPECT_EQ(registry.authenticate(basic(one->username, one->password + "0")), nullptr) << "longer";
  EXPECT_EQ(registry.authenticate(""), nullptr) << "missing";
  EXPECT_EQ(registry.authenticate("Bearer " + base64(one->username + ":" + one->password)), nullptr);
  EXPECT_EQ(registry.authenticate("Basic " + one->username + ":" + one->password), nullptr) << "not base64";
}

TEST(ContextRegistry, HeaderSpellings) {
  ContextRegistry registry;
  const auto context = must_create(registry, 3);
  ASSERT_TRUE(context);
  const std::string token = base64(context->username + ":" + context->password);
  for (const std::string& value : {"Basic " + token, "basic " + token, "BASIC " + token,
                                   "  Basic " + token + "  ", "\tBasic\t" + token + "\t"}) {
    EXPECT_EQ(registry.authenticate(value), context) << value;
  }
}

TEST(ContextRegistry, SplitsAtTheFirstColon) {
  // The password is everything after the first ':', so a real password followed by ":x", or a
  // user name that swallowed part of it, must not match.
  ContextRegistry registry;
  const auto context = must_create(registry, 4);
  ASSERT_TRUE(context);
  EXPECT_EQ(registry.authenticate(basic(context->username, context->password + ":x")), nullptr);
  EXPECT_EQ(registry.authenticate(basic(context->username, ":" + context->password)), nullptr);
  const std::string user_with_part = context->username + ":" + context->password.substr(0, 4);
  EXPECT_EQ(registry.authenticate(basic(user_with_part, context->password.substr(4))), nullptr);
  EXPECT_EQ(registry.authenticate(header_of(*context)), context);
}

TEST(ContextRegistry, ReleaseStopsAuthenticationAtOnce) {
  ContextRegistry registry;
  const auto kept = must_create(registry, 1);
  const auto released = must_create(registry, 2);
  ASSERT_TRUE(kept && released);
  EXPECT_TRUE(registry.release(released->id));
  EXPECT_EQ(registry.authenticate(header_of(*released)), nullptr);
  EXPECT_EQ(registry.find(2), nullptr);
  EXPECT_FALSE(registry.release(released->id)) << "second release";
  EXPECT_FALSE(registry.release("ctx-unknown"));
  EXPECT_EQ(registry.authenticate(header_of(*kept)), kept);
  EXPECT_EQ(registry.size(), 1u);
}

TEST(ContextRegistry, ReplacementInvalidatesTheOldCredentials) {
  ContextRegistry registry;
  const auto old_context = must_create(registry, 5);
  const auto new_context = must_create(registry, 5, routed());
  ASSERT_TRUE(old_context && new_context);
  EXPECT_NE(old_context->id, new_context->id);
  EXPECT_EQ(registry.authenticate(header_of(*old_context)), nullptr);
  EXPECT_EQ(registry.authenticate(header_of(*new_context)), new_context);
  EXPECT_EQ(registry.find(5), new_context);
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_FALSE(registry.release(old_context->id)) << "a replaced context is gone";
  EXPECT_EQ(registry.find(5), new_context);
}

// A connection's memo (AuthMemo): the value it accepted names the same context again, any
// other value is judged on its own, and a released or replaced context fails at once.
class ContextRegistryMemo : public ::testing::Test {
 protected:
  // A new context, accepted once through the memo.
  std::shared_ptr<const Context> remembered(std::uint64_t web_contents_id) {
    auto context = must_create(registry, web_contents_id);
    EXPECT_TRUE(context);
    if (context) {
      EXPECT_EQ(registry.authenticate(header_of(*context), memo), context);
    }
    return context;
  }

  ContextRegistry registry;
  AuthMemo memo;
};

TEST_F(ContextRegistryMemo, RemembersTheAcceptedValue) {
  const auto one = remembered(1);
  const auto two = must_create(registry, 2);
  ASSERT_TRUE(one && two);
  EXPECT_EQ(memo.header, header_of(*one));
  EXPECT_EQ(memo.context.lock(), one);
  EXPECT_EQ(registry.authenticate(header_of(*one), memo), one) << "from the memo";
  EXPECT_EQ(registry.authenticate(header_of(*two), memo), two) << "another value on the same connection";
  EXPECT_EQ(memo.context.lock(), two);
  EXPECT_EQ(registry.authenticate(header_of(*one), memo), one);
}

TEST_F(ContextRegistryMemo, WrongValuesAreNotRemembered) {
  const auto one = remembered(1);
  ASSERT_TRUE(one);
  std::string wrong = header_of(*one);  // same length, last character changed
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(registry.authenticate(wrong, memo), nullptr);
  EXPECT_EQ(registry.authenticate(header_of(*one).substr(1), memo), nullptr) << "shorter";
  EXPECT_EQ(registry.authenticate("", memo), nullptr);
  EXPECT_EQ(memo.header, header_of(*one)) << "a failure keeps what the connection had";
  EXPECT_EQ(registry.authenticate(header_of(*one), memo), one);
}

TEST_F(ContextRegistryMemo, ReleaseRevokesAtOnce) {
  const auto released = remembered(2);
  ASSERT_TRUE(released);
  ASSERT_TRUE(registry.release(released->id));
  EXPECT_EQ(registry.authenticate(header_of(*released), memo), nullptr);
  EXPECT_EQ(registry.authenticate(header_of(*released), memo), nullptr) << "and stays revoked";
}

TEST_F(ContextRegistryMemo, ReplacementRevokesTheOldContext) {
  const auto old_context = remembered(5);
  ASSERT_TRUE(old_context);
  const auto new_context = must_create(registry, 5, routed());
  ASSERT_TRUE(new_context);
  EXPECT_EQ(registry.authenticate(header_of(*old_context), memo), nullptr);
  EXPECT_EQ(registry.authenticate(header_of(*new_context), memo), new_context);
}

TEST(ContextRegistryMemoLifetime, AContextGoneFromMemoryFails) {
  // The memo does not keep a context alive: once the registry and every request let go of it,
  // the remembered value is judged again (and fails, the context being gone).
  AuthMemo memo;
  std::string header;
  {
    ContextRegistry registry;
    auto context = must_create(registry, 6);
    ASSERT_TRUE(context);
    header = header_of(*context);
    ASSERT_EQ(registry.authenticate(header, memo), context);
  }
  EXPECT_TRUE(memo.context.expired());
  ContextRegistry other;
  EXPECT_EQ(other.authenticate(header, memo), nullptr);
}

struct RouteCase {
  std::string label;
  Route route;
  std::string error_prefix;  // empty: accepted
};
class ContextRegistryRouteTest : public testing::TestWithParam<RouteCase> {};
TEST_P(ContextRegistryRouteTest, Validates) {
  ContextRegistry registry;
  const auto created = registry.create(1, std::nullopt, GetParam().route);
  if (GetParam().error_prefix.empty()) {
    EXPECT_TRUE(created) << created.error();
    return;
  }
  ASSERT_FALSE(created);
  EXPECT_TRUE(created.error().starts_with(GetParam().error_prefix)) << created.error();
  EXPECT_EQ(registry.size(), 0u);
}

Route with(auto change) {
  Route route = routed();
  change(route);
  return route;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ContextRegistryRouteTest,
    testing::Values(
        RouteCase{"derived", routed(), ""},
        RouteCase{"workspace", with([](Route& r) { r.workspace = "ws-1"; }), ""},
        RouteCase{"origin_without_ids", Route{"", "", "", "http://127.0.0.1:39379", std::nullopt}, ""},
        RouteCase{"fallback_without_origin", with([](Route& r) { r.cmux_proxy_origin.clear(); }), ""},
        RouteCase{"origin_ftp", with([](Route& r) { r.cmux_proxy_origin = "ftp://x"; }), "route: "},
        RouteCase{"origin_junk", with([](Route& r) { r.cmux_proxy_origin = "not a url"; }), "route: "},
        RouteCase{"workspace_with_space", with([](Route& r) { r.workspace = "a b"; }), "route: "},
        RouteCase{"workspace_with_newline", with([](Route& r) { r.workspace = "a\r\nX-Evil: 1"; }),
                  "route: "},
        RouteCase{"no_origin_empty_morph_id", Route{"", "base", "cmux.app", "", std::nullopt},
                  "route.morphId must not be empty"},
        RouteCase{"no_origin_empty_scope", Route{"abc", "", "cmux.app", "", std::nullopt},
                  "route.scope must not be empty"},
        RouteCase{"no_origin_empty_domain_suffix", Route{"abc", "base", "", "", std::nullopt},
                  "route.domainSuffix must not be empty"},
        RouteCase{"no_origin_bad_host_name", Route{"a/b", "base", "cmux.app", "", std::nullopt},
                  "route: "}),
    [](const testing::TestParamInfo<RouteCase>& info) { return info.param.label; });

TEST(ContextRegistry, IdsAndCredentialsAreUnique) {
  ContextRegistry registry;
  std::set<std::string> ids, usernames, passwords;
  for (std::uint64_t wcid = 1; wcid <= 1000; ++wcid) {
    const auto context = must_create(registry, wcid);
    ASSERT_TRUE(context);
    ids.insert(context->id);
    usernames.insert(context->username);
    passwords.insert(context->password);
  }
  // Ids also stay unique across replacement: a replaced context's id is never reused.
  const auto replaced = must_create(registry, 1);
  ASSERT_TRUE(replaced);
  ids.insert(replaced->id);
  EXPECT_EQ(ids.size(), 1001u);
  EXPECT_EQ(usernames.size(), 1000u);
  EXPECT_EQ(passwords.size(), 1000u);  // 96 random bits each
  EXPECT_EQ(registry.size(), 1000u);
}

TEST(ContextRegistry, ConcurrentCreateAndAuthenticate) {
  // Two threads replace their own context over and over while two authenticate a stable one;
  // every answer must be exact (no torn state), whatever the interleaving.
  ContextRegistry registry;
  const auto stable = must_create(registry, 100);
  ASSERT_TRUE(stable);
  const std::string stable_header = header_of(*stable);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (std::uint64_t writer = 1; writer <= 2; ++writer) {
    threads.emplace_back([&registry, &failures, writer] {
      std::shared_ptr<const Context> previous;
      for (int i = 0; i < 200; ++i) {
        auto created = registry.create(writer, std::nullopt, std::nullopt);
        if (!created) {
          ++failures;
          continue;
        }
        if (registry.authenticate(header_of(**created)) != *created) ++failures;
        if (previous && registry.authenticate(header_of(*previous)) != nullptr) ++failures;
        previous = *created;
      }
    });
  }
  for (int reader = 0; reader < 2; ++reader) {
    threads.emplace_back([&registry, &failures, &stable, &stable_header] {
      for (int i = 0; i < 2000; ++i) {
        if (registry.authenticate(stable_header) != stable) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(registry.size(), 3u);
}

}  // namespace
}  // namespace cmux::preview
