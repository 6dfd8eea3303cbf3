// Transport: an accepted or connected TCP socket, optionally wrapped in TLS, that first
// replays bytes already read from it (protocol sniffing, pipelined leftovers).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/byte_stream.hpp"

namespace cmux::net {

class Transport final : public ByteStream {
 public:
  explicit Transport(tcp::socket socket);
  ~Transport() override;

  // Server-side TLS handshake; the replay buffer holds the ClientHello bytes read so far.
  awaitable<error_code> accept_tls(ssl::context& ctx);
  // Client-side TLS handshake. `prepare` configures the SSL object first (SNI, peer name,
  // ALPN); returning false fails the handshake.
  awaitable<error_code> connect_tls(ssl::context& ctx, const std::function<bool(SSL*)>& prepare);
  bool is_tls() const { return tls_ != nullptr; }
  std::string_view alpn() const;

  // Bytes that read_some() returns before reading from the socket again.
  void unread(std::string_view bytes);
  std::size_t buffered() const { return replay_.size() - replay_pos_; }

  awaitable<std::pair<error_code, std::size_t>> read_some(std::span<char> buf) override;
  awaitable<error_code> write_all(std::span<const char> data) override;
  awaitable<error_code> write_gather(std::span<const asio::const_buffer> bufs);
  awaitable<error_code> shutdown_write() override;
  void close() override;

  tcp::socket& socket() { return socket_; }

 private:
  tcp::socket socket_;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls_;
  std::string replay_;
  std::size_t replay_pos_ = 0;
};

}  // namespace cmux::net
