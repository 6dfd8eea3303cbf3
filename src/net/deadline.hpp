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
  // Moving the expiry is the per-request hot path (every phase and every write moves it), so it
  // touches the timer only when the new expiry comes before the time the timer is armed for;
  // otherwise the timer wakes at its old time, sees the expiry has moved, and re-arms.
  void set(Clock::time_point t) {
    expiry_ = t;
    if (t < armed_) timer_.cancel();
  }

  // Completes when the deadline has passed or stop() was called.
  awaitable<void> run() {
    for (;;) {
      auto now = Clock::now();
      if (now >= expiry_) co_return;
      // No deadline: look again after a while, so that the next set() rarely re-arms.
      armed_ = expiry_ == Clock::time_point::max() ? now + kHeartbeat : expiry_;
      timer_.expires_at(armed_);
      auto [ec] = co_await timer_.async_wait(use_nothrow);
      (void)ec;
      armed_ = Clock::time_point::min();  // not armed: the next set() need not cancel
    }
  }
  bool stopped() const { return expiry_ == Clock::time_point::min(); }

 private:
  static constexpr std::chrono::seconds kHeartbeat{60};
  asio::steady_timer timer_;
  Clock::time_point expiry_ = Clock::time_point::max();
  Clock::time_point armed_ = Clock::time_point::max();  // before run(): any earlier set() cancels nothing
};

}  // namespace cmux::net
