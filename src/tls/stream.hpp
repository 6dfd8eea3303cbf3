// tls::Stream: TLS over a TCP socket or over another ByteStream (the inside of a tunnel),
// driven by OpenSSL through a BIO of our own that reads from and appends to buffers here.
//
// Why not asio::ssl::stream: it moves one TLS record (16 KiB) per system call in each
// direction, through a BIO pair and its own copy. Here a write encrypts every record of the
// caller's buffers into one output buffer and sends it in one call, and a read takes up to
// 64 KiB of records from the socket at once (docs/performance.md, "TLS").
//
// One reader and one writer may run at the same time on the stream's executor (HTTP/2, relays);
// their socket writes are serialised: the reader may have to send (session tickets, KeyUpdate
// answers, alerts) while a write is in flight.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/byte_stream.hpp"
#include "net/event.hpp"

namespace cmux::tls {

class Stream {
 public:
  // Exactly one of `socket` and `lower` is set; it must outlive the stream.
  Stream(SSL_CTX* ctx, tcp::socket* socket, net::ByteStream* lower, const asio::any_io_executor& ex);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  SSL* native_handle() const { return ssl_; }
  // Bytes already read from the lower layer (a sniffed ClientHello), consumed first.
  void preload(std::string_view bytes);

  awaitable<error_code> handshake(bool server);
  // Decrypted bytes; {asio::error::eof, 0} on close_notify or when the lower layer ends
  // (truncation is left to the framing of the protocol above).
  awaitable<std::pair<error_code, std::size_t>> read_some(std::span<char> buf);
  // Encrypts and sends all of `bufs`.
  awaitable<error_code> write(std::span<const asio::const_buffer> bufs);

 private:
  friend struct BioAccess;

  awaitable<std::pair<error_code, std::size_t>> fill();  // one read from the lower layer into in_
  awaitable<error_code> flush();                         // sends out_
  awaitable<error_code> encrypt(const char* data, std::size_t size);
  error_code last_error(int ssl_error) const;

  SSL* ssl_ = nullptr;
  tcp::socket* socket_;
  net::ByteStream* lower_;
  std::vector<char> in_;  // ciphertext read, not yet taken by OpenSSL: [in_pos_, in_end_)
  std::size_t in_pos_ = 0;
  std::size_t in_end_ = 0;
  std::string out_;      // ciphertext OpenSSL produced, not yet sent
  std::string sending_;  // what the current flush is sending
  std::string plain_;    // small gathered buffers, joined into one record
  bool flushing_ = false;
  net::Event flushed_;
};

}  // namespace cmux::tls
