// The route of a preview context (SPEC §3 "Routes", §4 `deriveRoute` / `ProxyRoute`): which
// cloud workspace a page's loopback requests belong to. Pure functions, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cmux::preview {

struct Route {
  std::string morph_id;
  std::string scope;          // "base" or a workspace name
  std::string domain_suffix;  // e.g. "cmux.app"
  // e.g. "https://port-39379-morphvm-<id>.http.cloud.morph.so"; empty = none (routes handed
  // in by the embedder may lack it; derive_route always sets it).
  std::string cmux_proxy_origin;
  std::optional<std::string> workspace;  // set when scope is not "base" (case-insensitive)

  friend bool operator==(const Route&, const Route&) = default;
};

// `port-<n>-morphvm-<id>.<suffix>` or `{cmux,manaflow}-<morphId>-<scope>-<port>.<domain>` for
// the ten cmux/manaflow domains; anything else (including an unparsable URL) -> nullopt.
std::optional<Route> derive_route(std::string_view url);

}  // namespace cmux::preview
