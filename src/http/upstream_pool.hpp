// UpstreamPool: how both proxies reach an origin. Per I/O thread: an idle HTTP/1.1 keep-alive
// pool. For the whole pool: at most one HTTP/2 session per origin, on the first I/O thread (the
// "home"), used from every thread (net::run_on). Connects (with `resolve` overrides and TLS), chooses
// HTTP/2 or HTTP/1.1, remembers HTTP/1.1-only origins, and retries only while nothing of the
// response reached the client. Reconnect and fallback live here and nowhere else.
#pragma once

#include <atomic>
#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/exchange.hpp"
#include "http/limits.hpp"
#include "http/upstream_h1.hpp"
#include "http/upstream_h2.hpp"
#include "net/io_threads.hpp"
#include "tls/client_context.hpp"

namespace cmux::http {

struct Origin {
  bool tls = false;
  std::string host;  // name or IP literal (IPv6 without brackets); also the SNI / verified name
  std::uint16_t port = 0;
  bool h2 = false;  // try HTTP/2 (TLS: ALPN h2; cleartext: prior knowledge)
  bool reject_loopback = false;  // a name resolving to loopback is refused (see net::connect_tcp)

  std::string key() const;  // "https://host:port"
};

struct UpstreamCounters {
  std::atomic<std::uint64_t> connects{0};        // TCP connections opened
  std::atomic<std::uint64_t> connect_errors{0};  // TCP connect or TLS handshake failures
  std::atomic<std::int64_t> sessions{0};         // live HTTP/2 sessions
};

struct UpstreamPoolOptions {
  Limits limits;
  std::shared_ptr<tls::ClientContext> tls;  // null: no TLS upstreams
  // Connect overrides: "host:port" (lower-case, IPv6 bracketed) -> {ip, port}.
  std::unordered_map<std::string, std::pair<std::string, std::uint16_t>> resolve;
  std::size_t h1_max_idle = 256;
  std::chrono::seconds h1_only_for = std::chrono::minutes(5);
  H2Client::Options h2;
};

class UpstreamPool {
 public:
  UpstreamPool(net::IoThreads& threads, UpstreamPoolOptions options, UpstreamCounters& counters);

  // Sends the exchange's request (`req`: already rewritten and stripped; authority = what
  // the origin must see) to `origin` and relays the response, an upgrade or a CONNECT
  // tunnel. Failures before the response leave the exchange untouched for the caller to
  // answer; after it started, the exchange is aborted. Not a coroutine itself (one frame less
  // per request): it returns the coroutine that does the work, which starts when awaited, so
  // `origin` and `req` must be the caller's named objects, never temporaries.
  awaitable<std::expected<ForwardResult, UpstreamFailure>> forward(Exchange& ex, const Origin& origin,
                                                                   const RequestHead& req);

  // A new TCP connection (`resolve` applied), for raw tunnels.
  awaitable<std::expected<std::unique_ptr<UpstreamConn>, error_code>> connect_tcp(const std::string& host,
                                                                                  std::uint16_t port,
                                                                                  bool reject_loopback = false);

  // Closes every HTTP/2 session (call on the home thread: the first I/O thread).
  void close_sessions();

 private:
  struct OriginState {
    std::shared_ptr<H2Client> session;
    bool connecting = false;
    std::unique_ptr<net::Event> connected;  // wakes requests waiting for `connecting`
    std::chrono::steady_clock::time_point h1_only_until{};
  };
  struct Worker {
    H1Pool h1;
  };
  struct SessionError {
    bool h1_only = false;                   // the origin does not speak HTTP/2
    std::unique_ptr<UpstreamConn> h1_conn;  // a TLS connection that negotiated http/1.1
    std::string reason;
  };

  awaitable<std::expected<std::unique_ptr<UpstreamConn>, std::string>> open(const Origin& origin,
                                                                           std::string_view alpn);
  // Runs on the home thread.
  awaitable<std::expected<std::shared_ptr<H2Client>, SessionError>> session(const Origin& origin);
  // HTTP/2 first, falling back to HTTP/1.1 for an origin that does not speak it.
  awaitable<std::expected<ForwardResult, UpstreamFailure>> forward_on_h2(Exchange& ex, const Origin& origin,
                                                                         const RequestHead& req);
  awaitable<std::expected<ForwardResult, UpstreamFailure>> forward_on_h1(Exchange& ex, Worker& w,
                                                                         const Origin& origin,
                                                                         const RequestHead& req,
                                                                         std::unique_ptr<UpstreamConn> spare);

  UpstreamPoolOptions options_;
  UpstreamCounters& counters_;
  std::vector<Worker> workers_;
  asio::any_io_executor home_;
  std::unordered_map<std::string, OriginState> origins_;  // home thread only; node-based
};

}  // namespace cmux::http
