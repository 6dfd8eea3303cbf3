// ByteStream: a bidirectional byte pipe (TCP, TLS, or one HTTP/2 stream). Tunnels and
// upgrades are relayed between two of these by net::relay().
#pragma once

#include <cstddef>
#include <span>
#include <utility>

#include "net/asio.hpp"

namespace cmux::net {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Reads at least one byte; {asio::error::eof, 0} when the peer finished sending.
  virtual awaitable<std::pair<error_code, std::size_t>> read_some(std::span<char> buf) = 0;
  virtual awaitable<error_code> write_all(std::span<const char> data) = 0;
  // Half-close: the peer sees EOF, reading continues.
  virtual awaitable<error_code> shutdown_write() = 0;
  // Abortive close; pending operations complete with an error.
  virtual void close() = 0;
  // The TCP socket under this stream when its bytes may move socket to socket without passing
  // through it (no TLS, no framing, nothing buffered): relay() then uses splice(2).
  virtual tcp::socket* plain_socket() { return nullptr; }
};

}  // namespace cmux::net
