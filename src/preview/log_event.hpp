// Structured log events of the preview proxy (SPEC §3 "Logging"): the old proxy's event names
// (`listening`, `http-request`, `connect-request`, ...) with typed fields. Credentials are
// never put into an event.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace cmux::preview {

using LogValue = std::variant<std::string, std::int64_t, bool>;

struct LogEvent {
  std::string event;
  std::vector<std::pair<std::string, LogValue>> fields;
};

// Called on I/O threads; must be cheap and must never block (the addon queues, the CLI
// writes one line). Empty = logging off, and events are then not even built.
using LogSink = std::function<void(const LogEvent&)>;

// One JSON object: {"event":"<name>","<k>":<v>,...} (strings escaped, no trailing newline).
std::string to_json(const LogEvent& event);

// CMUX_PREVIEW_PROXY_LOG / CMUX_PREVIEW_PROXY_LOGGING: unset -> nullopt; empty or
// 1/true/yes/on -> true; 0/false/no/off -> false; anything else -> nullopt (not set).
std::optional<bool> env_flag(const char* value);

}  // namespace cmux::preview
