// SlowWait on a real io_context and real timers: quick waits are left alone, long ones are cut
// short after one to two ticks, oldest first, and the ticker stops once nothing waits.
#include "net/slow_wait.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace cmux::net {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Waits `d` on a timer bound to `w`; returns the wait's error.
awaitable<error_code> wait_on(SlowWait& w, Clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto [ec] = co_await with_slot<void(error_code)>(w.slot(), [&](auto h) { timer.async_wait(std::move(h)); });
  co_return ec;
}

void run(asio::io_context& io, awaitable<void> a) {
  bool done = false;
  asio::co_spawn(io, std::move(a), [&](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
    done = true;
  });
  io.run_for(30s);
  ASSERT_TRUE(done);
  // Nothing is left to run: the ticker stopped by itself (an idle process stays asleep).
  EXPECT_TRUE(io.stopped());
}

// with_slot(): the operation is cancelled through the given slot, and only through it: the
// awaiting coroutine's own cancellation (here a lost `||`) does not reach it.
TEST(WithSlot, CancelledThroughItsSlotOnly) {
  asio::io_context io;
  run(io, [&]() -> awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    auto ex = co_await asio::this_coro::executor;
    asio::cancellation_signal signal;
    asio::steady_timer timer(ex, 60s);
    error_code got;
    Clock::time_point ended;
    auto wait = [&]() -> awaitable<void> {
      auto [ec] = co_await with_slot<void(error_code)>(signal.slot(), [&](auto h) { timer.async_wait(std::move(h)); });
      got = ec;
      ended = Clock::now();
    };
    asio::steady_timer quick(ex, 1ms);
    asio::steady_timer later(ex, 50ms);
    auto emit_later = [&]() -> awaitable<void> {
      co_await later.async_wait(use_nothrow);
      signal.emit(asio::cancellation_type::terminal);
    };
    auto start = Clock::now();
    // The quick timer wins the race at once; the wait ignores that cancellation and ends only
    // when the signal is emitted 50 ms later.
    co_await ((wait() || quick.async_wait(use_nothrow_awaitable)) && emit_later());
    EXPECT_EQ(got, asio::error::operation_aborted);
    EXPECT_GE(ended - start, 50ms);
  }());
}

TEST(SlowWait, QuickWaitIsLeftAlone) {
  asio::io_context io;
  run(io, [&]() -> awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      SlowWait w(co_await asio::this_coro::executor);
      EXPECT_FALSE(co_await wait_on(w, 1ms));
      EXPECT_FALSE(w.slow());
    }
  }());
}

TEST(SlowWait, LongWaitIsCutShortAfterOneToTwoTicks) {
  asio::io_context io;
  run(io, [&]() -> awaitable<void> {
    SlowWait w(co_await asio::this_coro::executor);
    auto start = Clock::now();
    auto ec = co_await wait_on(w, 60s);
    EXPECT_EQ(ec, asio::error::operation_aborted);
    EXPECT_TRUE(w.slow());
    EXPECT_GE(Clock::now() - start, SlowWait::kTick);
  }());
}

TEST(SlowWait, OldestTurnsSlowFirst) {
  asio::io_context io;
  run(io, [&]() -> awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    auto ex = co_await asio::this_coro::executor;
    SlowWait older(ex);
    std::optional<SlowWait> younger;
    bool younger_slow_when_older_was_cut = true;
    auto first = [&]() -> awaitable<void> {
      co_await wait_on(older, 60s);
      younger_slow_when_older_was_cut = younger && younger->slow();
    };
    auto second = [&]() -> awaitable<void> {
      // Born more than a tick later than `older`.
      asio::steady_timer later(ex, SlowWait::kTick * 3 / 2);
      co_await later.async_wait(use_nothrow);
      younger.emplace(ex);
      EXPECT_EQ(co_await wait_on(*younger, 60s), asio::error::operation_aborted);
    };
    co_await (first() && second());
    EXPECT_TRUE(older.slow());
    EXPECT_TRUE(younger->slow());
    EXPECT_FALSE(younger_slow_when_older_was_cut);
  }());
}

TEST(SlowWait, QuickWaitsAmongSlowOnesUnlinkCleanly) {
  asio::io_context io;
  run(io, [&]() -> awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    auto ex = co_await asio::this_coro::executor;
    auto slow_one = [&]() -> awaitable<void> {
      SlowWait w(ex);
      EXPECT_EQ(co_await wait_on(w, 60s), asio::error::operation_aborted);
    };
    auto quick_ones = [&]() -> awaitable<void> {
      for (int i = 0; i < 50; ++i) {
        SlowWait w(ex);
        EXPECT_FALSE(co_await wait_on(w, 1ms));
      }
    };
    co_await (slow_one() && quick_ones() && slow_one());
  }());
}

}  // namespace
}  // namespace cmux::net
