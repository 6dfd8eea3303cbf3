// A single-threaded wake-up signal for coroutines on one executor: notify() wakes the
// current waiter (if any) or makes the next wait() return at once. Cancellation of the
// waiting coroutine (e.g. by `||`) is honoured.
#pragma once

#include <chrono>

#include "net/asio.hpp"

namespace cmux::net {

class Event {
 public:
  explicit Event(const asio::any_io_executor& ex) : timer_(ex, asio::steady_timer::time_point::max()) {}

  void notify() {
    pending_ = true;
    timer_.cancel();
  }

  awaitable<void> wait() {
    if (!pending_) {
      auto [ec] = co_await timer_.async_wait(use_nothrow);
      (void)ec;
    }
    pending_ = false;
  }

  // wait() that `give_up` can also end (the caller tells why by its own state), instead of
  // the waiting coroutine's cancellation.
  awaitable<void> wait(asio::cancellation_slot give_up) {
    if (!pending_) {
      auto [ec] = co_await with_slot<void(error_code)>(give_up, [&](auto handler) { timer_.async_wait(std::move(handler)); });
      (void)ec;
    }
    pending_ = false;
  }

  // wait() that gives up after `d`: false when the time ran out without a notify().
  awaitable<bool> wait_for(std::chrono::steady_clock::duration d) {
    if (!pending_) {
      timer_.expires_after(d);
      auto [ec] = co_await timer_.async_wait(use_nothrow);
      timer_.expires_at(asio::steady_timer::time_point::max());
      if (!ec && !pending_) co_return false;
    }
    pending_ = false;
    co_return true;
  }

 private:
  asio::steady_timer timer_;
  bool pending_ = false;
};

}  // namespace cmux::net
