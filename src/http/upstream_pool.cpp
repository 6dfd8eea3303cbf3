#include "http/upstream_pool.hpp"

#include <spdlog/spdlog.h>

#include "net/connect.hpp"
#include "net/hop.hpp"
#include "tls/client_context.hpp"

namespace cmux::http {

namespace {
constexpr std::string_view kAlpnH2AndH1 = "\x02h2\x08http/1.1";
constexpr std::string_view kAlpnH1 = "\x08http/1.1";
}  // namespace

std::string Origin::key() const { return (tls ? "https://" : "http://") + net::format_authority(host, port); }

UpstreamPool::UpstreamPool(net::IoThreads& threads, UpstreamPoolOptions options, UpstreamCounters& counters)
    : options_(std::move(options)), counters_(counters), home_(threads.context(0).get_executor()) {
  workers_.reserve(threads.size());
  for (std::size_t i = 0; i < threads.size(); ++i) workers_.push_back(Worker{H1Pool(options_.h1_max_idle)});
}

awaitable<std::expected<std::unique_ptr<UpstreamConn>, error_code>> UpstreamPool::connect_tcp(const std::string& host,
                                                                                             std::uint16_t port,
                                                                                             bool reject_loopback) {
  std::string key = net::format_authority(host, port);
  std::string to_host = host;
  std::uint16_t to_port = port;
  if (auto it = options_.resolve.find(key); it != options_.resolve.end()) {
    to_host = it->second.first;  // configured overrides are trusted, loopback or not
    to_port = it->second.second;
    reject_loopback = false;
  }
  auto socket = co_await net::connect_tcp(to_host, to_port, options_.limits.upstream_connect, reject_loopback);
  if (!socket) {
    counters_.connect_errors.fetch_add(1, std::memory_order_relaxed);
    co_return std::unexpected(socket.error());
  }
  counters_.connects.fetch_add(1, std::memory_order_relaxed);
  co_return std::make_unique<UpstreamConn>(std::move(*socket), key);
}

awaitable<std::expected<std::unique_ptr<UpstreamConn>, std::string>> UpstreamPool::open(const Origin& origin,
                                                                                      std::string_view alpn) {
  auto conn = co_await connect_tcp(origin.host, origin.port, origin.reject_loopback);
  if (!conn) co_return std::unexpected(conn.error().message());
  (*conn)->key = origin.key();
  if (!origin.tls) co_return std::move(*conn);
  auto ctx = options_.tls ? options_.tls->get() : nullptr;
  if (!ctx) co_return std::unexpected("TLS upstreams are not configured");
  const std::string& name = origin.host;
  auto ec = co_await (*conn)->t.connect_tls(*ctx, [&](SSL* ssl) { return tls::prepare_client(ssl, name, alpn); });
  if (ec) {
    counters_.connect_errors.fetch_add(1, std::memory_order_relaxed);
    co_return std::unexpected("TLS handshake with " + origin.key() + " failed: " + ec.message());
  }
  co_return std::move(*conn);
}

awaitable<std::expected<std::shared_ptr<H2Client>, UpstreamPool::SessionError>> UpstreamPool::session(
    const Origin& origin) {
  auto [it, inserted] = origins_.try_emplace(origin.key());
  OriginState& st = it->second;
  if (!st.connected) st.connected = std::make_unique<net::Event>(co_await asio::this_coro::executor);
  // Requests that arrive while the session is being set up wait for it: one connection.
  for (;;) {
    if (st.session && st.session->usable()) co_return st.session;
    if (std::chrono::steady_clock::now() < st.h1_only_until) co_return std::unexpected(SessionError{true, nullptr, {}});
    if (!st.connecting) break;
    co_await st.connected->wait();
  }
  st.connecting = true;
  st.session.reset();
  struct Done {
    OriginState& st;
    ~Done() {
      st.connecting = false;
      st.connected->notify();
    }
  } done{st};

  auto conn = co_await open(origin, origin.tls ? kAlpnH2AndH1 : std::string_view{});
  if (!conn) co_return std::unexpected(SessionError{false, nullptr, conn.error()});
  auto remember_h1 = [&] { st.h1_only_until = std::chrono::steady_clock::now() + options_.h1_only_for; };
  if (origin.tls && (*conn)->t.alpn() != "h2") {
    remember_h1();  // ALPN chose http/1.1: use this very connection for it
    spdlog::debug("upstream {} does not offer h2 (ALPN), using HTTP/1.1", origin.key());
    co_return std::unexpected(SessionError{true, std::move(*conn), {}});
  }
  auto key = origin.key();
  auto* counters = &counters_;
  counters_.sessions.fetch_add(1, std::memory_order_relaxed);  // on_end takes it back
  auto client = co_await H2Client::start(std::move(*conn), options_.h2, [counters] {
    counters->sessions.fetch_sub(1, std::memory_order_relaxed);
  });
  if (!client) {
    // Session start failures end the session too (its on_end ran): nothing to undo.
    remember_h1();
    spdlog::debug("upstream {} did not complete the HTTP/2 handshake ({}), using HTTP/1.1", key, client.error().message());
    co_return std::unexpected(SessionError{true, nullptr, {}});
  }
  st.session = *client;
  co_return std::move(*client);
}

awaitable<std::expected<ForwardResult, UpstreamFailure>> UpstreamPool::forward(Exchange& ex, const Origin& origin,
                                                                               const RequestHead& req) {
  // Upgrades stay on HTTP/1.1 (no RFC 8441 upstream yet); everything else may multiplex.
  if (origin.h2 && req.upgrade.empty()) return forward_on_h2(ex, origin, req);
  return forward_on_h1(ex, workers_[ex.conn().worker], origin, req, nullptr);
}

awaitable<std::expected<ForwardResult, UpstreamFailure>> UpstreamPool::forward_on_h2(Exchange& ex,
                                                                                     const Origin& origin,
                                                                                     const RequestHead& req) {
  std::unique_ptr<UpstreamConn> spare;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto s = co_await net::run_on(home_, [&] { return session(origin); });
    if (!s) {
      if (!s.error().h1_only) co_return std::unexpected(UpstreamFailure{s.error().reason, false, false});
      // The connection ALPN gave us belongs to the home thread: reuse it only there.
      if (ex.conn().worker == 0) spare = std::move(s.error().h1_conn);
      break;
    }
    auto result = co_await forward_h2(ex, std::move(*s), req, options_.limits);
    // Retry only what the upstream never processed and the client never saw.
    if (result || !result.error().nothing_received || ex.head_sent()) co_return result;
    spdlog::debug("upstream {}: {}; retrying", origin.key(), result.error().reason);
  }
  co_return co_await forward_on_h1(ex, workers_[ex.conn().worker], origin, req, std::move(spare));
}

awaitable<std::expected<ForwardResult, UpstreamFailure>> UpstreamPool::forward_on_h1(
    Exchange& ex, Worker& w, const Origin& origin, const RequestHead& req, std::unique_ptr<UpstreamConn> spare) {
  std::string key = origin.key();
  // A pooled connection may have been closed by the upstream just now: a bodiless request
  // that got no byte back is retried once on a fresh connection.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<UpstreamConn> conn = std::move(spare);
    if (!conn && req.upgrade.empty() && !req.is_connect()) conn = w.h1.take(key);
    if (!conn) {
      auto fresh = co_await open(origin, origin.tls ? kAlpnH1 : std::string_view{});
      if (!fresh) co_return std::unexpected(UpstreamFailure{fresh.error(), false, false});
      conn = std::move(*fresh);
    }
    auto result = co_await forward_h1(ex, *conn, req, options_.limits);
    if (result) {
      if (result->reusable) w.h1.put(std::move(conn));
      co_return result;
    }
    bool retry = conn->reused && result.error().nothing_received && !req.has_body && !ex.head_sent();
    if (!retry) co_return result;
  }
  co_return std::unexpected(UpstreamFailure{"upstream closed the connection", false, false});
}

void UpstreamPool::close_sessions() {
  for (auto& [key, st] : origins_) {
    if (st.session) st.session->shutdown(true);
    st.session.reset();
  }
}

}  // namespace cmux::http
