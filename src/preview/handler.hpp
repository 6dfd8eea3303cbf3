// The preview proxy's request handler (SPEC §3): authenticate the context, parse the target,
// rewrite routed loopback targets to the workspace, forward (HTTP/2 or HTTP/1.1 through the
// shared upstream pool), tunnel CONNECT, relay upgrades. Protocol-neutral: it sees Exchange.
#pragma once

#include <atomic>
#include <memory>

#include "http/exchange.hpp"
#include "http/upstream_pool.hpp"
#include "preview/context_registry.hpp"
#include "preview/log_event.hpp"
#include "preview/rewrite.hpp"
#include "tls/local_ca.hpp"

namespace cmux::preview {

struct HandlerConfig {
  std::string upstream_proxy_url;
  bool enable_http2 = true;
  http::Limits limits;
  LogSink log;
  bool tls_intercept = true;
  std::shared_ptr<tls::LocalCa> ca;      // null: no interception (CONNECTs go through cmux-proxy)
  asio::any_io_executor mint_executor;   // where leaf certificates are minted (off the I/O threads)
};

struct HandlerCounters {
  std::atomic<std::int64_t> active_streams{0};
  std::atomic<std::uint64_t> total_requests{0};
  std::atomic<std::uint64_t> bytes_from_clients{0};
  std::atomic<std::uint64_t> bytes_to_clients{0};
};

class PreviewHandler {
 public:
  PreviewHandler(std::shared_ptr<const HandlerConfig> config, ContextRegistry& contexts, http::UpstreamPool& pool);
  awaitable<void> handle(http::Exchange& ex);
  const HandlerCounters& counters() const { return counters_; }

 private:
  struct Outcome {
    int status = 0;
    std::string error;             // for the log
    std::string via;               // "direct", "h2", "http/1.1", "mitm"
    std::optional<Target> target;  // what the request was for, once known
  };
  // The context and CONNECT target of an intercepted tunnel: requests inside it are bound to
  // them and need no Proxy-Authorization.
  struct Bound {
    std::shared_ptr<const Context> ctx;
    Target target;
    bool tls = false;
  };
  awaitable<void> run(http::Exchange& ex, const Bound* bound);
  awaitable<Outcome> serve(http::Exchange& ex, const std::shared_ptr<const Context>& ctx, const Bound* bound);
  awaitable<Outcome> route(http::Exchange& ex, const std::shared_ptr<const Context>& ctx, const Target& target);
  awaitable<Outcome> intercept(http::Exchange& ex, std::shared_ptr<const Context> ctx, const Target& target);
  awaitable<Outcome> connect_direct(http::Exchange& ex, const Target& target, bool reject_loopback);
  // The answer when forwarding failed (none when the response had begun).
  awaitable<Outcome> answer_failure(http::Exchange& ex, const http::UpstreamFailure& failure);
  http::Origin origin_of(const Rewritten& rw, const Context& ctx) const;
  void log(http::Exchange& ex, const Context* ctx, const Outcome& outcome, bool bound) const;

  std::shared_ptr<const HandlerConfig> config_;
  ContextRegistry& contexts_;
  http::UpstreamPool& pool_;
  HandlerCounters counters_;
};

}  // namespace cmux::preview
