#include "tls/stream.hpp"

#include "net/send_now.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <cstring>

namespace cmux::tls {

namespace {

constexpr std::size_t kReadSize = 64 * 1024;     // one read from the lower layer
constexpr std::size_t kFlushSize = 256 * 1024;   // ciphertext sent in one call at most
constexpr std::size_t kJoinSize = 16 * 1024;     // gathered buffers up to this are one record
constexpr std::size_t kKeepCapacity = 512 * 1024;  // larger buffers are released when drained

}  // namespace

// The BIO: reads take from in_, writes append to out_ (and never fail or block).
struct BioAccess {
  static Stream* of(BIO* b) { return static_cast<Stream*>(BIO_get_data(b)); }

  static int write(BIO* b, const char* data, std::size_t len, std::size_t* written) {
    BIO_clear_retry_flags(b);
    of(b)->out_.append(data, len);
    *written = len;
    return 1;
  }

  static int read(BIO* b, char* data, std::size_t len, std::size_t* read) {
    BIO_clear_retry_flags(b);
    Stream* s = of(b);
    std::size_t n = std::min(len, s->in_end_ - s->in_pos_);
    *read = n;
    if (n == 0) {
      BIO_set_retry_read(b);
      return 0;
    }
    std::memcpy(data, s->in_.data() + s->in_pos_, n);
    s->in_pos_ += n;
    return 1;
  }

  static long ctrl(BIO* b, int cmd, long, void*) {
    switch (cmd) {
      case BIO_CTRL_FLUSH:
      case BIO_CTRL_DUP:
        return 1;
      case BIO_CTRL_PENDING:
        return static_cast<long>(of(b)->in_end_ - of(b)->in_pos_);
      default:
        return 0;
    }
  }

  static BIO_METHOD* method() {
    static BIO_METHOD* m = [] {
      BIO_METHOD* meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cmux tls::Stream");
      BIO_meth_set_write_ex(meth, write);
      BIO_meth_set_read_ex(meth, read);
      BIO_meth_set_ctrl(meth, ctrl);
      BIO_meth_set_create(meth, [](BIO* b) {
        BIO_set_init(b, 1);
        return 1;
      });
      return meth;
    }();
    return m;
  }
};

Stream::Stream(SSL_CTX* ctx, tcp::socket* socket, net::ByteStream* lower, const asio::any_io_executor& ex)
    : ssl_(SSL_new(ctx)), socket_(socket), lower_(lower), flushed_(ex) {
  if (!ssl_) throw std::bad_alloc();
  BIO* bio = BIO_new(BioAccess::method());
  if (!bio) {
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one reference for both directions
}

Stream::~Stream() { SSL_free(ssl_); }

void Stream::preload(std::string_view bytes) {
  in_.assign(bytes.begin(), bytes.end());
  in_pos_ = 0;
  in_end_ = in_.size();
}

error_code Stream::last_error(int ssl_error) const {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e != 0) return {static_cast<int>(e), asio::error::get_ssl_category()};
  if (ssl_error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
  return ssl::error::unspecified_system_error;
}

awaitable<std::pair<error_code, std::size_t>> Stream::fill() {
  if (in_pos_ > 0) {  // keep the partial record, at the front
    std::memmove(in_.data(), in_.data() + in_pos_, in_end_ - in_pos_);
    in_end_ -= in_pos_;
    in_pos_ = 0;
  }
  if (in_.size() < in_end_ + kReadSize) in_.resize(in_end_ + kReadSize);
  std::span<char> room(in_.data() + in_end_, in_.size() - in_end_);
  std::pair<error_code, std::size_t> r;
  if (socket_) {
    auto [ec, n] = co_await socket_->async_read_some(asio::buffer(room.data(), room.size()), use_nothrow);
    r = {ec, n};
  } else {
    r = co_await lower_->read_some(room);
  }
  if (!r.first && r.second == 0) r.first = asio::error::eof;
  in_end_ += r.second;
  co_return r;
}

awaitable<error_code> Stream::flush() {
  while (!out_.empty()) {
    if (flushing_) {  // the other direction is sending; it takes what we added when it is done
      co_await flushed_.wait();
      continue;
    }
    flushing_ = true;
    sending_.clear();
    std::swap(out_, sending_);
    error_code ec;
    if (socket_) {
      asio::const_buffer b = asio::buffer(sending_);
      if (auto rest = net::send_now(*socket_, {&b, 1}, ec); !ec && !rest.empty())
        std::tie(ec, std::ignore) = co_await asio::async_write(*socket_, rest, use_nothrow);
    } else {
      ec = co_await lower_->write_all(sending_);
    }
    flushing_ = false;
    flushed_.notify();
    if (sending_.capacity() > kKeepCapacity) std::string().swap(sending_);
    if (ec) co_return ec;
  }
  co_return error_code{};
}

awaitable<error_code> Stream::handshake(bool server) {
  if (server) SSL_set_accept_state(ssl_);
  else SSL_set_connect_state(ssl_);
  for (;;) {
    ERR_clear_error();
    int rv = SSL_do_handshake(ssl_);
    int err = rv == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rv);
    error_code failure = (rv == 1 || err == SSL_ERROR_WANT_READ) ? error_code{} : last_error(err);
    // What the step produced: our flight, or the alert that tells the peer why we stop.
    if (auto ec = co_await flush(); ec && !failure) co_return ec;
    if (failure || rv == 1) co_return failure;
    auto [ec, n] = co_await fill();
    if (ec) co_return ec;
  }
}

awaitable<std::pair<error_code, std::size_t>> Stream::read_some(std::span<char> buf) {
  for (;;) {
    // With no ciphertext here or in OpenSSL's buffers, SSL_read can only ask for more; the
    // call costs about as much as decrypting a small record (each HTTP/2 read after a request
    // made one), so read first.
    if (in_pos_ == in_end_ && out_.empty() && !SSL_has_pending(ssl_)) {
      auto [ec, got] = co_await fill();
      if (ec) co_return std::pair{ec, std::size_t{0}};
    }
    ERR_clear_error();
    std::size_t n = 0;
    int rv = SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
    int err = rv == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rv);
    if (!out_.empty()) {  // session tickets, a KeyUpdate answer, an alert
      if (auto ec = co_await flush(); ec && rv == 1) co_return std::pair{error_code{}, n};
    }
    if (rv == 1) co_return std::pair{error_code{}, n};
    if (err != SSL_ERROR_WANT_READ) {
      if (err == SSL_ERROR_ZERO_RETURN) co_return std::pair{error_code(asio::error::eof), std::size_t{0}};
      co_return std::pair{last_error(err), std::size_t{0}};
    }
    auto [ec, got] = co_await fill();
    // The lower layer ended without close_notify: EOF as well (see the header).
    if (ec) co_return std::pair{ec, std::size_t{0}};
  }
}

awaitable<error_code> Stream::encrypt(const char* data, std::size_t size) {
  while (size > 0) {
    std::size_t chunk = std::min(size, kFlushSize);
    ERR_clear_error();
    std::size_t written = 0;
    int rv = SSL_write_ex(ssl_, data, chunk, &written);
    if (rv != 1) co_return last_error(SSL_get_error(ssl_, rv));
    data += written;
    size -= written;
    if (out_.size() >= kFlushSize) {
      if (auto ec = co_await flush()) co_return ec;
    }
  }
  co_return error_code{};
}

awaitable<error_code> Stream::write(std::span<const asio::const_buffer> bufs) {
  std::size_t total = 0;
  for (const auto& b : bufs) total += b.size();
  if (bufs.size() > 1 && total <= kJoinSize) {
    // A head and a short body (or frame header and payload) go in one record.
    plain_.clear();
    for (const auto& b : bufs) plain_.append(static_cast<const char*>(b.data()), b.size());
    if (auto ec = co_await encrypt(plain_.data(), plain_.size())) co_return ec;
  } else {
    for (const auto& b : bufs) {
      if (auto ec = co_await encrypt(static_cast<const char*>(b.data()), b.size())) co_return ec;
    }
  }
  co_return co_await flush();
}

}  // namespace cmux::tls
