// Workspace name -> loopback IP (SPEC §2 "Workspace IP"). Pure; shared by cmux-proxy and
// the LD_PRELOAD shim, so it uses nothing but the standard library and never allocates.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace cmux::workspace {

// 127.18.(n>>8 & 255).(n & 255) where n is the trailing decimal number of the last
// '/'-separated component, else FNV-1a-32 of the lower-cased component masked to 16 bits.
// nullopt when the name is unmappable (empty component, number overflow).
std::optional<std::array<std::uint8_t, 4>> workspace_ip(std::string_view name);

}  // namespace cmux::workspace
