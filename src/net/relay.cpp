#include "net/relay.hpp"

#include <vector>

#include "net/splice.hpp"

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

// TCP to TCP: splice(2) through a pipe, so the bytes never enter user space.
awaitable<void> splice_pump(tcp::socket& from_sock, tcp::socket& to_sock, ByteStream& from, ByteStream& to,
                            std::uint64_t& count, Clock::time_point& last) {
  SplicePipe pipe;
  if (!pipe.ok()) {
    co_await pump(from, to, count, last);
    co_return;
  }
  for (;;) {
    auto [ec, n] = co_await pipe.fill(from_sock, SplicePipe::kSize);
    if (!ec && n == 0) {
      co_await to.shutdown_write();  // half-close: the other direction keeps flowing
      co_return;
    }
    if (!ec) {
      last = Clock::now();
      ec = co_await pipe.drain(to_sock);
    }
    if (ec) {
      from.close();
      to.close();
      co_return;
    }
    count += n;
  }
}

// Either pump, for one direction.
awaitable<void> move_bytes(ByteStream& from, ByteStream& to, std::uint64_t& count, Clock::time_point& last) {
  tcp::socket* in = from.plain_socket();
  tcp::socket* out = to.plain_socket();
  if (in && out) co_await splice_pump(*in, *out, from, to, count, last);
  else co_await pump(from, to, count, last);
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
  auto result = co_await ((move_bytes(a, b, stats.a_to_b, last) && move_bytes(b, a, stats.b_to_a, last)) ||
                          watchdog(last, idle_timeout));
  if (result.index() == 1) {
    stats.idle_timeout = true;
    a.close();
    b.close();
  }
  co_return stats;
}

}  // namespace cmux::net
