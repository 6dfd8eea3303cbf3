#include "http/server.hpp"

#include <spdlog/spdlog.h>

#include "net/connect.hpp"
#include "net/sniff.hpp"

namespace cmux::http {

Server::Server(net::IoThreads& threads, Handler handler, ServerOptions options)
    : threads_(threads), handler_(std::move(handler)), options_(std::move(options)), workers_(threads.size()) {}

Server::~Server() = default;

std::expected<tcp::endpoint, error_code> Server::listen(const tcp::endpoint& endpoint) {
  auto acceptor = std::make_unique<tcp::acceptor>(threads_.context(0));
  error_code ec;
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && endpoint.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return std::unexpected(ec);
  auto bound = acceptor->local_endpoint(ec);
  if (ec) return std::unexpected(ec);
  acceptors_.push_back(std::move(acceptor));
  return bound;
}

void Server::start() {
  for (auto& a : acceptors_) asio::co_spawn(threads_.context(0), accept_loop(*a), asio::detached);
}

awaitable<void> Server::accept_loop(tcp::acceptor& acceptor) {
  while (!draining_) {
    std::size_t worker = next_worker_++ % threads_.size();
    auto [ec, socket] = co_await acceptor.async_accept(threads_.context(worker), use_nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
        // fd exhaustion: back off instead of spinning
        asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(50));
        co_await t.async_wait(use_nothrow);
      }
      continue;
    }
    if (active_.load() >= options_.limits.max_connections) {
      spdlog::warn("connection limit {} reached, refusing a connection", options_.limits.max_connections);
      error_code ignore;
      socket.close(ignore);
      continue;
    }
    ++active_;
    ++total_;
    asio::co_spawn(threads_.context(worker), run_connection(std::move(socket), worker), asio::detached);
  }
}

awaitable<void> Server::run_connection(tcp::socket socket, std::size_t worker) {
  using namespace asio::experimental::awaitable_operators;
  auto ex = co_await asio::this_coro::executor;
  error_code ec;
  auto peer = socket.remote_endpoint(ec);
  net::Transport transport(std::move(socket));
  net::Deadline deadline(ex);
  ServerConn conn{ConnInfo{next_conn_id_++, worker, ec ? std::string("?") : net::format_authority(peer.address().to_string(), peer.port()), false, nullptr}, handler_,
                  options_.limits, deadline, false, {}, {}};
  auto& registry = workers_[worker].conns;
  auto self = registry.insert(registry.end(), &conn);
  if (draining_) conn.draining = true;

  bool done = false;
  auto body = [&]() -> awaitable<void> {
    co_await serve(transport, conn);
    conn.forget_protocol();
    done = true;
    deadline.stop();
  };
  co_await (body() && watch_deadline(conn, transport, done));
  registry.erase(self);
  transport.close();
  --active_;
}

awaitable<void> Server::serve(net::Transport& t, ServerConn& conn) {
  conn.deadline.expires_after(options_.limits.first_bytes);
  auto kind = co_await net::sniff(t);
  if (!kind) co_return;
  if (*kind == net::Sniffed::tls) {
    auto ctx = options_.tls ? options_.tls() : nullptr;
    if (!ctx) co_return;
    if (auto ec = co_await t.accept_tls(*ctx)) {
      spdlog::debug("[C{}] TLS handshake failed: {}", conn.info.id, ec.message());
      co_return;
    }
    conn.info.tls = true;
    if (t.alpn() != "h2") {
      kind = co_await net::sniff(t);  // no ALPN: prior knowledge inside TLS still works
      if (!kind) co_return;
    } else {
      kind = net::Sniffed::http2;
    }
  }
  if (*kind == net::Sniffed::http2) co_await serve_http2(t, conn);
  else co_await serve_http1(t, conn);
}

awaitable<void> serve_stream(net::Transport& t, ConnInfo info, const Handler& handler, const Limits& limits, bool h2) {
  using namespace asio::experimental::awaitable_operators;
  net::Deadline deadline(co_await asio::this_coro::executor);
  ServerConn conn{std::move(info), handler, limits, deadline, false, {}, {}};
  bool done = false;
  auto body = [&]() -> awaitable<void> {
    if (h2) co_await serve_http2(t, conn);
    else co_await serve_http1(t, conn);
    conn.forget_protocol();
    done = true;
    deadline.stop();
  };
  co_await (body() && watch_deadline(conn, t, done));
}

awaitable<void> watch_deadline(ServerConn& conn, net::Transport& transport, const bool& done) {
  co_await conn.deadline.run();
  if (done) co_return;
  spdlog::debug("[C{}] timeout, closing", conn.info.id);
  if (conn.on_timeout && !conn.draining) conn.on_timeout();
  else transport.close();
}

void Server::drain() {
  draining_ = true;
  for (auto& a : acceptors_) {
    asio::post(threads_.context(0), [a = a.get()] {
      error_code ec;
      a->close(ec);
    });
  }
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    asio::post(threads_.context(i), [this, i] {
      for (auto* c : workers_[i].conns) {
        c->draining = true;
        if (c->on_drain) c->on_drain();
        else c->deadline.set(net::Deadline::Clock::now());  // still silent: nothing in flight
      }
    });
  }
}

void Server::terminate() {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    asio::post(threads_.context(i), [this, i] {
      for (auto* c : workers_[i].conns) {
        c->draining = true;
        c->deadline.set(net::Deadline::Clock::now());  // the watchdog closes it
      }
    });
  }
}

}  // namespace cmux::http
