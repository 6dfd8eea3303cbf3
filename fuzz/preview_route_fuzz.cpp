// libFuzzer target: the preview proxy's URL and routing rules (SPEC §3 "Routes", "Target
// rewriting"): parse_url, parse_authority, derive_route, is_loopback_host, target_from_url,
// parse_connect_target, rewrite, strip_client_internal_headers.
//
// Input: the bytes are used whole as a URL, a CONNECT authority and a host name.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.hpp"
#include "preview/loopback.hpp"
#include "preview/rewrite.hpp"
#include "preview/route.hpp"
#include "preview/url.hpp"

namespace {

using namespace cmux::preview;

bool is_visible_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7E; });
}

std::string serialize(const Url& url) {
  std::string out = url.scheme + "://" + bracket_host(url.host);
  if (url.port) out += ":" + std::to_string(*url.port);
  return out + url.path_and_query;
}

// A parsed URL is normalised (lower-case scheme/host, a path) and re-parses to itself.
void check_url(std::string_view input) {
  const std::optional<Url> url = parse_url(input);
  if (!url) return;
  if (url->host.empty() || !url->path_and_query.starts_with('/')) __builtin_trap();
  if (cmux::http::to_lower(url->host) != url->host) __builtin_trap();
  if (cmux::http::to_lower(url->scheme) != url->scheme) __builtin_trap();
  if (!is_visible_ascii(url->host) || !is_visible_ascii(url->scheme)) __builtin_trap();
  if (url->path_and_query.find('#') != std::string::npos) __builtin_trap();
  if (parse_url(serialize(*url)) != url) __builtin_trap();
}

bool rewrites_cleanly(const Route& route, std::string_view upstream) {
  const auto result = rewrite(Target{"http", "localhost", 5173, "/"}, route, upstream);
  if (!result) return false;
  if (!result->rewritten || result->connect_to.port == 0 || result->authority.empty()) {
    __builtin_trap();
  }
  for (const cmux::http::Field& field : result->add_headers) {
    if (!field.name.starts_with("x-cmux-") || field.value.empty()) __builtin_trap();
    if (!is_visible_ascii(field.value)) __builtin_trap();
  }
  return true;
}

// A derived route is well-formed and usable: rewriting to its origin and to the edge fallback
// never fails.
void check_route(std::string_view input) {
  const std::optional<Route> route = derive_route(input);
  if (!route) return;
  if (route->morph_id.empty() || route->scope.empty() || route->domain_suffix.empty()) {
    __builtin_trap();
  }
  if (route->workspace.has_value() == cmux::http::iequals(route->scope, "base")) __builtin_trap();
  const std::optional<Url> origin = parse_url(route->cmux_proxy_origin);
  if (!origin || !origin->host.starts_with("port-39379-morphvm-")) __builtin_trap();
  if (origin->scheme != "http" && origin->scheme != "https") __builtin_trap();
  if (derive_route(serialize(*parse_url(input))) != route) __builtin_trap();
  if (!rewrites_cleanly(*route, "")) __builtin_trap();
  Route without_origin = *route;
  without_origin.cmux_proxy_origin.clear();
  if (!rewrites_cleanly(without_origin, "")) __builtin_trap();
  if (!rewrites_cleanly(without_origin, "http://127.0.0.1:39379")) __builtin_trap();
}

// Case and brackets do not change the answer.
void check_loopback(std::string_view input) {
  const bool loopback = is_loopback_host(input);
  std::string upper(input);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; });
  if (is_loopback_host(upper) != loopback) __builtin_trap();
  if (input.find(':') != std::string_view::npos && !input.starts_with('[')) {
    if (is_loopback_host("[" + std::string(input) + "]") != loopback) __builtin_trap();
  }
}

const Route kRoute{"abc", "ws", "cmux.app", "https://port-39379-morphvm-abc.http.cloud.morph.so",
                   "ws"};

void check_target(const std::optional<Target>& target) {
  if (!target) return;
  if (target->port == 0 || target->host.empty()) __builtin_trap();
  const auto result = rewrite(*target, kRoute, "");
  if (!result) __builtin_trap();  // a valid route never fails
  if (result->rewritten != is_loopback_host(target->host)) __builtin_trap();
  if (!result->rewritten && !(result->connect_to == *target)) __builtin_trap();
  if (result->rewritten) {
    const std::optional<std::string_view> override_host =
        cmux::http::find_field(result->add_headers, "x-cmux-host-override");
    if (!override_host || !is_visible_ascii(*override_host)) __builtin_trap();
    if (result->connect_to.path != target->path) __builtin_trap();
  }
}

void check_strip(std::string_view input) {
  cmux::http::Fields fields{{std::string(input), "v"}, {"x-cmux-port-internal", "1"}, {"a", "b"}};
  strip_client_internal_headers(fields);
  for (const cmux::http::Field& field : fields) {
    if (cmux::http::to_lower(field.name).starts_with("x-cmux-")) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_url(input);
  check_route(input);
  check_loopback(input);
  check_target(target_from_url(input));
  check_target(parse_connect_target(input));
  (void)parse_authority(input);
  check_strip(input);
  return 0;
}
