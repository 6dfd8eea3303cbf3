#include "workspace/metrics.hpp"

namespace cmux::workspace {

std::string Metrics::render() const {
  std::string out;
  out.reserve(2048);
  auto line = [&](std::string_view name, std::string_view labels, auto value) {
    out += name;
    if (!labels.empty()) {
      out += '{';
      out += labels;
      out += '}';
    }
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  };
  out += "# HELP cmux_proxy_requests_total Requests answered, by downstream protocol and status.\n";
  out += "# TYPE cmux_proxy_requests_total counter\n";
  for (int p = 0; p < 2; ++p) {
    for (int s = 0; s < 500; ++s) {
      auto v = requests[p][s].load(std::memory_order_relaxed);
      if (v == 0) continue;
      line("cmux_proxy_requests_total",
           std::string("protocol=\"") + (p ? "http2" : "http1.1") + "\",status=\"" + std::to_string(s + 100) + "\"", v);
    }
  }
  out += "# TYPE cmux_proxy_active_connections gauge\n";
  line("cmux_proxy_active_connections", "", active_connections ? active_connections() : 0);
  out += "# TYPE cmux_proxy_connections_total counter\n";
  line("cmux_proxy_connections_total", "", total_connections ? total_connections() : 0);
  out += "# TYPE cmux_proxy_active_streams gauge\n";
  line("cmux_proxy_active_streams", "", active_streams.load());
  out += "# TYPE cmux_proxy_upstream_connects_total counter\n";
  line("cmux_proxy_upstream_connects_total", "", upstream.connects.load());
  out += "# TYPE cmux_proxy_upstream_connect_errors_total counter\n";
  line("cmux_proxy_upstream_connect_errors_total", "", upstream.connect_errors.load());
  out += "# TYPE cmux_proxy_bytes_from_clients_total counter\n";
  line("cmux_proxy_bytes_from_clients_total", "", bytes_from_clients.load());
  out += "# TYPE cmux_proxy_bytes_to_clients_total counter\n";
  line("cmux_proxy_bytes_to_clients_total", "", bytes_to_clients.load());
  out += "# TYPE cmux_proxy_tunnels_total counter\n";
  line("cmux_proxy_tunnels_total", "", tunnels_total.load());
  out += "# TYPE cmux_proxy_active_tunnels gauge\n";
  line("cmux_proxy_active_tunnels", "", tunnels_active.load());
  return out;
}

}  // namespace cmux::workspace
