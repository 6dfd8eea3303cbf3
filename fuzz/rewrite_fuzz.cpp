// libFuzzer target: the preview proxy's target rewriting (SPEC §3 "Target rewriting") with
// hostile routes. preview_route_fuzz rewrites fuzzed targets with a fixed, valid route; here
// every field of the route and the upstream proxy URL come from the input too, since routes are
// handed in by the embedder (@cmux/proxy-electron's createContext) and --upstream-proxy.
//
// Input: '\n'-separated lines: target (absolute URL, else a CONNECT authority), morphId, scope,
// domainSuffix, cmuxProxyOrigin, workspace, upstreamProxyUrl. Fewer than two lines: no route;
// no workspace line: workspace unset.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

std::vector<std::string_view> lines(std::string_view input) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t newline = input.find('\n', start);
    out.push_back(input.substr(start, newline - start));
    if (newline == std::string_view::npos) return out;
    start = newline + 1;
  }
}

void check(const Target& target, const std::optional<Route>& route, std::string_view upstream) {
  const auto result = rewrite(target, route, upstream);
  // Deterministic.
  const auto again = rewrite(target, route, upstream);
  if (result.has_value() != again.has_value()) __builtin_trap();

  if (!route || !is_loopback_host(target.host)) {
    // Not ours to route: forwarded unchanged, nothing added, never an error.
    if (!result || result->rewritten || !(result->connect_to == target)) __builtin_trap();
    if (!result->add_headers.empty() || result->authority != authority_of(target)) {
      __builtin_trap();
    }
    return;
  }
  if (!result) {
    if (result.error().message.empty()) __builtin_trap();
    return;
  }
  const Rewritten& out = *result;
  if (!out.rewritten) __builtin_trap();
  if (out.connect_to.scheme != "http" && out.connect_to.scheme != "https") __builtin_trap();
  if (out.connect_to.port == 0 || out.connect_to.host.empty()) __builtin_trap();
  if (out.connect_to.path != target.path) __builtin_trap();
  // Host / :authority and every added header value go on the wire: no CR, LF, NUL, space.
  if (out.authority.empty() || !is_visible_ascii(out.authority)) __builtin_trap();
  if (!parse_authority(out.authority)) __builtin_trap();
  if (!is_visible_ascii(out.connect_to.host)) __builtin_trap();
  for (const cmux::http::Field& field : out.add_headers) {
    if (!field.name.starts_with("x-cmux-") || field.value.empty()) __builtin_trap();
    if (!is_visible_ascii(field.value)) __builtin_trap();
  }
  if (!out.add_headers.empty()) {
    const auto port = cmux::http::find_field(out.add_headers, "x-cmux-port-internal");
    if (!port || *port != std::to_string(target.port)) __builtin_trap();
  }
  // The client's own x-cmux-* headers never survive next to ours.
  cmux::http::Fields fields{{"x-cmux-workspace-internal", "evil"}, {"X-Cmux-Port-Internal", "1"}};
  strip_client_internal_headers(fields);
  if (!fields.empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::string_view> parts =
      lines(std::string_view(reinterpret_cast<const char*>(data), size));
  std::optional<Target> target = target_from_url(parts[0]);
  if (!target) target = parse_connect_target(parts[0]);
  if (!target) return 0;

  std::optional<Route> route;
  std::string_view upstream;
  if (parts.size() >= 2) {
    const auto field = [&](std::size_t i) {
      return i < parts.size() ? std::string(parts[i]) : std::string();
    };
    route = Route{field(1), field(2), field(3), field(4), std::nullopt};
    if (parts.size() >= 6) route->workspace = std::string(parts[5]);
    if (parts.size() >= 7) upstream = parts[6];
  }
  check(*target, route, upstream);
  check(*target, std::nullopt, upstream);
  return 0;
}
