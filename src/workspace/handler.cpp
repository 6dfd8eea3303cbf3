#include "workspace/handler.hpp"

#include <spdlog/spdlog.h>

#include "net/connect.hpp"
#include "net/relay.hpp"

namespace cmux::workspace {

namespace {

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

// Path without the query string: queries may carry tokens, logs must not.
std::string_view log_path(const http::RequestHead& req) {
  std::string_view t = req.target;
  return t.substr(0, t.find('?'));
}

}  // namespace

WorkspaceHandler::WorkspaceHandler(std::shared_ptr<const HandlerConfig> config, std::size_t workers, Metrics& metrics)
    : config_(std::move(config)), pools_(workers), metrics_(metrics) {}

awaitable<void> WorkspaceHandler::handle(http::Exchange& ex) {
  metrics_.active_streams.fetch_add(1, std::memory_order_relaxed);
  auto& req = ex.request();
  auto routed = route(req, config_->route);
  int status = 0;
  std::string error;
  if (!routed) {
    status = routed.error().status;
    co_await http::respond_text(ex, status, routed.error().message);
  } else if (req.is_connect()) {
    status = co_await tunnel(ex, *routed, error);
  } else {
    http::RequestHead up = req;  // routing has read the headers; now strip them
    http::strip_hop_by_hop(up.fields);
    http::strip_internal(up.fields);
    up.authority = routed->authority;
    if (up.absolute_form) {
      auto path = up.target.find_first_of("/?", up.target.find("://") + 3);
      up.target = path == std::string::npos ? "/" : up.target.substr(path);
    }
    status = co_await forward(ex, *routed, up, error);
  }
  metrics_.count_request(req.version, status);
  metrics_.bytes_from_clients.fetch_add(ex.stats.request_body_bytes, std::memory_order_relaxed);
  metrics_.bytes_to_clients.fetch_add(ex.stats.response_body_bytes, std::memory_order_relaxed);
  metrics_.active_streams.fetch_sub(1, std::memory_order_relaxed);
  log_access(ex, req, routed ? &*routed : nullptr, status, error);
}

awaitable<std::expected<std::unique_ptr<http::UpstreamConn>, error_code>> WorkspaceHandler::connect(const Target& target) {
  auto socket = co_await net::connect_tcp(target.host, target.port, config_->limits.upstream_connect);
  if (!socket) {
    metrics_.upstream_connect_errors.fetch_add(1, std::memory_order_relaxed);
    co_return std::unexpected(socket.error());
  }
  metrics_.upstream_connects.fetch_add(1, std::memory_order_relaxed);
  co_return std::make_unique<http::UpstreamConn>(std::move(*socket), net::format_authority(target.host, target.port));
}

awaitable<int> WorkspaceHandler::forward(http::Exchange& ex, const Target& target, http::RequestHead& up,
                                         std::string& error) {
  auto& pool = pools_[ex.conn().worker];
  std::string key = net::format_authority(target.host, target.port);
  // A pooled connection may have been closed by the upstream just now: a bodiless request
  // that got no byte back is retried once on a fresh connection.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<http::UpstreamConn> conn = up.upgrade.empty() ? pool.take(key) : nullptr;
    if (!conn) {
      auto fresh = co_await connect(target);
      if (!fresh) {
        error = fresh.error().message();
        co_await http::respond_text(ex, 502, "upstream request error: " + error);
        co_return 502;
      }
      conn = std::move(*fresh);
    }
    if (!up.upgrade.empty()) metrics_.tunnels_active.fetch_add(1, std::memory_order_relaxed);
    auto result = co_await http::forward_h1(ex, *conn, up, config_->limits);
    if (!up.upgrade.empty()) metrics_.tunnels_active.fetch_sub(1, std::memory_order_relaxed);
    if (result) {
      if (result->tunneled) metrics_.tunnels_total.fetch_add(1, std::memory_order_relaxed);
      if (result->reusable) pool.put(std::move(conn));
      co_return result->status;
    }
    const auto& failure = result.error();
    bool retry = conn->reused && failure.nothing_received && !up.has_body && attempt == 0;
    if (retry) continue;
    error = failure.reason;
    if (failure.response_started || ex.head_sent()) co_return ex.status();
    if (failure.status == 499) co_return 499;  // the client left; the upstream request is dropped
    if (failure.status == 400) {
      co_await http::respond_text(ex, 400, "Bad Request");
      co_return 400;
    }
    co_await http::respond_text(ex, 502, "upstream request error: " + error);
    co_return 502;
  }
  co_return 502;
}

awaitable<int> WorkspaceHandler::tunnel(http::Exchange& ex, const Target& target, std::string& error) {
  // Connect first: a 200 is only ever sent for a tunnel that exists.
  auto conn = co_await connect(target);
  if (!conn) {
    error = conn.error().message();
    co_await http::respond_text(ex, 502, "upstream request error: " + error);
    co_return 502;
  }
  http::ResponseHead head;
  head.status = 200;
  if (co_await ex.send_head(head, false)) co_return 200;
  metrics_.tunnels_total.fetch_add(1, std::memory_order_relaxed);
  metrics_.tunnels_active.fetch_add(1, std::memory_order_relaxed);
  auto stats = co_await net::relay(ex.tunnel(), (*conn)->t, config_->limits.tunnel_idle);
  metrics_.tunnels_active.fetch_sub(1, std::memory_order_relaxed);
  ex.stats.request_body_bytes += stats.a_to_b;
  ex.stats.response_body_bytes += stats.b_to_a;
  co_return 200;
}

void WorkspaceHandler::log_access(http::Exchange& ex, const http::RequestHead& req, const Target* target, int status,
                                  std::string_view error) const {
  if (!spdlog::should_log(spdlog::level::info)) return;
  using namespace std::chrono;
  double ms = duration<double, std::milli>(steady_clock::now() - ex.stats.started).count();
  std::string upstream = target ? net::format_authority(target->host, target->port) : "-";
  const char* proto = req.version == http::Version::http2 ? "h2" : "http/1.1";
  if (config_->json_logs) {
    spdlog::info(
        "{{\"conn\":{},\"stream\":{},\"client\":\"{}\",\"proto\":\"{}\",\"method\":\"{}\",\"path\":\"{}\","
        "\"port\":{},\"upstream\":\"{}\",\"status\":{},\"bytes_in\":{},\"bytes_out\":{},\"duration_ms\":{:.3f}{}}}",
        ex.conn().id, ex.stream_id(), json_escape(ex.conn().peer), proto, json_escape(req.method),
        json_escape(log_path(req)), target ? target->port : 0, json_escape(upstream), status,
        ex.stats.request_body_bytes, ex.stats.response_body_bytes, ms,
        error.empty() ? std::string() : ",\"error\":\"" + json_escape(error) + "\"");
  } else {
    spdlog::info("[C{}][S{}] {} {} {} {} port={} upstream={} status={} in={} out={} {:.3f}ms{}{}", ex.conn().id,
                 ex.stream_id(), ex.conn().peer, proto, req.method, log_path(req), target ? target->port : 0, upstream,
                 status, ex.stats.request_body_bytes, ex.stats.response_body_bytes, ms, error.empty() ? "" : " error=",
                 error);
  }
}

}  // namespace cmux::workspace
