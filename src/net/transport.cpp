#include "net/transport.hpp"

#include "net/send_now.hpp"
#include "tls/stream.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace cmux::net {

Transport::Transport(tcp::socket socket) : socket_(std::move(socket)) {
  error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
}

Transport::Transport(ByteStream& lower, const asio::any_io_executor& ex) : socket_(ex), lower_(&lower) {}

Transport::~Transport() = default;

void Transport::unread(std::string_view bytes) {
  if (bytes.empty()) return;
  replay_.erase(0, replay_pos_);
  replay_pos_ = 0;
  replay_.insert(0, bytes);
}

awaitable<error_code> Transport::accept_tls(ssl::context& ctx) {
  tls_ = std::make_unique<tls::Stream>(ctx.native_handle(), lower_ ? nullptr : &socket_, lower_, socket_.get_executor());
  tls_->preload(std::string_view(replay_).substr(replay_pos_));
  replay_.clear();
  replay_pos_ = 0;
  co_return co_await tls_->handshake(true);
}

awaitable<error_code> Transport::connect_tls(ssl::context& ctx, const std::function<bool(SSL*)>& prepare) {
  tls_ = std::make_unique<tls::Stream>(ctx.native_handle(), lower_ ? nullptr : &socket_, lower_, socket_.get_executor());
  if (!prepare(tls_->native_handle())) co_return asio::error::invalid_argument;
  co_return co_await tls_->handshake(false);
}

bool Transport::is_tls() const { return tls_ != nullptr; }

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
  // A peer that closes TCP without close_notify ends a TLS stream like EOF; the HTTP layer
  // decides whether the message was complete (truncation is detected by framing).
  if (tls_) co_return co_await tls_->read_some(buf);
  if (lower_) co_return co_await lower_->read_some(buf);
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf.data(), buf.size()), use_nothrow);
  co_return std::pair{ec, n};
}

awaitable<error_code> Transport::write_all(std::span<const char> data) {
  auto b = asio::buffer(data.data(), data.size());
  if (tls_) co_return co_await tls_->write({&b, 1});
  if (lower_) co_return co_await lower_->write_all(data);
  error_code ec;
  if (auto rest = send_now(socket_, {&b, 1}, ec); !ec && !rest.empty())
    std::tie(ec, std::ignore) = co_await asio::async_write(socket_, rest, use_nothrow);
  co_return ec;
}

awaitable<error_code> Transport::write_gather(std::span<const asio::const_buffer> bufs) {
  if (tls_) co_return co_await tls_->write(bufs);
  if (lower_) {
    for (const auto& b : bufs) {
      if (auto ec = co_await lower_->write_all({static_cast<const char*>(b.data()), b.size()})) co_return ec;
    }
    co_return error_code{};
  }
  auto sent = send_some_now(socket_, bufs);
  if (!sent) co_return sent.error();
  if (*sent == asio::buffer_size(bufs)) co_return error_code{};
  std::vector<asio::const_buffer> rest(bufs.begin(), bufs.end());
  auto [ec, n] = co_await asio::async_write(socket_, drop_front(rest, *sent), use_nothrow);
  co_return ec;
}

std::expected<std::size_t, error_code> Transport::write_now(std::span<const asio::const_buffer> bufs) {
  if (!plain_socket()) return 0;
  return send_some_now(socket_, bufs);
}

awaitable<error_code> Transport::shutdown_write() {
  // For TLS we half-close the lower layer without close_notify: Asio's TLS shutdown waits for
  // the peer's close_notify, which a half-open tunnel peer never sends.
  if (lower_) co_return co_await lower_->shutdown_write();
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  co_return ec;
}

void Transport::close() {
  if (lower_) {
    lower_->close();
    return;
  }
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

}  // namespace cmux::net
