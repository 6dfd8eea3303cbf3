// Exchange: one request/response, the same for HTTP/1.1 and HTTP/2. Handlers see only
// this (nghttpx's Upstream/Downstream split, Envoy's codec.h): they never branch on the
// protocol. Upgrades and CONNECT turn the exchange into a ByteStream after the response head.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "http/message.hpp"
#include "net/byte_stream.hpp"
#include "net/splice.hpp"

namespace cmux::http {

struct ConnInfo {
  std::uint64_t id = 0;     // [C<id>] in logs
  std::size_t worker = 0;   // index of the I/O thread that owns the connection
  std::string peer;         // "ip:port" of the client
  bool tls = false;
  // What the handler keeps for the rest of the connection (the preview proxy: the credentials
  // it accepted last, preview::AuthMemo). Touched only on the connection's own thread.
  mutable std::shared_ptr<void> handler_memo;
};

struct BodyChunk {
  std::span<const char> data;  // valid until the next read_body()
  bool end = false;            // no more body after `data`
};

// Response body bytes with their owner: an HTTP/2 stream queues them by reference instead of
// copying them, and keeps `owner` until they are sent.
struct SharedBody {
  std::shared_ptr<const void> owner;
  std::span<const char> data;
};

// A read buffer whose pieces go to Exchange::send_body_shared(), reused while nobody else holds
// it. While a stream still queues the last piece, the read goes into a second buffer, and the
// two take turns: with one piece queued and one being read, a body of any length costs two
// allocations (a 16 KiB allocation per piece was 8 % of cmux-proxy's user CPU with 100
// streams of 100 KiB; docs/performance.md).
class BodyBuffer {
 public:
  explicit BodyBuffer(std::size_t size) : size_(size) {}
  std::span<char> room() {
    if (!buf_ || buf_.use_count() > 1) {
      std::swap(buf_, spare_);
      if (!buf_ || buf_.use_count() > 1) buf_ = std::make_shared_for_overwrite<char[]>(size_);
    }
    return {buf_.get(), size_};
  }
  // The first `n` bytes of the last room().
  SharedBody piece(std::size_t n) const { return {buf_, {buf_.get(), n}}; }

 private:
  std::shared_ptr<char[]> buf_;
  std::shared_ptr<char[]> spare_;
  std::size_t size_;
};

// How relaying the rest of a response body from an upstream ended.
struct RelayedBody {
  error_code upstream;           // the upstream failed, or ended (asio::error::eof) early
  bool downstream_gone = false;  // the client side failed
};

// How moving a request body to an upstream with splice ended.
struct SplicedRequestBody {
  error_code client;    // reading the body from the client failed (or it ended early)
  error_code upstream;  // writing it to the upstream failed
};

struct ExchangeStats {
  std::uint64_t request_body_bytes = 0;
  std::uint64_t response_body_bytes = 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

class Exchange {
 public:
  virtual ~Exchange() = default;

  virtual RequestHead& request() = 0;
  virtual const ConnInfo& conn() const = 0;
  virtual std::uint32_t stream_id() const = 0;  // 0 on HTTP/1.1

  // Request body, chunk by chunk; reading is what opens flow-control windows.
  virtual awaitable<std::expected<BodyChunk, error_code>> read_body() = 0;
  // Valid after read_body() returned end.
  virtual const Fields& request_trailers() const = 0;

  // 101 to an upgrade request, or 2xx to CONNECT, makes tunnel() usable. On HTTP/2, 101 is
  // sent as 200 (RFC 8441). `end_stream`: no body follows.
  virtual awaitable<error_code> send_head(const ResponseHead& head, bool end_stream) = 0;
  virtual awaitable<error_code> send_body(std::span<const char> data) = 0;
  // The same for bytes with an owner, which the exchange may keep instead of copying them
  // (HTTP/2). `body` is the caller's until this completes (a named variable: GCC 12 destroys
  // a temporary with a destructor in a co_await condition twice); the default sends it with
  // send_body(), without a coroutine frame of its own.
  virtual awaitable<error_code> send_body_shared(const SharedBody& body) { return send_body(body.data); }
  virtual awaitable<error_code> finish(const Fields& trailers) = 0;
  // How much body to hand to send_body() at a time: HTTP/2 streams share their connection's
  // output budget, so a proxy with many streams open reads its upstreams in smaller pieces.
  virtual std::size_t body_piece_hint() const { return 64 * 1024; }
  // send_head() and the first piece of the body at once (HTTP/1.1: one write for both);
  // `end_stream`: that piece is the whole body, and the response is finished.
  virtual awaitable<error_code> send_head_and_body(const ResponseHead& head, std::span<const char> body,
                                                   bool end_stream);
  // Whether the rest of the body may move straight from a plain upstream socket to the client
  // with splice_body(): HTTP/1.1 to a plain-TCP client, head sent, body not chunked.
  virtual bool can_splice_body() const { return false; }
  // `left` body bytes from `from` through `pipe` (splice(2): they never enter user space); EOF
  // before them is an upstream failure (eof). Only when can_splice_body().
  virtual awaitable<RelayedBody> splice_body(net::SplicePipe& pipe, tcp::socket& from, std::uint64_t left);
  // The same for the request body: HTTP/1.1 from a plain-TCP client with a Content-Length,
  // nothing of it read yet through read_body().
  virtual bool can_splice_request_body() const { return false; }
  // The whole request body to `to`, a plain upstream socket (what came with the head first);
  // read_body() then reports its end. Only when can_splice_request_body().
  virtual awaitable<SplicedRequestBody> splice_request_body(net::SplicePipe& pipe, tcp::socket& to);
  // The response cannot be completed: reset the stream / close the connection so the
  // client never takes a truncated body for a complete one.
  virtual void abort() = 0;
  virtual net::ByteStream& tunnel() = 0;
  // Completes when the client is known to have gone away (HTTP/1.1: EOF/reset on an idle
  // socket). HTTP/2 needs no watch: a stream reset cancels the handler. Waiting for a slow
  // upstream races against this so long polls do not outlive their client.
  virtual awaitable<void> client_gone();
  // Whether client_gone() can complete now (HTTP/1.1 with the request read); when it cannot,
  // racing against it only costs (a parallel group, a timer and a frame per request).
  virtual bool can_tell_client_gone() const { return false; }

  bool head_sent() const { return head_sent_; }
  bool finished() const { return finished_; }
  int status() const { return status_; }
  ExchangeStats stats;

 protected:
  bool head_sent_ = false;
  bool finished_ = false;
  int status_ = 0;
};

using Handler = std::function<awaitable<void>(Exchange&)>;

// A complete `text/plain; charset=utf-8` response (all proxy-generated errors).
awaitable<void> respond_text(Exchange& ex, int status, std::string_view body, Fields extra = {});

std::string_view reason_phrase(int status);

}  // namespace cmux::http
