// deriveRoute (SPEC §3 "Routes"): URL -> Route of the cloud workspace it belongs to.
//
// Decisions where SPEC §3 is silent (mirrored in docs):
// - The URL is parsed with parse_url (url.hpp); an unparsable URL has no route. Any scheme is
//   accepted (the old proxy used `new URL`); only `http` selects the `http:` origin.
// - One trailing dot on the host is ignored: `cmux-a-base-1.cmux.app.` is the same DNS name
//   as `cmux-a-base-1.cmux.app` and gets the same route; the origin never carries the dot
//   (it becomes the SNI name upstream, where a trailing dot is not allowed).
// - `port-<n>-morphvm-<id>.<suffix>`: <n> is one or more ASCII digits (no range check),
//   <id> is everything up to the first '.', <suffix> is that '.' and at least one more
//   character (the old proxy's /^port-(\d+)-morphvm-([^.]+)(\..+)$/). This pattern wins
//   over the cmux/manaflow domains.
// - `{cmux,manaflow}-…`: the port piece is one or more ASCII digits with no range check (it
//   only identifies the pattern; the requested port of each request is what gets used). The
//   morph id and scope may contain dots (`cmux-a.b-base-1.cmux.app` -> morph id `a.b`), as in
//   the old proxy; they are host characters only, so they cannot inject anything.
// - The scope keeps the (lower-cased) spelling of the URL; `workspace` is that scope.
#include "preview/route.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "http/message.hpp"
#include "preview/url.hpp"

namespace cmux::preview {
namespace {

constexpr std::string_view kMorphPrefix = "port-";
constexpr std::string_view kMorphInfix = "-morphvm-";
constexpr std::string_view kCmuxProxyHostPrefix = "port-39379-morphvm-";
constexpr std::string_view kMorphCloudSuffix = ".http.cloud.morph.so";
constexpr std::string_view kBaseScope = "base";
constexpr std::string_view kMorphDomainSuffix = "cmux.app";

constexpr std::array<std::string_view, 10> kRouteDomains = {
    "cmux.app",       "cmux.sh",      "cmux.dev",       "cmux.com",           "cmux.local",
    "cmux.localhost", "manaflow.com", "manaflow.local", "manaflow.localhost", "autobuild.app",
};
constexpr std::array<std::string_view, 2> kRoutePrefixes = {"cmux-", "manaflow-"};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view without_trailing_dot(std::string_view host) {
  if (host.ends_with('.')) host.remove_suffix(1);
  return host;
}

std::string cmux_proxy_origin(std::string_view proto, std::string_view morph_id,
                              std::string_view suffix) {
  std::string origin(proto);
  origin += "//";
  origin += kCmuxProxyHostPrefix;
  origin += morph_id;
  origin += suffix;
  return origin;
}

std::size_t leading_digits(std::string_view s) {
  return static_cast<std::size_t>(
      std::find_if(s.begin(), s.end(), [](char c) { return c < '0' || c > '9'; }) - s.begin());
}

// port-<n>-morphvm-<id>.<suffix>
std::optional<Route> match_morph_host(std::string_view host, std::string_view proto) {
  if (!host.starts_with(kMorphPrefix)) return std::nullopt;
  host.remove_prefix(kMorphPrefix.size());
  const std::size_t digits = leading_digits(host);
  if (digits == 0) return std::nullopt;
  host.remove_prefix(digits);
  if (!host.starts_with(kMorphInfix)) return std::nullopt;
  host.remove_prefix(kMorphInfix.size());
  const std::size_t dot = host.find('.');
  if (dot == 0 || dot == std::string_view::npos || host.size() - dot < 2) return std::nullopt;
  const std::string_view morph_id = host.substr(0, dot);
  return Route{std::string(morph_id), std::string(kBaseScope), std::string(kMorphDomainSuffix),
               cmux_proxy_origin(proto, morph_id, host.substr(dot)), std::nullopt};
}

std::vector<std::string_view> split_dropping_empty(std::string_view s, char separator) {
  std::vector<std::string_view> pieces;
  while (!s.empty()) {
    const std::size_t at = std::min(s.find(separator), s.size());
    if (at > 0) pieces.push_back(s.substr(0, at));
    s.remove_prefix(std::min(at + 1, s.size()));
  }
  return pieces;
}

std::string join(const std::vector<std::string_view>& pieces, std::size_t count, char separator) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) out += separator;
    out += pieces[i];
  }
  return out;
}

// `<morphId>-<scope>-<port>` (the part after `cmux-` / `manaflow-`).
std::optional<Route> route_from_labels(std::string_view labels, std::string_view domain,
                                       std::string_view proto) {
  const std::vector<std::string_view> pieces = split_dropping_empty(labels, '-');
  if (pieces.size() < 3 || !all_digits(pieces.back())) return std::nullopt;
  const std::string_view scope = pieces[pieces.size() - 2];
  std::string morph_id = join(pieces, pieces.size() - 2, '-');
  Route route{morph_id, std::string(scope), std::string(domain),
              cmux_proxy_origin(proto, morph_id, kMorphCloudSuffix), std::nullopt};
  if (!http::iequals(scope, kBaseScope)) route.workspace = std::string(scope);
  return route;
}

std::optional<std::string_view> subdomain_of(std::string_view host, std::string_view domain) {
  if (host.size() <= domain.size() + 1 || !host.ends_with(domain)) return std::nullopt;
  const std::string_view rest = host.substr(0, host.size() - domain.size());
  if (!rest.ends_with('.')) return std::nullopt;
  return rest.substr(0, rest.size() - 1);
}

std::optional<Route> match_cmux_host(std::string_view host, std::string_view proto) {
  for (const std::string_view domain : kRouteDomains) {
    const std::optional<std::string_view> subdomain = subdomain_of(host, domain);
    if (!subdomain) continue;
    for (const std::string_view prefix : kRoutePrefixes) {
      if (!subdomain->starts_with(prefix)) continue;
      if (auto route = route_from_labels(subdomain->substr(prefix.size()), domain, proto)) {
        return route;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<Route> derive_route(std::string_view url) {
  const std::optional<Url> parsed = parse_url(url);
  if (!parsed) return std::nullopt;
  const std::string_view proto = parsed->scheme == "http" ? "http:" : "https:";
  const std::string_view host = without_trailing_dot(parsed->host);
  if (auto route = match_morph_host(host, proto)) return route;
  return match_cmux_host(host, proto);
}

}  // namespace cmux::preview
