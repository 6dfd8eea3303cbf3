#include "http/h2_io.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <cstring>

#include "http/h2_common.hpp"

namespace cmux::http {

awaitable<void> H2Io::reader() {
  std::array<std::uint8_t, 16 * 1024> buf;
  while (!dead && !reading_done) {
    auto [ec, n] = co_await transport.read_some({reinterpret_cast<char*>(buf.data()), buf.size()});
    if (ec || n == 0) break;
    auto rv = nghttp2_session_mem_recv(session, buf.data(), n);
    if (rv < 0) {
      spdlog::debug("{} h2 protocol error: {}", label, nghttp2_strerror(static_cast<int>(rv)));
      break;  // nghttp2 queued a GOAWAY; the writer flushes it
    }
    signal_write();
    if (!nghttp2_session_want_read(session) && !nghttp2_session_want_write(session)) break;
  }
  reading_done = true;
  signal_write();
}

awaitable<void> H2Io::writer() {
  std::string out;
  for (;;) {
    out.clear();
    while (out.size() < 64 * 1024) {
      const std::uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(session, &data);
      if (n <= 0) {
        if (n < 0) dead = true;
        break;
      }
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (!out.empty()) {
      if (co_await transport.write_all(out)) {
        dead = true;
        break;
      }
      continue;
    }
    if (dead || reading_done || (!nghttp2_session_want_read(session) && !nghttp2_session_want_write(session)))
      break;
    co_await write_event.wait();
  }
  transport.close();  // wakes the reader if it still waits
}

awaitable<void> H2Io::pinger(std::chrono::milliseconds interval, std::chrono::milliseconds timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(interval);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec) co_return;
    ping_outstanding = true;
    nghttp2_submit_ping(session, NGHTTP2_FLAG_NONE, nullptr);
    signal_write();
    timer.expires_after(timeout);
    auto [ec2] = co_await timer.async_wait(use_nothrow);
    if (ec2) co_return;
    if (ping_outstanding) {
      spdlog::debug("{} h2 PING unanswered, closing", label);
      co_return;
    }
  }
}

awaitable<void> H2Io::run(std::chrono::milliseconds ping_interval, std::chrono::milliseconds ping_timeout) {
  using namespace asio::experimental::awaitable_operators;
  co_await ((reader() && writer()) || pinger(ping_interval, ping_timeout));
  dead = true;
  transport.close();
}

void H2Outbox::append(std::span<const char> data) {
  if (pos > 0 && pos == buf.size()) {
    buf.clear();
    pos = 0;
  }
  buf.append(data.data(), data.size());
}

long H2Outbox::read(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* out, std::size_t length,
                    std::uint32_t* flags) {
  std::size_t n = std::min(length, pending());
  if (n) {
    std::memcpy(out, buf.data() + pos, n);
    pos += n;
    if (pos == buf.size()) {
      buf.clear();
      pos = 0;
    }
  }
  if (pending() == 0 && end) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!trailers.empty()) {
      std::vector<nghttp2_nv> nva;
      for (const auto& f : trailers)
        if (!h2_forbidden_field(f.name)) nva.push_back(make_nv(f.name, f.value));
      if (nghttp2_submit_trailer(session, stream_id, nva.data(), nva.size()) == 0)
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return static_cast<long>(n);
  }
  if (n == 0) {
    deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<long>(n);
}

void H2Outbox::resume(nghttp2_session* session, std::int32_t stream_id) {
  if (!deferred) return;
  deferred = false;
  nghttp2_session_resume_data(session, stream_id);
}

}  // namespace cmux::http
