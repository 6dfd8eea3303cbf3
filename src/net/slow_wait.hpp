// SlowWait: tells the rare long wait apart from the usual short one without a timer per wait.
//
// Most upstream answers arrive within a millisecond, and watching the client's socket while
// waiting (is it still there?) costs more than the request itself: a parallel group of two
// coroutines, a socket wait, a cancellation. A SlowWait lets the caller wait alone first and
// start the watch only once the wait has lasted a while.
//
// Each io_context keeps one coarse ticker (SlowWaitService), running only while some wait is
// registered. A wait is told it has turned slow — slow() becomes true and its cancellation
// signal is emitted, so the operation bound to slot() completes with operation_aborted —
// between one and two ticks after it began. Registering and unregistering are O(1) and
// allocate nothing. Like everything on an I/O thread, single-threaded: use it only on the
// thread that runs its executor's io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "net/asio.hpp"

namespace cmux::net {

class SlowWaitService;

class SlowWait {
 public:
  static constexpr std::chrono::milliseconds kTick{100};

  explicit SlowWait(const asio::any_io_executor& ex);
  ~SlowWait();
  SlowWait(const SlowWait&) = delete;
  SlowWait& operator=(const SlowWait&) = delete;

  // Bind the wait's operation to this slot: it is cancelled when the wait turns slow.
  asio::cancellation_slot slot() { return signal_.slot(); }
  bool slow() const { return slow_; }

 private:
  friend class SlowWaitService;
  SlowWaitService& service_;
  SlowWait* prev_ = nullptr;
  SlowWait* next_ = nullptr;
  std::uint64_t born_ = 0;  // the service's tick count when registered
  bool slow_ = false;
  asio::cancellation_signal signal_;
};

class SlowWaitService : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;
  explicit SlowWaitService(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

 private:
  friend class SlowWait;
  void add(SlowWait& w, const asio::any_io_executor& ex);
  void remove(SlowWait& w);
  void arm();
  void tick();
  void shutdown() override { timer_.reset(); }

  std::optional<asio::steady_timer> timer_;  // made on first use, with that wait's executor
  bool running_ = false;
  std::uint64_t ticks_ = 0;
  // Registered waits in the order they began (so by age): the oldest turn slow first.
  SlowWait* head_ = nullptr;
  SlowWait* tail_ = nullptr;
};

}  // namespace cmux::net
