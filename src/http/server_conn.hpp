// What one accepted connection's protocol loop needs: its identity, the handler, the
// limits, and the server's drain signal. Owned by the connection coroutine.
#pragma once

#include "http/exchange.hpp"
#include "http/limits.hpp"
#include "net/deadline.hpp"
#include "net/transport.hpp"

namespace cmux::http {

struct ServerConn {
  ConnInfo info;
  const Handler& handler;
  const Limits& limits;
  net::Deadline& deadline;
  bool draining = false;                  // set by graceful shutdown
  std::function<void()> on_drain;         // installed by the protocol loop
  std::function<void()> on_timeout;       // the deadline passed; default: close the socket

  // The protocol loop has returned: its hooks point into its frame, which is gone. (The
  // connection stays registered for drain() until its coroutine ends.)
  void forget_protocol() {
    on_drain = nullptr;
    on_timeout = nullptr;
  }
};

// Runs alongside a connection's protocol loop until `done`: when the deadline passes, HTTP/2
// says goodbye with a GOAWAY (on_timeout), anything else (or a draining server) just closes.
awaitable<void> watch_deadline(ServerConn& conn, net::Transport& transport, const bool& done);

// The protocol loops. They return when the connection is finished.
awaitable<void> serve_http1(net::Transport& transport, ServerConn& conn);
awaitable<void> serve_http2(net::Transport& transport, ServerConn& conn);

}  // namespace cmux::http
