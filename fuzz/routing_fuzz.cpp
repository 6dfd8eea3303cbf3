// libFuzzer target: workspace::route, parse_host_pattern, host_is_local and the header
// hygiene of http::strip_hop_by_hop / strip_internal (SPEC §2 "Routing", "Headers").
//
// Input: one flags byte, then '\n'-separated slots:
//   authority \n port value \n workspace value \n override value \n name:value \n ...
// Flags: bit 0-2 port/workspace/override header present, bit 3 allow_default_upstream,
// bit 4 require_local_host, bit 5-6 method (GET, CONNECT, CONNECT+websocket, GET+websocket),
// bit 7 repeat the port header.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hpp"
#include "workspace/routing.hpp"

namespace {

using cmux::http::Field;
using cmux::http::Fields;

std::vector<std::string_view> split_lines(std::string_view input) {
  std::vector<std::string_view> lines;
  while (true) {
    const std::size_t newline = input.find('\n');
    lines.push_back(input.substr(0, newline));
    if (newline == std::string_view::npos) return lines;
    input.remove_prefix(newline + 1);
  }
}

std::string_view slot(const std::vector<std::string_view>& lines, std::size_t i) {
  return i < lines.size() ? lines[i] : std::string_view{};
}

cmux::http::RequestHead build_request(std::uint8_t flags,
                                      const std::vector<std::string_view>& lines) {
  cmux::http::RequestHead req;
  constexpr std::array<const char*, 4> kMethods = {"GET", "CONNECT", "CONNECT", "GET"};
  const unsigned method = (flags >> 5) & 3u;
  req.method = kMethods[method];
  req.upgrade = method >= 2 ? "websocket" : "";
  req.authority = std::string(slot(lines, 0));
  constexpr std::array<std::string_view, 3> kRoutingNames = {
      "x-cmux-port-internal", "x-cmux-workspace-internal", "x-cmux-host-override"};
  for (std::size_t i = 0; i < kRoutingNames.size(); ++i) {
    if (flags & (1u << i)) {
      req.fields.push_back({std::string(kRoutingNames[i]), std::string(slot(lines, i + 1))});
    }
  }
  if (flags & 0x80u) req.fields.push_back({"x-cmux-port-internal", std::string(slot(lines, 1))});
  for (std::size_t i = 4; i < lines.size(); ++i) {
    const std::size_t colon = lines[i].find(':');
    req.fields.push_back({cmux::http::to_lower(lines[i].substr(0, colon)),
                          colon == std::string_view::npos
                              ? std::string()
                              : std::string(lines[i].substr(colon + 1))});
  }
  return req;
}

void check_route(const cmux::http::RequestHead& req, const cmux::workspace::RouteConfig& config) {
  const auto target = cmux::workspace::route(req, config);
  if (!target) {
    const int status = target.error().status;
    if (status != 400 && status != 502) __builtin_trap();
    if (status == 502 && !config.require_local_host) __builtin_trap();
    if (target.error().message.empty()) __builtin_trap();
    return;
  }
  if (target->port == 0) __builtin_trap();
  if (target->host != config.default_upstream_host && !target->host.starts_with("127.18.")) {
    __builtin_trap();
  }
}

void check_host_rules(std::string_view authority) {
  const bool local = cmux::workspace::host_is_local(authority);
  if (const auto pattern = cmux::workspace::parse_host_pattern(authority)) {
    if (pattern->port == 0 || pattern->workspace.empty() || !local) __builtin_trap();
    if (cmux::http::to_lower(pattern->workspace) != pattern->workspace) __builtin_trap();
  }
  if (cmux::workspace::host_is_local(cmux::http::to_lower(authority)) != local) __builtin_trap();
}

bool is_fixed_hop_by_hop(std::string_view name) {
  constexpr std::array<std::string_view, 9> kNames = {
      "connection",          "keep-alive", "proxy-authenticate",
      "proxy-authorization", "te",         "trailer",
      "transfer-encoding",   "upgrade",    "proxy-connection"};
  return std::find(kNames.begin(), kNames.end(), name) != kNames.end();
}

bool is_internal(std::string_view name) {
  return name == "x-cmux-port-internal" || name == "x-cmux-workspace-internal" ||
         name == "x-cmux-host-override";
}

void check_strip(const Fields& original, bool keep_te_trailers) {
  Fields fields = original;
  cmux::http::strip_hop_by_hop(fields, keep_te_trailers);
  cmux::http::strip_internal(fields);
  for (const Field& field : fields) {
    const bool kept_te = keep_te_trailers && field.name == "te" &&
                         cmux::http::iequals(cmux::http::trim(field.value), "trailers");
    if (is_fixed_hop_by_hop(field.name) && !kept_te) __builtin_trap();
    if (is_internal(field.name)) __builtin_trap();
  }
  // What remains keeps its relative order: a subsequence of the input.
  auto from = original.begin();
  for (const Field& field : fields) {
    from = std::find_if(from, original.end(), [&](const Field& f) {
      return f.name == field.name && f.value == field.value;
    });
    if (from == original.end()) __builtin_trap();
    ++from;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::vector<std::string_view> lines = split_lines(rest);
  const cmux::http::RequestHead req = build_request(flags, lines);

  cmux::workspace::RouteConfig config;
  config.allow_default_upstream = (flags & 0x08u) != 0;
  config.require_local_host = (flags & 0x10u) != 0;
  check_route(req, config);
  check_host_rules(req.authority);
  check_strip(req.fields, (flags & 0x01u) != 0);
  return 0;
}
