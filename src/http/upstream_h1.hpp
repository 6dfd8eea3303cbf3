// The HTTP/1.1 upstream side, shared by both proxies: an idle keep-alive pool per worker
// and forward_h1(), which carries one Exchange over one upstream connection (streaming
// both bodies, trailers, upgrades → relay).
#pragma once

#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/exchange.hpp"
#include "http/limits.hpp"
#include "net/transport.hpp"

namespace cmux::http {

struct UpstreamConn {
  explicit UpstreamConn(tcp::socket s, std::string k) : t(std::move(s)), key(std::move(k)) {}
  net::Transport t;
  std::string in;   // bytes read but not yet parsed
  std::string key;  // pool key (host:port)
  bool reused = false;
  std::chrono::steady_clock::time_point idle_since;
};

// Idle keep-alive connections per origin. One per worker thread: no locking.
class H1Pool {
 public:
  explicit H1Pool(std::size_t max_idle_per_origin = 64, std::chrono::seconds idle_timeout = std::chrono::seconds(60))
      : max_idle_(max_idle_per_origin), idle_timeout_(idle_timeout) {}
  // A live idle connection for `key`, or null.
  std::unique_ptr<UpstreamConn> take(const std::string& key);
  void put(std::unique_ptr<UpstreamConn> conn);

 private:
  std::size_t max_idle_;
  std::chrono::seconds idle_timeout_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConn>>> idle_;
};

struct UpstreamFailure {
  std::string reason;             // "connection refused", "invalid response", ...
  bool response_started = false;  // the client already got part of the response
  bool nothing_received = false;  // the upstream sent no byte: safe to retry a bodiless request
  int status = 502;               // 400 when the client's own request body was malformed
};

// The request body could not be read from the client: 400 when it was malformed (bad chunk
// framing), else 499 (the client went away).
UpstreamFailure client_body_failure(const error_code& ec);

struct ForwardResult {
  int status = 0;
  bool reusable = false;  // the upstream connection may go back to the pool
  bool tunneled = false;
  bool h2 = false;  // carried by an HTTP/2 upstream stream
};

// Sends `upstream_req` (already routed and stripped) on `up` with the exchange's request
// body, then relays the response (or a 101 upgrade) to the exchange. A plain CONNECT sent to a
// proxy upstream: a 2xx answer opens a tunnel that is relayed; anything else is a failure.
awaitable<std::expected<ForwardResult, UpstreamFailure>> forward_h1(Exchange& ex, UpstreamConn& up,
                                                                    const RequestHead& upstream_req,
                                                                    const Limits& limits);

// Serializes an HTTP/1.1 request head (Host first, then fields, then framing).
std::string serialize_request_head(const RequestHead& req, bool& chunked_body);

}  // namespace cmux::http
