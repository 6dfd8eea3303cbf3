// Deadline: one cheap timer per connection. Phases (first bytes, headers, idle) move the
// expiry; run() returns when it passes, and the caller closes the connection.
#pragma once

#include <chrono>

#include "net/asio.hpp"

namespace cmux::net {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Deadline(const asio::any_io_executor& ex) : timer_(ex) {}

  void expires_after(std::chrono::milliseconds d) { set(Clock::now() + d); }
  void clear() { set(Clock::time_point::max()); }
  // Makes run() return now (the connection is finished).
  void stop() { set(Clock::time_point::min()); }
  void set(Clock::time_point t) {
    bool earlier = t < expiry_;
    expiry_ = t;
    if (earlier) timer_.cancel();
  }

  // Completes when the deadline has passed or stop() was called.
  awaitable<void> run() {
    for (;;) {
      if (Clock::now() >= expiry_) co_return;
      timer_.expires_at(expiry_);
      auto [ec] = co_await timer_.async_wait(use_nothrow);
      (void)ec;
    }
  }
  bool stopped() const { return expiry_ == Clock::time_point::min(); }

 private:
  asio::steady_timer timer_;
  Clock::time_point expiry_ = Clock::time_point::max();
};

}  // namespace cmux::net
