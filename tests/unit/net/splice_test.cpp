// SplicePipe on real loopback sockets: exact byte counts, `max` honoured (nothing past it leaves
// the source socket), EOF, and a failed destination.
#include "net/splice.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <chrono>
#include <numeric>
#include <string>

namespace cmux::net {
namespace {

// Two connected loopback TCP pairs: src_w → src_r, dst_w → dst_r. The pipe moves src_r → dst_w.
struct Pairs {
  asio::io_context io;
  tcp::socket src_w{io}, src_r{io}, dst_w{io}, dst_r{io};
  Pairs() {
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    src_w.connect(acceptor.local_endpoint());
    acceptor.accept(src_r);
    dst_w.connect(acceptor.local_endpoint());
    acceptor.accept(dst_r);
  }
  template <class F>
  void run(F f) {
    bool done = false;
    asio::co_spawn(io, [&]() -> awaitable<void> { co_await f(); done = true; }, asio::detached);
    io.run_for(std::chrono::seconds(20));
    EXPECT_TRUE(done) << "the coroutine did not finish";
  }
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  std::iota(s.begin(), s.end(), '\0');
  for (std::size_t i = 0; i < n; i += 4093) s[i] = static_cast<char>(i / 4093);  // not periodic in 256
  return s;
}

TEST(SplicePipe, MovesExactlyTheBytesInOrder) {
  Pairs p;
  const std::string data = pattern(3 * 1024 * 1024 + 17);
  std::string got(data.size(), '\0');
  asio::async_write(p.src_w, asio::buffer(data), [](error_code ec, std::size_t) { EXPECT_FALSE(ec); });
  asio::async_read(p.dst_r, asio::buffer(got), [](error_code ec, std::size_t) { EXPECT_FALSE(ec); });
  p.run([&]() -> awaitable<void> {
    SplicePipe pipe;
    EXPECT_TRUE(pipe.ok());
    std::size_t left = data.size();
    while (left > 0) {
      auto [ec, n] = co_await pipe.fill(p.src_r, left);
      EXPECT_FALSE(ec);
      EXPECT_GT(n, 0u);
      EXPECT_LE(n, SplicePipe::kSize);
      if (ec || n == 0) co_return;
      left -= n;
      EXPECT_FALSE(co_await pipe.drain(p.dst_w));
    }
  });
  EXPECT_TRUE(got == data);
}

TEST(SplicePipe, TakesNoMoreThanMax) {
  Pairs p;
  const std::string data = pattern(1000);
  asio::write(p.src_w, asio::buffer(data));
  std::size_t moved = 0;
  p.run([&]() -> awaitable<void> {
    SplicePipe pipe;
    auto [ec, n] = co_await pipe.fill(p.src_r, 10);
    EXPECT_FALSE(ec);
    moved = n;
    EXPECT_FALSE(co_await pipe.drain(p.dst_w));
  });
  ASSERT_GT(moved, 0u);
  ASSERT_LE(moved, 10u);
  std::string head(moved, '\0'), rest(data.size() - moved, '\0');
  asio::read(p.dst_r, asio::buffer(head));
  asio::read(p.src_r, asio::buffer(rest));  // the rest is still in the source socket
  EXPECT_EQ(head + rest, data);
}

TEST(SplicePipe, EndOfStreamIsZeroBytes) {
  Pairs p;
  p.src_w.shutdown(tcp::socket::shutdown_send);
  p.run([&]() -> awaitable<void> {
    SplicePipe pipe;
    auto [ec, n] = co_await pipe.fill(p.src_r, 4096);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(n, 0u);
  });
}

TEST(SplicePipe, AClosedDestinationIsAnError) {
  // As on the proxies' I/O threads (net/io_threads.cpp): splice(2) into a reset socket raises
  // SIGPIPE; blocked, it stays pending and the call fails with EPIPE. Left blocked: the pending
  // signal must never be delivered.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
  Pairs p;
  p.dst_r.close();
  const std::string data = pattern(SplicePipe::kSize);
  asio::async_write(p.src_w, asio::buffer(data), [](error_code, std::size_t) {});
  error_code failed;
  p.run([&]() -> awaitable<void> {
    SplicePipe pipe;
    // The first splices may still be accepted; the peer's reset fails a later one.
    for (int i = 0; i < 100 && !failed; ++i) {
      auto [ec, n] = co_await pipe.fill(p.src_r, SplicePipe::kSize);
      if (ec || n == 0) break;
      failed = co_await pipe.drain(p.dst_w);
      if (!failed) asio::async_write(p.src_w, asio::buffer(data), [](error_code, std::size_t) {});
    }
  });
  EXPECT_TRUE(failed == asio::error::broken_pipe || failed == asio::error::connection_reset) << failed.message();
}

}  // namespace
}  // namespace cmux::net
