// The HTTP/2 upstream client: one multiplexed nghttp2 session per origin (SPEC §3
// "Forwarding"). Sans-I/O like the server side: one reader, one writer and one PING coroutine
// per session; request streams talk to it through H2ClientStream. Everything runs on the
// session's executor (the pool keeps one session per origin per I/O thread).
#pragma once

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <string>

#include "http/exchange.hpp"
#include "http/limits.hpp"
#include "http/h2_io.hpp"
#include "http/upstream_h1.hpp"
#include "net/event.hpp"
#include "net/transport.hpp"

namespace cmux::http {

class H2Client;

// One request stream. Request body out through write_all()/finish(), response in through
// response_head()/read_some(). A ByteStream, so a CONNECT stream can be relayed.
class H2ClientStream final : public net::ByteStream {
 public:
  H2ClientStream(std::shared_ptr<H2Client> session, const asio::any_io_executor& ex);
  ~H2ClientStream() override;

  struct Head {
    std::expected<ResponseHead, error_code> head;  // the final head (1xx skipped), or closed first
    std::string body;                              // the body that had come with the head (up to body_max)
    bool ended = false;                            // END_STREAM came, and `body` is all of the body
    bool retryable = false;                        // see retryable(), when there is no head
    std::string reason;                            // see failure_reason(), when there is no head
  };
  // The head, with up to `body_max` bytes of the body that came with it (taken from the stream,
  // so the head and the start of the body can go on in one write). Once per stream: the head
  // is moved out.
  awaitable<Head> wait_head(std::size_t body_max);
  // wait_head() that gives up (nullopt) once the wait has turned slow (net/slow_wait.hpp).
  awaitable<std::optional<Head>> wait_head_briefly(std::size_t body_max);
  // Response body; {eof, 0} after END_STREAM (trailers() then valid).
  awaitable<std::pair<error_code, std::size_t>> read_some(std::span<char> buf) override;
  // read_some() that hands over what arrived (up to `max` bytes) by moving the stream's buffer
  // into `out` when it can, not by copying: response bodies go on in the pieces they came in.
  awaitable<error_code> read_into(std::string& out, std::size_t max);
  const Fields& trailers() const { return trailers_; }
  bool response_ended() const { return in_end_ && in_pos_ == in_buf_.size(); }

  // Request body; waits while more than the high-water mark is queued.
  awaitable<error_code> write_all(std::span<const char> data) override;
  // END_STREAM, with trailers when there are any.
  awaitable<error_code> finish(const Fields& trailers);
  awaitable<error_code> shutdown_write() override { return finish(kNoFields); }
  // RST_STREAM(CANCEL) unless the stream already closed. Idempotent.
  void close() override;

  // The upstream did not process the request (REFUSED_STREAM, GOAWAY before it, or the session
  // was lost before any response byte): safe to retry elsewhere.
  bool retryable() const;
  std::string failure_reason() const;

  // nghttp2's data source for the request body.
  long read_data(std::uint8_t* buf, std::size_t length, std::uint32_t* flags);
  int send_data_frame(const std::uint8_t* framehd, std::size_t length);

 private:
  friend class H2Client;
  void on_header(std::string_view name, std::string_view value);
  void on_headers_end(bool end_stream);
  void on_data(const std::uint8_t* data, std::size_t len);
  void on_close(std::uint32_t code, bool session_lost);
  awaitable<error_code> wait_for_wire(std::size_t limit);  // until at most `limit` bytes are queued
  void consumed(std::size_t n);  // response bytes taken by the reader: flow control follows
  error_code end_error() const;
  Head head_result(std::size_t body_max);
  void take_into(std::string& out, std::size_t max);  // what has arrived, up to `max` bytes

  std::shared_ptr<H2Client> session_;
  std::int32_t id_ = -1;
  // inbound
  int pending_status_ = 0;
  Fields pending_fields_;
  std::optional<ResponseHead> head_;
  Fields trailers_;
  std::string in_buf_;
  std::size_t in_pos_ = 0;
  bool in_end_ = false;
  net::Event in_event_;
  // outbound
  H2Outbox out_;
  net::Event out_event_;
  bool closed_ = false;
  bool session_lost_ = false;
  bool not_sent_ = false;
  std::uint32_t close_code_ = 0;
};

class H2Client : public std::enable_shared_from_this<H2Client> {
 public:
  struct Options {
    std::uint32_t stream_window = 1024 * 1024;       // what one response may have in flight
    std::uint32_t connection_window = 8 * 1024 * 1024;
    std::chrono::milliseconds handshake_timeout = std::chrono::seconds(5);
    std::chrono::milliseconds ping_interval = std::chrono::seconds(30);
    std::chrono::milliseconds ping_timeout = std::chrono::seconds(10);
    std::chrono::milliseconds send_timeout = std::chrono::seconds(60);  // a write that makes no progress
    std::size_t high_water = 64 * 1024;
    std::uint32_t max_header_list = 64 * 1024;
  };
  struct Private {};  // make_shared needs a public constructor; this keeps it ours

  H2Client(Private, std::unique_ptr<UpstreamConn> conn, const Options& options, const asio::any_io_executor& ex);
  ~H2Client();

  // Sends the connection preface and waits for the server's SETTINGS. An error means the peer
  // does not speak HTTP/2 (an HTTP/1.1 server answering prior knowledge) or went away.
  static awaitable<std::expected<std::shared_ptr<H2Client>, error_code>> start(
      std::unique_ptr<UpstreamConn> conn, const Options& options, std::function<void()> on_end);

  // Submits a request (`req.upgrade` must be empty; CONNECT is plain RFC 9113 CONNECT). With
  // !has_body the HEADERS carry END_STREAM.
  std::expected<std::shared_ptr<H2ClientStream>, error_code> open(const RequestHead& req, bool has_body);
  // New streams may go on this session (no GOAWAY either way, transport alive).
  bool usable() const { return !io_.dead && !goaway_; }
  std::size_t open_streams() const { return streams_.size(); }
  const asio::any_io_executor& executor() const { return ex_; }
  // GOAWAY and close once in-flight streams are done (server stop: close at once).
  void shutdown(bool now);

 private:
  friend class H2ClientStream;
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags,
                       void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user);
  static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t len, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user);

  bool init();
  static awaitable<void> wait_settings(std::shared_ptr<H2Client> self);
  awaitable<void> run(std::shared_ptr<H2Client> self, std::function<void()> on_end);
  void signal_write() { io_.signal_write(); }
  H2ClientStream* stream(std::int32_t id);

  std::unique_ptr<UpstreamConn> conn_;
  H2Io io_;
  Options options_;
  asio::any_io_executor ex_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::shared_ptr<H2ClientStream>> streams_;
  net::Event settings_event_;
  bool settings_received_ = false;
  bool goaway_ = false;
  bool shutdown_when_idle_ = false;
};

// forward_h1()'s twin: carries one Exchange over a new stream of `session`. `req` is already
// rewritten and stripped (authority = the origin's, target = path).
// A 2xx answer to CONNECT is relayed as a tunnel (idle limit `limits.tunnel_idle`).
// The session may belong to another I/O thread than the exchange.
awaitable<std::expected<ForwardResult, UpstreamFailure>> forward_h2(Exchange& ex, std::shared_ptr<H2Client> session,
                                                                    const RequestHead& req, const Limits& limits);

}  // namespace cmux::http
