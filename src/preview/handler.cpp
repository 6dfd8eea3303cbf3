#include "preview/handler.hpp"

#include <chrono>
#include <exception>

#include "http/server.hpp"
#include "net/connect.hpp"
#include "net/hop.hpp"
#include "net/sniff.hpp"
#include "net/relay.hpp"
#include "preview/url.hpp"
#include "tls/client_hello.hpp"

namespace cmux::preview {

namespace {

constexpr std::string_view kRealm = "Basic realm=\"Cmux Preview Proxy\"";

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && http::iequals(s.substr(s.size() - suffix.size()), suffix);
}

// The request's target: absolute-form (HTTP/1.1 proxy request), authority-form (CONNECT), or
// HTTP/2's :scheme + :authority + :path. An origin-form request is not a proxy request.
std::optional<Target> target_of(const http::RequestHead& req) {
  if (req.is_connect()) return parse_connect_target(req.target);
  if (req.absolute_form) return target_from_url(req.target);
  if (req.version == http::Version::http2 && !req.scheme.empty() && !req.authority.empty()) {
    // RFC 8441 streams carry :scheme https/http for a WebSocket; keep them as they are.
    return target_from_url(req.scheme + "://" + req.authority + req.target);
  }
  return std::nullopt;
}

// A request inside an intercepted tunnel: origin-form (or HTTP/2 :path) for the tunnel's own
// host and port; the Host / :authority the page sends cannot point it elsewhere.
std::optional<Target> target_in_tunnel(const http::RequestHead& req, const Target& tunnel, bool tls) {
  std::string path = req.target;
  if (req.absolute_form) {
    auto url = target_from_url(req.target);
    if (!url) return std::nullopt;
    path = url->path;
  }
  if (path.empty() || path.front() != '/') return std::nullopt;
  return Target{tls ? "https" : "http", tunnel.host, tunnel.port, std::move(path)};
}

// Path without the query string: queries may carry tokens, logs must not.
std::string log_path(std::string_view path) { return std::string(path.substr(0, path.find('?'))); }

}  // namespace

PreviewHandler::PreviewHandler(std::shared_ptr<const HandlerConfig> config, ContextRegistry& contexts,
                               http::UpstreamPool& pool)
    : config_(std::move(config)), contexts_(contexts), pool_(pool) {}

// A plain function, not a coroutine: no frame of its own per request (`ex` is the caller's).
awaitable<void> PreviewHandler::handle(http::Exchange& ex) { return run(ex, nullptr); }

awaitable<void> PreviewHandler::run(http::Exchange& ex, const Bound* bound) {
  counters_.active_streams.fetch_add(1, std::memory_order_relaxed);
  counters_.total_requests.fetch_add(1, std::memory_order_relaxed);
  auto& req = ex.request();
  auto auth = http::find_field(req.fields, "proxy-authorization");
  std::shared_ptr<const Context> ctx;
  if (bound) {
    ctx = bound->ctx;
  } else if (auth) {
    auto& memo = ex.conn().handler_memo;
    if (!memo) memo = std::make_shared<AuthMemo>();
    ctx = contexts_.authenticate(*auth, *static_cast<AuthMemo*>(memo.get()));
  }
  Outcome outcome;
  std::exception_ptr failure;
  if (!ctx) {
    // Every path (plain, CONNECT, upgrade) gets the same answer; the connection stays usable
    // so the client can retry with credentials.
    outcome.status = 407;
    outcome.error = auth ? "invalid proxy credentials" : "missing proxy credentials";
    http::Fields challenge{{"proxy-authenticate", std::string(kRealm)}};  // named: see handler.cpp of cmux-proxy
    co_await http::respond_text(ex, 407, "Proxy Authentication Required", std::move(challenge));
  } else {
    // A stream the HTTP/2 client resets (an EventSource closed by the page, a navigation away)
    // cancels this coroutine, and the HTTP/2 upstream path unwinds with operation_aborted. The
    // bookkeeping below must run all the same (else the request is never logged and
    // active_streams never comes down); the exception then goes on to the protocol loop.
    try {
      outcome = co_await serve(ex, ctx, bound);
    } catch (const boost::system::system_error& e) {
      failure = std::current_exception();
      outcome.error = e.code().message();
    } catch (const std::exception& e) {
      failure = std::current_exception();
      outcome.error = e.what();
    }
    if (failure) {
      outcome.status = ex.head_sent() ? ex.status() : 499;
      outcome.target = bound && !req.is_connect() ? target_in_tunnel(req, bound->target, bound->tls) : target_of(req);
    }
  }
  counters_.bytes_from_clients.fetch_add(ex.stats.request_body_bytes, std::memory_order_relaxed);
  counters_.bytes_to_clients.fetch_add(ex.stats.response_body_bytes, std::memory_order_relaxed);
  counters_.active_streams.fetch_sub(1, std::memory_order_relaxed);
  if (config_->log) log(ex, ctx.get(), outcome, bound != nullptr);
  if (failure) std::rethrow_exception(failure);
}

http::Origin PreviewHandler::origin_of(const Rewritten& rw, const Context& ctx) const {
  const Target& to = rw.connect_to;
  bool tls = to.scheme == "https" || to.scheme == "wss";
  // HTTP/2 for secure cmux-proxy origins and the cloud edge; cleartext only for the configured
  // upstreamProxyUrl (prior knowledge), which is known to be a cmux-proxy.
  bool via_upstream_proxy = rw.rewritten && ctx.route && ctx.route->cmux_proxy_origin.empty() &&
                            !config_->upstream_proxy_url.empty();
  bool h2 = config_->enable_http2 &&
            (tls ? (rw.rewritten || ends_with_ci(to.host, ".http.cloud.morph.so")) : via_upstream_proxy);
  // A routed context's non-loopback names must not resolve to this machine either.
  bool reject_loopback = ctx.route && !rw.rewritten;
  return http::Origin{tls, to.host, to.port, h2, reject_loopback};
}

awaitable<PreviewHandler::Outcome> PreviewHandler::serve(http::Exchange& ex, const std::shared_ptr<const Context>& ctx,
                                                          const Bound* bound) {
  const auto& req = ex.request();
  auto target = bound && !req.is_connect() ? target_in_tunnel(req, bound->target, bound->tls) : target_of(req);
  if (!target) {
    co_await http::respond_text(ex, 400, "Bad Request");
    co_return Outcome{400, "unparsable request target", {}, std::nullopt};
  }
  Outcome outcome = co_await route(ex, ctx, *target);
  outcome.target = std::move(target);
  co_return outcome;
}

awaitable<PreviewHandler::Outcome> PreviewHandler::route(http::Exchange& ex,
                                                          const std::shared_ptr<const Context>& ctx_ptr,
                                                          const Target& target) {
  const Context& ctx = *ctx_ptr;
  auto& req = ex.request();
  auto rw = rewrite(target, ctx.route, config_->upstream_proxy_url);
  if (!rw) {
    co_await http::respond_text(ex, 502, "Bad Gateway");
    co_return Outcome{502, rw.error().message, {}, std::nullopt};
  }
  if (req.is_connect()) {
    // Unrouted contexts and non-loopback hosts: a direct byte tunnel to the target.
    if (!rw->rewritten) co_return co_await connect_direct(ex, target, ctx.route.has_value());
    // A routed loopback host: TLS interception when it is on (SPEC §3), else a CONNECT to the
    // cmux-proxy origin carrying the routing headers (an HTTP/2 CONNECT stream when that
    // session is HTTP/2).
    if (config_->tls_intercept && config_->ca) co_return co_await intercept(ex, ctx_ptr, target);
  }
  const http::Origin origin = origin_of(*rw, ctx);
  http::RequestHead up;
  if (req.is_connect()) {
    up.method = "CONNECT";
    up.authority = format_host_port(origin.host, origin.port);
    up.target = up.authority;
    up.fields = rw->add_headers;
    up.version = req.version;
  } else {
    up = http::take_for_upstream(req);
    strip_client_internal_headers(up.fields);
    http::strip_hop_by_hop(up.fields, origin.h2);  // Proxy-Authorization never leaves the proxy
    for (const auto& f : rw->add_headers) up.fields.push_back(f);
    up.authority = rw->authority;
    up.target = rw->connect_to.path;
    up.scheme = origin.tls ? "https" : "http";
    up.absolute_form = false;
  }
  // Forwarded from this frame (a coroutine of its own cost a frame per request).
  auto result = co_await pool_.forward(ex, origin, up);
  if (result) co_return Outcome{result->status, {}, result->h2 ? "h2" : "http/1.1", std::nullopt};
  co_return co_await answer_failure(ex, result.error());
}

awaitable<PreviewHandler::Outcome> PreviewHandler::answer_failure(http::Exchange& ex,
                                                                  const http::UpstreamFailure& failure) {
  if (failure.response_started || ex.head_sent()) co_return Outcome{ex.status(), failure.reason, {}, std::nullopt};
  if (failure.status == 499) co_return Outcome{499, failure.reason, {}, std::nullopt};
  int status = failure.status == 400 ? 400 : 502;
  co_await http::respond_text(ex, status, http::reason_phrase(status));
  co_return Outcome{status, failure.reason, {}, std::nullopt};
}

awaitable<PreviewHandler::Outcome> PreviewHandler::connect_direct(http::Exchange& ex, const Target& target,
                                                                  bool reject_loopback) {
  // Connect first: a 200 is only ever sent for a tunnel that exists.
  auto conn = co_await pool_.connect_tcp(target.host, target.port, reject_loopback);
  if (!conn) {
    co_await http::respond_text(ex, 502, "Bad Gateway");
    co_return Outcome{502, conn.error().message(), "direct", std::nullopt};
  }
  http::ResponseHead head;
  head.status = 200;
  if (co_await ex.send_head(head, false)) co_return Outcome{200, "client went away", "direct", std::nullopt};
  auto stats = co_await net::relay(ex.tunnel(), (*conn)->t, config_->limits.tunnel_idle);
  ex.stats.request_body_bytes += stats.a_to_b;
  ex.stats.response_body_bytes += stats.b_to_a;
  co_return Outcome{200, {}, "direct", std::nullopt};
}

namespace {

awaitable<std::expected<std::shared_ptr<ssl::context>, std::string>> mint(tls::LocalCa& ca, std::string host) {
  co_return ca.context_for(host);
}

// Reads the first bytes of the tunnel into `seen` until the ClientHello parser decides:
// bounded by 16 KiB and the first-bytes timeout.
awaitable<std::optional<tls::HelloResult>> classify(net::Transport& t, std::string& seen, std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(limit);
  std::array<char, 4096> buf;
  for (;;) {
    auto raced = co_await (t.read_some(buf) || timer.async_wait(use_nothrow_awaitable));
    if (raced.index() == 1) co_return std::nullopt;
    auto [ec, n] = std::get<0>(raced);
    if (ec || n == 0) co_return std::nullopt;
    seen.append(buf.data(), n);
    auto result = tls::parse_client_hello({reinterpret_cast<const std::uint8_t*>(seen.data()), seen.size()});
    if (!std::holds_alternative<tls::NeedMore>(result)) co_return result;
    if (seen.size() > 16 * 1024) co_return std::nullopt;
  }
}

}  // namespace

awaitable<PreviewHandler::Outcome> PreviewHandler::intercept(http::Exchange& ex, std::shared_ptr<const Context> ctx,
                                                             const Target& target) {
  http::ResponseHead established;
  established.status = 200;
  if (co_await ex.send_head(established, false)) co_return Outcome{200, "client went away", "mitm", std::nullopt};
  auto executor = co_await asio::this_coro::executor;
  net::Transport inner(ex.tunnel(), executor);
  std::string seen;
  auto kind = co_await classify(inner, seen, config_->limits.first_bytes);
  if (!kind) {
    inner.close();
    co_return Outcome{200, "tunnel closed or silent before its first request", "mitm", std::nullopt};
  }
  inner.unread(seen);
  Bound bound{std::move(ctx), target, std::holds_alternative<tls::ClientHello>(*kind)};
  bool h2 = false;
  if (bound.tls) {
    // Minting a leaf is a few hundred microseconds of CPU: done on the minting thread, not here.
    auto leaf = co_await net::run_on(config_->mint_executor, [&] { return mint(*config_->ca, target.host); });
    if (!leaf) {
      inner.close();
      co_return Outcome{200, "no certificate for " + target.host + ": " + leaf.error(), "mitm", std::nullopt};
    }
    if (auto ec = co_await inner.accept_tls(**leaf)) {
      co_return Outcome{200, "TLS handshake with the client failed: " + ec.message(), "mitm", std::nullopt};
    }
    h2 = inner.alpn() == "h2";
  } else {
    auto sniffed = co_await net::sniff(inner);  // plain HTTP/1.1, or h2c prior knowledge
    if (!sniffed) co_return Outcome{200, "tunnel closed before its first request", "mitm", std::nullopt};
    h2 = *sniffed == net::Sniffed::http2;
  }
  http::ConnInfo info = ex.conn();
  info.tls = bound.tls;
  info.handler_memo.reset();  // requests in the tunnel use `bound`; the memo is the outer connection's
  const http::Handler bound_handler = [this, &bound](http::Exchange& inner_ex) { return run(inner_ex, &bound); };
  co_await http::serve_stream(inner, info, bound_handler, config_->limits, h2);
  co_return Outcome{200, {}, "mitm", std::nullopt};
}

void PreviewHandler::log(http::Exchange& ex, const Context* ctx, const Outcome& outcome, bool bound) const {
  const auto& req = ex.request();
  LogEvent e;
  e.event = req.is_connect() ? "connect-request" : !req.upgrade.empty() ? "upgrade-request" : "http-request";
  if (outcome.via == "h2" && e.event == "http-request") e.event = "http2-forward";
  if (outcome.via == "mitm") e.event = "connect-mitm";
  auto& f = e.fields;
  f.emplace_back("conn", static_cast<std::int64_t>(ex.conn().id));
  if (ex.stream_id()) f.emplace_back("stream", static_cast<std::int64_t>(ex.stream_id()));
  f.emplace_back("protocol", std::string(req.version == http::Version::http2 ? "h2" : "http/1.1"));
  f.emplace_back("method", req.method);
  if (outcome.target) {
    f.emplace_back("host", outcome.target->host);
    f.emplace_back("port", static_cast<std::int64_t>(outcome.target->port));
    if (!req.is_connect()) f.emplace_back("path", log_path(outcome.target->path));
  }
  if (bound) f.emplace_back("intercepted", true);
  if (ctx) {
    f.emplace_back("contextId", ctx->id);
    f.emplace_back("webContentsId", static_cast<std::int64_t>(ctx->web_contents_id));
    f.emplace_back("routed", ctx->route.has_value());
  }
  f.emplace_back("status", static_cast<std::int64_t>(outcome.status));
  if (!outcome.via.empty()) f.emplace_back("upstream", outcome.via);
  f.emplace_back("bytesIn", static_cast<std::int64_t>(ex.stats.request_body_bytes));
  f.emplace_back("bytesOut", static_cast<std::int64_t>(ex.stats.response_body_bytes));
  using namespace std::chrono;
  f.emplace_back("durationUs", static_cast<std::int64_t>(
                                   duration_cast<microseconds>(steady_clock::now() - ex.stats.started).count()));
  if (!outcome.error.empty()) f.emplace_back("error", outcome.error);
  config_->log(e);
}

}  // namespace cmux::preview
