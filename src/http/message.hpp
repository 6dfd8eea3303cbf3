// Protocol-neutral HTTP message heads shared by the HTTP/1.1 and HTTP/2 codecs.
// Field names are stored lower-case; values as received. Order and repeats are preserved.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cmux::http {

struct Field {
  std::string name;  // lower-case
  std::string value;
  bool operator==(const Field&) const = default;
};
using Fields = std::vector<Field>;
// No fields (no trailers): a static, so that a lazy awaitable may refer to it.
inline const Fields kNoFields;

// First value of `name` (lower-case), if present.
std::optional<std::string_view> find_field(const Fields& fields, std::string_view name);
// Number of fields named `name`.
std::size_t count_field(const Fields& fields, std::string_view name);
void remove_field(Fields& fields, std::string_view name);
bool iequals(std::string_view a, std::string_view b);
std::string to_lower(std::string_view s);
std::string_view trim(std::string_view s);  // optional whitespace (SP / HTAB)
// Whether two authorities name the same host and port for `scheme` ("http"/"https"):
// ASCII case-insensitive, and an omitted port equals the scheme's default (80 / 443).
bool same_authority(std::string_view a, std::string_view b, std::string_view scheme);
// Where the path (or query) of an absolute-form target starts: the first '/' or '?' at or after
// `from`, the end of its authority; npos if none. (std::string_view::find_first_of("/?") calls
// memchr once per character.)
inline std::size_t find_path_start(std::string_view target, std::size_t from) {
  for (std::size_t i = from; i < target.size(); ++i)
    if (target[i] == '/' || target[i] == '?') return i;
  return std::string_view::npos;
}

enum class Version : std::uint8_t { http11, http2 };

struct RequestHead {
  std::string method;     // "GET", "CONNECT", ...
  std::string scheme;     // "http" / "https"; empty for CONNECT
  std::string authority;  // Host (HTTP/1.1) or :authority (HTTP/2)
  std::string target;     // origin-form path+query; absolute-form URL or authority-form for proxies
  // Normalised upgrade: HTTP/1.1 `Upgrade: websocket` + `Connection: upgrade`, or HTTP/2
  // extended CONNECT `:protocol`. Empty for ordinary requests. (ARCHITECTURE: upgrades are
  // normalised at the codec edge.)
  std::string upgrade;
  Fields fields;  // regular fields only: no pseudo-headers, no Host
  Version version = Version::http11;
  bool absolute_form = false;  // HTTP/1.1 request-target was an absolute URL (forward proxy)
  bool has_body = false;  // a request body follows (content-length > 0 or chunked / h2 DATA)
  std::optional<std::uint64_t> content_length;

  bool is_connect() const { return method == "CONNECT" && upgrade.empty(); }
};

// The request to send upstream, made from an exchange's request once routing has read its
// fields: the request line is copied, the fields are handed over (moved, not copied — per
// request that saved a vector and a string per long field). The exchange keeps its request
// line for the access log; nothing reads its fields after this.
RequestHead take_for_upstream(RequestHead& req);

struct ResponseHead {
  int status = 200;
  Fields fields;  // no pseudo-headers
  std::optional<std::uint64_t> content_length;
};

// Hop-by-hop hygiene (SPEC §2 "Headers"): removes connection, keep-alive,
// proxy-authenticate, proxy-authorization, te (except `te: trailers` when keep_te_trailers),
// trailer, transfer-encoding, upgrade, proxy-connection and every name listed in
// Connection. Call it after routing has read what it needs.
void strip_hop_by_hop(Fields& fields, bool keep_te_trailers = false);

// The internal routing headers x-cmux-port-internal, x-cmux-workspace-internal,
// x-cmux-host-override.
void strip_internal(Fields& fields);

}  // namespace cmux::http
