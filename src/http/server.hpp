// http::Server: listeners + accepted connections. Sniffs each connection (TLS / h2
// preface / HTTP/1.1), runs the matching codec loop with the handler, and owns every
// connection so it can drain (GOAWAY, close idle) and terminate them.
#pragma once

#include <atomic>
#include <expected>
#include <functional>
#include <list>
#include <memory>
#include <vector>

#include "http/exchange.hpp"
#include "http/limits.hpp"
#include "http/server_conn.hpp"
#include "net/io_threads.hpp"

namespace cmux::http {

struct ServerOptions {
  Limits limits;
  // The context a TLS connection is accepted with, asked for each one (so it can be built on
  // first use); empty, or a null context: cleartext only.
  std::function<std::shared_ptr<ssl::context>()> tls;
};

// Serves HTTP/1.1 (or HTTP/2 when `h2`) on a transport the caller owns — the inside of an
// intercepted CONNECT tunnel — with the same codecs, limits and timeouts as a listener
// connection. Returns when the connection is finished.
awaitable<void> serve_stream(net::Transport& t, ConnInfo info, const Handler& handler, const Limits& limits, bool h2);

class Server {
 public:
  Server(net::IoThreads& threads, Handler handler, ServerOptions options);
  ~Server();

  // Binds a listener (SO_REUSEADDR; IPv6 listeners are v6-only). Returns the bound endpoint.
  std::expected<tcp::endpoint, error_code> listen(const tcp::endpoint& endpoint);
  // Starts accepting on every listener.
  void start();
  // Graceful: stop accepting, GOAWAY to HTTP/2 clients, close idle HTTP/1.1 connections,
  // let in-flight exchanges finish. Thread-safe.
  void drain();
  // Closes every connection now. Thread-safe.
  void terminate();
  std::size_t active_connections() const { return active_.load(); }
  std::uint64_t total_connections() const { return total_.load(); }

 private:
  struct Worker {
    std::list<ServerConn*> conns;  // touched only on this worker's thread
  };
  awaitable<void> accept_loop(tcp::acceptor& acceptor);
  awaitable<void> run_connection(tcp::socket socket, std::size_t worker);
  awaitable<void> serve(net::Transport& t, ServerConn& conn);

  net::IoThreads& threads_;
  Handler handler_;
  ServerOptions options_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::vector<Worker> workers_;
  std::atomic<std::size_t> next_worker_{0};
  std::atomic<std::size_t> active_{0};
  std::atomic<std::uint64_t> total_{0};
  std::atomic<bool> draining_{false};
  std::atomic<std::uint64_t> next_conn_id_{1};
};

}  // namespace cmux::http
