#include "workspace/handler.hpp"

#include <spdlog/spdlog.h>

#include "net/connect.hpp"
#include "net/json.hpp"
#include "net/relay.hpp"

namespace cmux::workspace {

namespace {

// Path without the query string: queries may carry tokens, logs must not.
std::string_view log_path(const http::RequestHead& req) {
  std::string_view t = req.target;
  return t.substr(0, t.find('?'));
}

http::UpstreamPoolOptions pool_options(const http::Limits& limits) {
  http::UpstreamPoolOptions options;
  options.limits = limits;
  return options;
}

}  // namespace

WorkspaceHandler::WorkspaceHandler(std::shared_ptr<const HandlerConfig> config, net::IoThreads& threads, Metrics& metrics)
    : config_(std::move(config)),
      pool_(threads, pool_options(config_->limits), metrics.upstream),
      metrics_(metrics) {}

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
    http::RequestHead up = http::take_for_upstream(req);  // routing has read the headers; now strip them
    http::strip_hop_by_hop(up.fields);
    http::strip_internal(up.fields);
    up.authority = routed->authority;
    if (up.absolute_form) {
      auto path = http::find_path_start(up.target, up.target.find("://") + 3);
      up.target = path == std::string::npos ? "/" : up.target.substr(path);
    }
    // Forwarded from this frame (a coroutine of its own cost a frame per request).
    bool upgrade = !up.upgrade.empty();
    if (upgrade) metrics_.tunnels_active.fetch_add(1, std::memory_order_relaxed);
    // A named origin, not a braced temporary inside co_await: GCC 12 destroys such temporaries
    // twice in coroutines.
    const http::Origin origin{false, routed->host, routed->port, false};
    auto result = co_await pool_.forward(ex, origin, up);
    if (upgrade) metrics_.tunnels_active.fetch_sub(1, std::memory_order_relaxed);
    if (result) {
      if (result->tunneled) metrics_.tunnels_total.fetch_add(1, std::memory_order_relaxed);
      status = result->status;
    } else {
      error = result.error().reason;
      status = co_await answer_failure(ex, result.error());
    }
  }
  metrics_.count_request(req.version, status);
  metrics_.bytes_from_clients.fetch_add(ex.stats.request_body_bytes, std::memory_order_relaxed);
  metrics_.bytes_to_clients.fetch_add(ex.stats.response_body_bytes, std::memory_order_relaxed);
  metrics_.active_streams.fetch_sub(1, std::memory_order_relaxed);
  log_access(ex, req, routed ? &*routed : nullptr, status, error);
}

awaitable<int> WorkspaceHandler::answer_failure(http::Exchange& ex, const http::UpstreamFailure& failure) {
  if (failure.response_started || ex.head_sent()) co_return ex.status();
  if (failure.status == 499) co_return 499;  // the client left; the upstream request is dropped
  if (failure.status == 400) {
    co_await http::respond_text(ex, 400, "Bad Request");
    co_return 400;
  }
  co_await http::respond_text(ex, 502, "upstream request error: " + failure.reason);
  co_return 502;
}

awaitable<int> WorkspaceHandler::tunnel(http::Exchange& ex, const Target& target, std::string& error) {
  // Connect first: a 200 is only ever sent for a tunnel that exists.
  auto conn = co_await pool_.connect_tcp(target.host, target.port);
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
        ex.conn().id, ex.stream_id(), net::json_escape(ex.conn().peer), proto, net::json_escape(req.method),
        net::json_escape(log_path(req)), target ? target->port : 0, net::json_escape(upstream), status,
        ex.stats.request_body_bytes, ex.stats.response_body_bytes, ms,
        error.empty() ? std::string() : ",\"error\":\"" + net::json_escape(error) + "\"");
  } else {
    spdlog::info("[C{}][S{}] {} {} {} {} port={} upstream={} status={} in={} out={} {:.3f}ms{}{}", ex.conn().id,
                 ex.stream_id(), ex.conn().peer, proto, req.method, log_path(req), target ? target->port : 0, upstream,
                 status, ex.stats.request_body_bytes, ex.stats.response_body_bytes, ms, error.empty() ? "" : " error=",
                 error);
  }
}

}  // namespace cmux::workspace
