#include "net/transport.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

namespace cmux::net {

Transport::Transport(tcp::socket socket) : socket_(std::move(socket)) {
  error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
}

Transport::~Transport() = default;

void Transport::unread(std::string_view bytes) {
  if (bytes.empty()) return;
  replay_.erase(0, replay_pos_);
  replay_pos_ = 0;
  replay_.insert(0, bytes);
}

awaitable<error_code> Transport::accept_tls(ssl::context& ctx) {
  tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, ctx);
  std::string hello = replay_.substr(replay_pos_);
  replay_.clear();
  replay_pos_ = 0;
  auto [ec, used] = co_await tls_->async_handshake(ssl::stream_base::server, asio::buffer(hello), use_nothrow);
  (void)used;
  co_return ec;
}

awaitable<error_code> Transport::connect_tls(ssl::context& ctx, const std::function<bool(SSL*)>& prepare) {
  tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, ctx);
  if (!prepare(tls_->native_handle())) co_return asio::error::invalid_argument;
  auto [ec] = co_await tls_->async_handshake(ssl::stream_base::client, use_nothrow);
  co_return ec;
}

std::string_view Transport::alpn() const {
  if (!tls_) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(tls_->native_handle(), &data, &len);
  return {reinterpret_cast<const char*>(data), len};
}

awaitable<std::pair<error_code, std::size_t>> Transport::read_some(std::span<char> buf) {
  if (replay_pos_ < replay_.size()) {
    std::size_t n = std::min(buf.size(), replay_.size() - replay_pos_);
    std::memcpy(buf.data(), replay_.data() + replay_pos_, n);
    replay_pos_ += n;
    if (replay_pos_ == replay_.size()) {
      replay_.clear();
      replay_pos_ = 0;
    }
    co_return std::pair{error_code{}, n};
  }
  auto b = asio::buffer(buf.data(), buf.size());
  if (tls_) {
    auto [ec, n] = co_await tls_->async_read_some(b, use_nothrow);
    // A peer that closes TCP without close_notify ends the stream like EOF; the HTTP layer
    // decides whether the message was complete (truncation is detected by framing).
    if (ec == ssl::error::stream_truncated) ec = asio::error::eof;
    co_return std::pair{ec, n};
  }
  auto [ec, n] = co_await socket_.async_read_some(b, use_nothrow);
  co_return std::pair{ec, n};
}

awaitable<error_code> Transport::write_all(std::span<const char> data) {
  auto b = asio::buffer(data.data(), data.size());
  if (tls_) {
    auto [ec, n] = co_await asio::async_write(*tls_, b, use_nothrow);
    co_return ec;
  }
  auto [ec, n] = co_await asio::async_write(socket_, b, use_nothrow);
  co_return ec;
}

awaitable<error_code> Transport::write_gather(std::span<const asio::const_buffer> bufs) {
  if (tls_) {
    auto [ec, n] = co_await asio::async_write(*tls_, bufs, use_nothrow);
    co_return ec;
  }
  auto [ec, n] = co_await asio::async_write(socket_, bufs, use_nothrow);
  co_return ec;
}

awaitable<error_code> Transport::shutdown_write() {
  // For TLS we half-close TCP without close_notify: Asio's TLS shutdown waits for the
  // peer's close_notify, which a half-open tunnel peer never sends.
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  co_return ec;
}

void Transport::close() {
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

}  // namespace cmux::net
