// The cmux-proxy request handler: route (pure rules), strip, forward over HTTP/1.1 to the
// workspace upstream, or open a CONNECT tunnel. Protocol-neutral: it sees only Exchange.
#pragma once

#include <memory>
#include <vector>

#include "http/exchange.hpp"
#include "http/limits.hpp"
#include "http/upstream_pool.hpp"
#include "workspace/metrics.hpp"
#include "workspace/routing.hpp"

namespace cmux::workspace {

struct HandlerConfig {
  RouteConfig route;
  http::Limits limits;
  bool json_logs = false;
};

class WorkspaceHandler {
 public:
  WorkspaceHandler(std::shared_ptr<const HandlerConfig> config, net::IoThreads& threads, Metrics& metrics);
  awaitable<void> handle(http::Exchange& ex);

 private:
  // The answer when forwarding failed (none when the response had begun); its status.
  awaitable<int> answer_failure(http::Exchange& ex, const http::UpstreamFailure& failure);
  awaitable<int> tunnel(http::Exchange& ex, const Target& target, std::string& error);
  void log_access(http::Exchange& ex, const http::RequestHead& req, const Target* target, int status,
                  std::string_view error) const;

  std::shared_ptr<const HandlerConfig> config_;
  http::UpstreamPool pool_;
  Metrics& metrics_;
};

}  // namespace cmux::workspace
