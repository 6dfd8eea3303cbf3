// cmux-proxy counters, rendered as Prometheus text at /metrics. Lock-free: every field
// is an atomic so I/O threads update them without contention.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "http/message.hpp"
#include "http/upstream_pool.hpp"

namespace cmux::workspace {

struct Metrics {
  // requests by protocol (0 = HTTP/1.1, 1 = HTTP/2) and status code (100..599)
  std::array<std::array<std::atomic<std::uint64_t>, 500>, 2> requests{};
  std::atomic<std::int64_t> active_streams{0};
  http::UpstreamCounters upstream;
  std::atomic<std::uint64_t> bytes_from_clients{0};
  std::atomic<std::uint64_t> bytes_to_clients{0};
  std::atomic<std::uint64_t> tunnels_total{0};
  std::atomic<std::int64_t> tunnels_active{0};
  std::function<std::size_t()> active_connections;  // from the server
  std::function<std::uint64_t()> total_connections;

  void count_request(http::Version v, int status) {
    if (status >= 100 && status < 600) requests[v == http::Version::http2 ? 1 : 0][status - 100].fetch_add(1, std::memory_order_relaxed);
  }
  std::string render() const;
};

}  // namespace cmux::workspace
