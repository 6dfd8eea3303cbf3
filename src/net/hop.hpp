// Running one step of a coroutine on another I/O thread's executor: the preview proxy keeps one
// HTTP/2 session per origin on its home thread, while client connections live on every thread.
// co_spawn runs the step there and resumes the caller on its own executor (cancellation is
// forwarded); on the caller's own executor the step is a plain co_await, so one thread costs
// nothing.
#pragma once

#include <utility>

#include "net/byte_stream.hpp"

namespace cmux::net {

// `make_step()` returns the awaitable to run. (A callable rather than an awaitable parameter:
// GCC 12 destroys an awaitable that was passed by value and awaited in a coroutine twice.)
template <typename MakeStep>
auto run_on(const asio::any_io_executor& ex, MakeStep make_step) -> decltype(make_step()) {
  // Named, not compared inside the condition: GCC 12 mishandles temporaries of a co_await in
  // an if-condition.
  const asio::any_io_executor current = co_await asio::this_coro::executor;
  if (current == ex) co_return co_await make_step();
  co_return co_await asio::co_spawn(ex, make_step(), asio::use_awaitable);
}

// A ByteStream that lives on `home`, used from another executor (for relay()).
class HopStream final : public ByteStream {
 public:
  HopStream(ByteStream& inner, asio::any_io_executor home) : inner_(inner), home_(std::move(home)) {}
  awaitable<std::pair<error_code, std::size_t>> read_some(std::span<char> buf) override {
    return run_on(home_, [this, buf] { return inner_.read_some(buf); });
  }
  awaitable<error_code> write_all(std::span<const char> data) override {
    return run_on(home_, [this, data] { return inner_.write_all(data); });
  }
  awaitable<error_code> shutdown_write() override {
    return run_on(home_, [this] { return inner_.shutdown_write(); });
  }
  void close() override {
    asio::dispatch(home_, [s = &inner_] { s->close(); });
  }

 private:
  ByteStream& inner_;
  asio::any_io_executor home_;
};

}  // namespace cmux::net
