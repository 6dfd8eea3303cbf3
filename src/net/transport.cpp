#include "net/transport.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

namespace cmux::net {

// What ssl::stream needs from its next layer, served by a ByteStream: each operation runs the
// stream's coroutine and completes the handler with its result.
class Transport::LowerAdapter {
 public:
  using executor_type = asio::any_io_executor;
  using lowest_layer_type = LowerAdapter;

  LowerAdapter(ByteStream& lower, executor_type ex) : lower_(&lower), ex_(std::move(ex)) {}
  executor_type get_executor() const { return ex_; }
  lowest_layer_type& lowest_layer() { return *this; }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    asio::mutable_buffer b = first(buffers);
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this, b](auto handler) {
          asio::co_spawn(ex_, lower_->read_some({static_cast<char*>(b.data()), b.size()}),
                         [h = std::move(handler)](std::exception_ptr e, std::pair<error_code, std::size_t> r) mutable {
                           if (e) r = {asio::error::operation_aborted, 0};
                           std::move(h)(r.first, r.second);
                         });
        },
        token);
  }

  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    asio::const_buffer b = first(buffers);
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this, b](auto handler) {
          asio::co_spawn(ex_, lower_->write_all({static_cast<const char*>(b.data()), b.size()}),
                         [h = std::move(handler), n = b.size()](std::exception_ptr e, error_code ec) mutable {
                           if (e) ec = asio::error::operation_aborted;
                           std::move(h)(ec, ec ? 0 : n);
                         });
        },
        token);
  }

 private:
  template <typename Buffers>
  static auto first(const Buffers& buffers) {
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
      if (it->size() > 0) return *it;
    return *asio::buffer_sequence_begin(buffers);
  }

  ByteStream* lower_;
  executor_type ex_;
};

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
  std::string hello = replay_.substr(replay_pos_);
  replay_.clear();
  replay_pos_ = 0;
  if (lower_) {
    lower_tls_ = std::make_unique<ssl::stream<LowerAdapter>>(LowerAdapter(*lower_, socket_.get_executor()), ctx);
    auto [ec, used] = co_await lower_tls_->async_handshake(ssl::stream_base::server, asio::buffer(hello), use_nothrow);
    (void)used;
    co_return ec;
  }
  tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, ctx);
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

bool Transport::is_tls() const { return tls_ != nullptr || lower_tls_ != nullptr; }

std::string_view Transport::alpn() const {
  SSL* ssl = tls_ ? tls_->native_handle() : lower_tls_ ? lower_tls_->native_handle() : nullptr;
  if (!ssl) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
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
  if (tls_ || lower_tls_) {
    auto [ec, n] = tls_ ? co_await tls_->async_read_some(b, use_nothrow) : co_await lower_tls_->async_read_some(b, use_nothrow);
    // A peer that closes TCP without close_notify ends the stream like EOF; the HTTP layer
    // decides whether the message was complete (truncation is detected by framing).
    if (ec == ssl::error::stream_truncated) ec = asio::error::eof;
    co_return std::pair{ec, n};
  }
  if (lower_) co_return co_await lower_->read_some(buf);
  auto [ec, n] = co_await socket_.async_read_some(b, use_nothrow);
  co_return std::pair{ec, n};
}

awaitable<error_code> Transport::write_all(std::span<const char> data) {
  auto b = asio::buffer(data.data(), data.size());
  if (tls_) {
    auto [ec, n] = co_await asio::async_write(*tls_, b, use_nothrow);
    co_return ec;
  }
  if (lower_tls_) {
    auto [ec, n] = co_await asio::async_write(*lower_tls_, b, use_nothrow);
    co_return ec;
  }
  if (lower_) co_return co_await lower_->write_all(data);
  auto [ec, n] = co_await asio::async_write(socket_, b, use_nothrow);
  co_return ec;
}

awaitable<error_code> Transport::write_gather(std::span<const asio::const_buffer> bufs) {
  if (tls_) {
    auto [ec, n] = co_await asio::async_write(*tls_, bufs, use_nothrow);
    co_return ec;
  }
  if (lower_tls_) {
    auto [ec, n] = co_await asio::async_write(*lower_tls_, bufs, use_nothrow);
    co_return ec;
  }
  if (lower_) {
    for (const auto& b : bufs) {
      if (auto ec = co_await lower_->write_all({static_cast<const char*>(b.data()), b.size()})) co_return ec;
    }
    co_return error_code{};
  }
  auto [ec, n] = co_await asio::async_write(socket_, bufs, use_nothrow);
  co_return ec;
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
