// Transport: an accepted or connected TCP socket — or another ByteStream, such as the inside
// of a CONNECT tunnel — optionally wrapped in TLS, that first replays bytes already read from
// it (protocol sniffing, pipelined leftovers).
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/byte_stream.hpp"

namespace cmux::tls {
class Stream;
}

namespace cmux::net {

class Transport final : public ByteStream {
 public:
  explicit Transport(tcp::socket socket);
  // Over `lower` (which must outlive this): TLS and replay work the same; there is no socket.
  Transport(ByteStream& lower, const asio::any_io_executor& ex);
  ~Transport() override;

  // False for a transport over another stream: socket-level waits are not available.
  bool has_socket() const { return lower_ == nullptr; }

  // Server-side TLS handshake; the replay buffer holds the ClientHello bytes read so far.
  awaitable<error_code> accept_tls(ssl::context& ctx);
  // Client-side TLS handshake. `prepare` configures the SSL object first (SNI, peer name,
  // ALPN); returning false fails the handshake.
  awaitable<error_code> connect_tls(ssl::context& ctx, const std::function<bool(SSL*)>& prepare);
  bool is_tls() const;
  std::string_view alpn() const;

  // Bytes that read_some() returns before reading from the socket again.
  void unread(std::string_view bytes);
  std::size_t buffered() const { return replay_.size() - replay_pos_; }

  awaitable<std::pair<error_code, std::size_t>> read_some(std::span<char> buf) override;
  awaitable<error_code> write_all(std::span<const char> data) override;
  awaitable<error_code> write_gather(std::span<const asio::const_buffer> bufs);
  // Sends what a plain socket takes now, without waiting: the bytes sent (0 when the socket is
  // full, or when this is not a plain socket). Must not overlap an asynchronous write.
  std::expected<std::size_t, error_code> write_now(std::span<const asio::const_buffer> bufs);
  awaitable<error_code> shutdown_write() override;
  void close() override;
  tcp::socket* plain_socket() override { return !lower_ && !tls_ && buffered() == 0 ? &socket_ : nullptr; }

  tcp::socket& socket() { return socket_; }

 private:
  tcp::socket socket_;  // never opened when lower_ is set
  ByteStream* lower_ = nullptr;
  std::unique_ptr<tls::Stream> tls_;  // over socket_ or lower_
  std::string replay_;
  std::size_t replay_pos_ = 0;
};

}  // namespace cmux::net
