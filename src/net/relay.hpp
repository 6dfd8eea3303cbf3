// relay(): the one byte pump for CONNECT tunnels, upgrades (WebSocket) and passthrough.
// Copies both directions until both are finished, honouring half-close, with an idle
// deadline over both directions.
#pragma once

#include <chrono>
#include <cstdint>

#include "net/byte_stream.hpp"

namespace cmux::net {

struct RelayStats {
  std::uint64_t a_to_b = 0;
  std::uint64_t b_to_a = 0;
  bool idle_timeout = false;
};

awaitable<RelayStats> relay(ByteStream& a, ByteStream& b, std::chrono::milliseconds idle_timeout);

}  // namespace cmux::net
