// Structured log events of the preview proxy (SPEC §3 "Logging").
//
// Decisions where SPEC §3 is silent (mirrored in docs):
// - env_flag ignores case and surrounding SP/HTAB (as cmux-proxy's boolean env values), so a
//   value of only blanks counts as empty, i.e. on.
// - Fields are written in the order they were added; a repeated key is written twice (callers
//   do not repeat keys; de-duplicating would cost a lookup per field on the I/O threads).
#include "preview/log_event.hpp"

#include <type_traits>

#include "http/message.hpp"
#include "net/json.hpp"

namespace cmux::preview {
namespace {

void append_string(std::string& out, std::string_view text) {
  out += '"';
  out += net::json_escape(text);
  out += '"';
}

void append_value(std::string& out, const LogValue& value) {
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          append_string(out, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else {
          out += std::to_string(v);
        }
      },
      value);
}

}  // namespace

std::string to_json(const LogEvent& event) {
  std::string out = "{\"event\":";
  append_string(out, event.event);
  for (const auto& [key, value] : event.fields) {
    out += ',';
    append_string(out, key);
    out += ':';
    append_value(out, value);
  }
  out += '}';
  return out;
}

std::optional<bool> env_flag(const char* value) {
  if (value == nullptr) return std::nullopt;
  const std::string v = http::to_lower(http::trim(value));
  if (v.empty() || v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  return std::nullopt;
}

}  // namespace cmux::preview
