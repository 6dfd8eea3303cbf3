#include "http/h2_io.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <cstring>

#include "http/h2_common.hpp"

namespace cmux::http {

awaitable<void> H2Io::reader() {
  std::array<std::uint8_t, 16 * 1024> buf;
  while (!dead && !reading_done) {
    in_read = true;
    auto [ec, n] = co_await transport.read_some({reinterpret_cast<char*>(buf.data()), buf.size()});
    in_read = false;
    if (ec || n == 0) break;
    auto rv = nghttp2_session_mem_recv(session, buf.data(), n);
    if (rv < 0) {
      spdlog::debug("{} h2 protocol error: {}", label, nghttp2_strerror(static_cast<int>(rv)));
      // nghttp2 returns these without a GOAWAY of its own.
      if (rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) terminate(NGHTTP2_ENHANCE_YOUR_CALM);
      else if (rv == NGHTTP2_ERR_CALLBACK_FAILURE || rv == NGHTTP2_ERR_NOMEM) terminate(NGHTTP2_INTERNAL_ERROR);
      break;
    }
    // Only when the input left something to send (SETTINGS and PING acknowledgements, a
    // GOAWAY): waking the writer for nothing cost a turn of the event loop per request.
    // Streams that the input gave something to answer wake it themselves.
    if (nghttp2_session_want_write(session)) signal_write();
    if (!nghttp2_session_want_read(session) && !nghttp2_session_want_write(session)) break;
  }
  reading_done = true;
  signal_write();
}

awaitable<void> H2Io::writer() {
  for (;;) {
    out.clear();
    borrowed.clear();
    batched = 0;
    may_borrow = transport.plain_socket() != nullptr;
    while (batched < kBatch) {
      const std::uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(session, &data);
      if (n <= 0) {
        if (n < 0) dead = true;
        break;
      }
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      batched += static_cast<std::size_t>(n);
    }
    if (!borrowed.empty()) {
      if (send_borrowed()) {
        dead = true;
        break;
      }
      if (out.empty()) continue;  // all of it went out
    }
    if (!out.empty()) {
      writing_since = std::chrono::steady_clock::now();
      auto ec = co_await transport.write_all(out);
      writing_since = std::chrono::steady_clock::time_point::max();
      if (ec) {
        dead = true;
        break;
      }
      continue;
    }
    if (dead || reading_done || (!nghttp2_session_want_read(session) && !nghttp2_session_want_write(session)))
      break;
    co_await write_event.wait();
  }
  // (A reader still parked on the socket means a timeout ended the session: nothing is unread.)
  if (linger && !dead && !in_read) co_await linger_close();
  transport.close();  // wakes the reader if it still waits
}

error_code H2Io::send_borrowed() {
  std::array<asio::const_buffer, 2 * kMaxBorrowed + 1> bufs;
  std::size_t count = 0;
  std::size_t from = 0;
  for (const auto& b : borrowed) {
    if (b.at > from) bufs[count++] = asio::buffer(out.data() + from, b.at - from);
    bufs[count++] = asio::buffer(b.data.data(), b.data.size());
    from = b.at;
  }
  if (out.size() > from) bufs[count++] = asio::buffer(out.data() + from, out.size() - from);
  auto sent = transport.write_now({bufs.data(), count});
  if (!sent || *sent == batched) {  // the common case: keep out's capacity for the next batch
    borrowed.clear();
    out.clear();
    return sent ? error_code{} : sent.error();
  }
  std::string rest;
  std::size_t skip = *sent;
  for (const auto& b : std::span(bufs.data(), count)) {
    if (skip >= b.size()) {
      skip -= b.size();
      continue;
    }
    rest.append(static_cast<const char*>(b.data()) + skip, b.size() - skip);
    skip = 0;
  }
  out.swap(rest);
  borrowed.clear();  // only now: their owners keep the pieces alive
  return {};
}

void H2Io::terminate(std::uint32_t code) {
  if (linger) return;
  nghttp2_session_terminate_session(session, code);
  linger = true;
  reading_done = true;  // the reader stops after the current buffer
  signal_write();
}

awaitable<void> H2Io::linger_close() {
  // Closing with unread input makes the kernel send RST, and the peer may lose the GOAWAY we
  // just wrote (nginx's lingering_close): half-close, then discard its bytes for a moment.
  using namespace asio::experimental::awaitable_operators;
  co_await transport.shutdown_write();
  auto discard = [this]() -> awaitable<void> {
    std::array<char, 16 * 1024> buf;
    for (std::size_t total = 0; total < 1024 * 1024;) {
      auto [ec, n] = co_await transport.read_some(buf);
      if (ec || n == 0) co_return;
      total += n;
    }
  };
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::seconds(1));
  co_await (discard() || timer.async_wait(use_nothrow_awaitable));
}

awaitable<void> H2Io::watchdog(std::chrono::milliseconds interval, std::chrono::milliseconds timeout,
                               std::chrono::milliseconds send_timeout) {
  using Clock = std::chrono::steady_clock;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto next_ping = Clock::now() + interval;
  auto ping_deadline = Clock::time_point::max();
  for (;;) {
    auto now = Clock::now();
    auto wake = ping_outstanding ? ping_deadline : next_ping;
    // A write that starts while we sleep is looked at within 2 × send_timeout.
    wake = std::min(wake, std::min(writing_since, now) + send_timeout);
    timer.expires_at(wake);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec) co_return;
    now = Clock::now();
    if (writing_since != Clock::time_point::max() && now - writing_since >= send_timeout) {
      spdlog::debug("{} h2 peer takes no data, closing", label);
      co_return;
    }
    if (ping_outstanding) {
      if (now >= ping_deadline) {
        spdlog::debug("{} h2 PING unanswered, closing", label);
        co_return;
      }
    } else if (now >= next_ping) {
      ping_outstanding = true;
      nghttp2_submit_ping(session, NGHTTP2_FLAG_NONE, nullptr);
      signal_write();
      ping_deadline = now + timeout;
      next_ping = now + interval;
    }
  }
}

awaitable<void> H2Io::run(std::chrono::milliseconds ping_interval, std::chrono::milliseconds ping_timeout,
                          std::chrono::milliseconds send_timeout) {
  using namespace asio::experimental::awaitable_operators;
  co_await ((reader() && writer()) || watchdog(ping_interval, ping_timeout, send_timeout));
  dead = true;
  transport.close();
}

void H2Outbox::append(std::span<const char> data) {
  while (!data.empty()) {
    if (copy_used_ == copy_size_) {
      // Full: start over in the same buffer once nothing refers to it any more (a tunnel or a
      // chunked body that is sent as fast as it comes keeps one buffer), else take a new one.
      // The first piece gets a buffer of its own size (most responses are one piece), a queue
      // that grows gets room for more; none is above kMaxCopyBuffer (glibc would map and unmap
      // a big one for every piece).
      if (copy_ && copy_.use_count() == 1 && copy_size_ >= std::min(data.size(), kMaxCopyBuffer)) {
        copy_used_ = 0;
      } else {
        copy_size_ = std::min(queued_ == 0 ? data.size() : std::max(data.size(), kCopyBuffer), kMaxCopyBuffer);
        copy_ = std::make_shared_for_overwrite<char[]>(copy_size_);
        copy_used_ = 0;
      }
    }
    std::size_t n = std::min(data.size(), copy_size_ - copy_used_);
    char* at = copy_.get() + copy_used_;
    std::memcpy(at, data.data(), n);
    copy_used_ += n;
    queued_ += n;
    data = data.subspan(n);
    if (head_ < pieces_.size()) {
      auto& last = pieces_.back();
      if (last.owner.get() == copy_.get() && last.data.data() + last.data.size() == at) {  // continues it
        last.data = {last.data.data(), last.data.size() + n};
        continue;
      }
    }
    pieces_.push_back({copy_, {at, n}});
  }
}

void H2Outbox::share(const SharedBody& body) {
  if (body.data.size() < kShareAtLeast) return append(body.data);
  queued_ += body.data.size();
  pieces_.push_back({body.owner, body.data});
}

long H2Outbox::read(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* out, std::size_t length,
                    std::uint32_t* flags) {
  (void)out;
  std::size_t n = std::min(length, pending());
  if (n > 0 || end) *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (pending() == n && end) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!trailers.empty()) {
      NvList nva;
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

void H2Outbox::take(std::size_t n, H2Io& io) {
  queued_ -= n;
  while (n > 0) {
    auto& piece = pieces_[head_];
    std::size_t k = std::min(n, piece.data.size());
    auto part = piece.data.first(k);
    if (io.may_borrow && k >= kBorrowAtLeast && io.borrowed.size() < H2Io::kMaxBorrowed)
      io.borrowed.push_back({io.out.size(), part, piece.owner});
    else
      io.out.append(part.data(), part.size());
    piece.data = piece.data.subspan(k);
    n -= k;
    if (piece.data.empty()) {
      piece.owner.reset();  // its producer may reuse the buffer once the batch lets go of it too
      ++head_;
    }
  }
  // Consumed pieces leave the front once they are half the queue: amortised O(1), bounded.
  if (head_ == pieces_.size()) {
    pieces_.clear();
    head_ = 0;
  } else if (head_ * 2 >= pieces_.size()) {
    pieces_.erase(pieces_.begin(), pieces_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

int send_data_frame(H2Io& io, const std::uint8_t* framehd, std::size_t length, H2Outbox& box) {
  if (io.batched >= H2Io::kBatch) return NGHTTP2_ERR_WOULDBLOCK;
  io.out.append(reinterpret_cast<const char*>(framehd), 9);
  io.batched += 9 + length;  // no padding: we never set a select_padding callback
  box.take(length, io);
  return 0;
}

void H2Outbox::resume(nghttp2_session* session, std::int32_t stream_id) {
  if (!deferred) return;
  deferred = false;
  nghttp2_session_resume_data(session, stream_id);
}

}  // namespace cmux::http
