// Loopback targets of the preview proxy (SPEC §3 "Target rewriting"): which hosts a routed
// context sends to its cloud workspace instead of this machine. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace cmux::preview {

// localhost, *.localhost, *.cmux.local, *.manaflow.local, IPv4 127.0.0.0/8 and 0.0.0.0, IPv6
// ::1, ::, ::ffff:127.0.0.0/104, ::ffff:0.0.0.0 — in every spelling the system resolver
// accepts (see loopback.cpp). Case-insensitive; IPv6 with or without brackets.
bool is_loopback_host(std::string_view host);

// The URL's port, else 443 for https/wss, else 80 (scheme case-insensitive).
std::uint16_t requested_port(std::string_view scheme, std::optional<std::uint16_t> port);

}  // namespace cmux::preview
