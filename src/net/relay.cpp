#include "net/relay.hpp"

#include <vector>

namespace cmux::net {
namespace {

using Clock = std::chrono::steady_clock;

// Each direction starts with a small buffer (an idle WebSocket costs little) and grows it while
// reads fill it: bulk transfers move 256 KiB per read and write instead of 16 KiB.
constexpr std::size_t kFirstBuffer = 16 * 1024;
constexpr std::size_t kMaxBuffer = 256 * 1024;

awaitable<void> pump(ByteStream& from, ByteStream& to, std::uint64_t& count, Clock::time_point& last) {
  std::vector<char> buf(kFirstBuffer);
  for (;;) {
    auto [ec, n] = co_await from.read_some(buf);
    if (ec || n == 0) {
      if (ec == asio::error::eof || (!ec && n == 0)) {
        co_await to.shutdown_write();  // half-close: the other direction keeps flowing
      } else {
        to.close();  // abortive: make the other pump finish too
        from.close();
      }
      co_return;
    }
    last = Clock::now();
    if (auto wec = co_await to.write_all({buf.data(), n})) {
      from.close();
      to.close();
      co_return;
    }
    count += n;
    if (n == buf.size() && buf.size() < kMaxBuffer) buf.resize(buf.size() * 2);
  }
}

awaitable<void> watchdog(const Clock::time_point& last, std::chrono::milliseconds idle) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    auto deadline = last + idle;
    if (Clock::now() >= deadline) co_return;
    timer.expires_at(deadline);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec) co_return;  // cancelled: the pumps finished
  }
}

}  // namespace

awaitable<RelayStats> relay(ByteStream& a, ByteStream& b, std::chrono::milliseconds idle_timeout) {
  using namespace asio::experimental::awaitable_operators;
  RelayStats stats;
  Clock::time_point last = Clock::now();
  auto result = co_await ((pump(a, b, stats.a_to_b, last) && pump(b, a, stats.b_to_a, last)) ||
                          watchdog(last, idle_timeout));
  if (result.index() == 1) {
    stats.idle_timeout = true;
    a.close();
    b.close();
  }
  co_return stats;
}

}  // namespace cmux::net
