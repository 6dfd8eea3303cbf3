// Field helpers and hop-by-hop hygiene for protocol-neutral message heads (SPEC §2 "Headers").
#include "http/message.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

namespace cmux::http {
namespace {

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

// Always hop-by-hop (RFC 9110 §7.6.1), plus `proxy-connection`, a pre-standard alias
// that some clients still send. `te` is handled separately because of `te: trailers`.
// By length first: most fields of a message are rejected without comparing a byte.
bool is_hop_by_hop_name(std::string_view name) {
  switch (name.size()) {
    case 7: return name == "trailer" || name == "upgrade";
    case 10: return name == "connection" || name == "keep-alive";
    case 16: return name == "proxy-connection";
    case 17: return name == "transfer-encoding";
    case 18: return name == "proxy-authenticate";
    case 19: return name == "proxy-authorization";
    default: return false;
  }
}

constexpr std::array<std::string_view, 3> kInternalNames = {
    "x-cmux-port-internal",
    "x-cmux-workspace-internal",
    "x-cmux-host-override",
};

// HTTP/2 allows exactly one TE value (RFC 9113 §8.2.2); gRPC relies on it reaching the origin.
bool is_te_trailers(const Field& field) {
  return field.name == "te" && iequals(trim(field.value), "trailers");
}

// Lower-cased, trimmed, non-empty tokens of every Connection field, in order, except those the
// fixed rules strip anyway (`keep-alive`, `upgrade`, `te`, ...): usually none, and no allocation.
std::vector<std::string> connection_tokens(const Fields& fields) {
  std::vector<std::string> tokens;
  for (const Field& field : fields) {
    if (field.name != "connection") continue;
    std::string_view rest = field.value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view token = trim(rest.substr(0, comma));
      if (!token.empty()) {
        std::string name = to_lower(token);
        if (!is_hop_by_hop_name(name) && name != "te") tokens.push_back(std::move(name));
      }
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  return tokens;
}

bool contains(const auto& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::optional<std::string_view> find_field(const Fields& fields, std::string_view name) {
  for (const Field& field : fields) {
    if (field.name == name) return std::string_view{field.value};
  }
  return std::nullopt;
}

std::size_t count_field(const Fields& fields, std::string_view name) {
  return static_cast<std::size_t>(std::count_if(
      fields.begin(), fields.end(), [name](const Field& field) { return field.name == name; }));
}

void remove_field(Fields& fields, std::string_view name) {
  std::erase_if(fields, [name](const Field& field) { return field.name == name; });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

RequestHead take_for_upstream(RequestHead& req) {
  Fields fields = std::move(req.fields);
  req.fields.clear();
  RequestHead up = req;
  up.fields = std::move(fields);
  return up;
}

std::string to_lower(std::string_view s) {
  std::string out;
  // The size given to the callback is not used: GCC 12's libstdc++ passes the new capacity
  // there when the string grows (it may exceed s.size()).
  out.resize_and_overwrite(s.size(), [s](char* p, std::size_t) {
    std::size_t i = 0;
    // Eight bytes at a time (every field name of every message passes here): a byte gets 0x20
    // when it is ASCII and in 'A'..'Z'. Per byte b < 0x80: b + 0x3F has its top bit set iff
    // b >= 'A', b + 0x25 iff b > 'Z'; no carry crosses bytes because the top bits are masked.
    for (; i + 8 <= s.size(); i += 8) {
      std::uint64_t x;
      std::memcpy(&x, s.data() + i, 8);
      constexpr std::uint64_t kOnes = 0x0101010101010101;
      const std::uint64_t low7 = x & (0x7F * kOnes);
      const std::uint64_t upper = ~x & ((low7 + 0x3F * kOnes) ^ (low7 + 0x25 * kOnes)) & (0x80 * kOnes);
      x |= upper >> 2;
      std::memcpy(p + i, &x, 8);
    }
    for (; i < s.size(); ++i) p[i] = ascii_lower(s[i]);
    return s.size();
  });
  return out;
}

namespace {
// "host:port" → host and port text; a bracketed IPv6 keeps its brackets; no port → "".
std::pair<std::string_view, std::string_view> split_authority(std::string_view a) {
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos || (a.starts_with('[') && a.find(']') > colon)) return {a, {}};
  return {a.substr(0, colon), a.substr(colon + 1)};
}
}  // namespace

bool same_authority(std::string_view a, std::string_view b, std::string_view scheme) {
  std::string_view default_port = scheme == "https" ? "443" : "80";
  auto [host_a, port_a] = split_authority(a);
  auto [host_b, port_b] = split_authority(b);
  if (port_a.empty()) port_a = default_port;
  if (port_b.empty()) port_b = default_port;
  return iequals(host_a, host_b) && port_a == port_b;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

void strip_hop_by_hop(Fields& fields, bool keep_te_trailers) {
  // Read the Connection list before anything is erased: it names further hop-by-hop fields.
  const std::vector<std::string> listed = connection_tokens(fields);
  std::erase_if(fields, [&](const Field& field) {
    // `te: trailers` survives even when Connection lists `te` (an HTTP/1.1 sender must list
    // it there), otherwise an h1 -> h2 hop could never carry it.
    if (field.name == "te") return !(keep_te_trailers && is_te_trailers(field));
    return is_hop_by_hop_name(field.name) || contains(listed, field.name);
  });
}

void strip_internal(Fields& fields) {
  std::erase_if(fields, [](const Field& field) { return contains(kInternalNames, field.name); });
}

}  // namespace cmux::http
