// HTTP/2 server side over nghttp2 (sans-I/O: mem_recv / mem_send). One reader and one
// writer coroutine per connection; each request stream runs the handler in its own
// coroutine and talks to the session through H2Stream (an Exchange and a ByteStream).
// Flow control follows consumption: windows open only when the handler took the bytes.
#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <cstring>
#include <map>
#include <memory>

#include "http/h2_common.hpp"
#include "http/h2_io.hpp"
#include "http/server_conn.hpp"
#include "net/event.hpp"

namespace cmux::http {
namespace {

class H2Session;

class H2Stream final : public Exchange, public net::ByteStream {
 public:
  H2Stream(H2Session& s, std::int32_t id, const asio::any_io_executor& ex)
      : session_(s), id_(id), in_event_(ex), out_event_(ex) {
    req_.fields.reserve(16);  // a browser's request, without regrowing field by field
  }

  RequestHead& request() override { return req_; }
  const ConnInfo& conn() const override;
  std::uint32_t stream_id() const override { return static_cast<std::uint32_t>(id_); }
  const Fields& request_trailers() const override { return trailers_; }

  awaitable<std::expected<BodyChunk, error_code>> read_body() override;
  awaitable<error_code> send_head(const ResponseHead& head, bool end_stream) override;
  awaitable<error_code> send_body(std::span<const char> data) override;
  awaitable<error_code> send_body_shared(const SharedBody& body) override;
  awaitable<error_code> send_head_and_body(const ResponseHead& head, std::span<const char> body,
                                           bool end_stream) override;
  std::size_t body_piece_hint() const override;
  awaitable<error_code> finish(const Fields& trailers) override;
  void abort() override;
  net::ByteStream& tunnel() override { return *this; }

  // ByteStream (tunnels: CONNECT, RFC 8441 WebSocket)
  awaitable<std::pair<error_code, std::size_t>> read_some(std::span<char> buf) override;
  // Tunnel bytes: the relay counts them, so they do not go into stats here.
  awaitable<error_code> write_all(std::span<const char> data) override { return send_data(data); }
  awaitable<error_code> shutdown_write() override { return finish(kNoFields); }
  void close() override {
    if (!finished_) abort();
  }

  // --- called by the session (inside nghttp2 callbacks) ---
  void on_header(std::string_view name, std::string_view value, bool trailer);
  bool on_request_headers(bool end_stream);  // false: malformed
  void on_data(const std::uint8_t* data, std::size_t len);
  void on_end_stream() {
    in_end_ = true;
    in_event_.notify();
  }
  void on_close(std::uint32_t error_code);
  ssize_t read_data(std::uint8_t* buf, std::size_t length, std::uint32_t* flags);
  int send_data_frame(const std::uint8_t* framehd, std::size_t length);

  std::int32_t id() const { return id_; }
  bool closed() const { return closed_; }
  // Answered here, without the handler: 431 (header block too large) or 413 (Content-Length
  // above the body limit); 0 = a request for the handler.
  int refused_status() const;
  // After the handler: whether what it queued still needs the peer to open its flow-control
  // windows. What the windows already let through only needs the writer, which was told, and
  // whose stalls the connection's watchdog times out: no wait (and no turn of the event loop)
  // for it.
  bool output_waits_for_peer() const;
  // Until the queued response left (or the peer stopped taking it).
  awaitable<void> flush_output();
  // The spawned handler's completion handler keeps it (and so this stream) alive: Asio touches
  // the slot after the handler coroutine (which owns this stream) has finished.
  asio::cancellation_signal cancel;
  bool handler_done = false;

 private:
  // HEADERS (with END_STREAM when `end_stream`) for nghttp2 to send.
  error_code submit_head(const ResponseHead& head, bool end_stream);
  // After queueing: tells nghttp2 and the writer, and whether the caller may go on at once (no
  // more than `limit` bytes queued, or the stream is gone). Most pieces leave at once, and only
  // the rest pay for a coroutine frame to wait in.
  bool hand_over(std::size_t limit);
  // Until at most `limit` bytes are queued (or the stream is gone).
  awaitable<error_code> wait_for_wire(std::size_t limit);
  error_code sent() const { return closed_ ? error_code(asio::error::connection_reset) : error_code{}; }
  awaitable<error_code> send_data(std::span<const char> data);
  void consume(std::size_t n);

  H2Session& session_;
  std::int32_t id_;
  RequestHead req_;
  Fields trailers_;
  bool header_error_ = false;
  bool too_large_ = false;  // the header block broke the limits: answered 431, fields dropped
  std::size_t header_bytes_ = 0;
  std::size_t header_fields_ = 0;
  bool reset_ = false;
  std::string protocol_;
  // inbound
  std::string in_buf_;
  std::size_t in_pos_ = 0;
  std::string reading_;
  std::size_t unconsumed_ = 0;  // received but window not yet reopened
  bool in_end_ = false;
  net::Event in_event_;
  // outbound
  H2Outbox out_;
  net::Event out_event_;
  bool closed_ = false;
  std::uint32_t close_code_ = 0;
};

class H2Session {
 public:
  H2Session(net::Transport& t, ServerConn& conn, const asio::any_io_executor& ex)
      : io_(t, ex, "[C" + std::to_string(conn.info.id) + "]"),
        conn_(conn),
        ex_(ex),
        handlers_done_(ex),
        glitches_(conn.limits.h2_glitch_burst, conn.limits.h2_glitch_rate) {}
  ~H2Session() {
    if (session_) nghttp2_session_del(session_);
  }

  bool init();
  awaitable<void> run();

  nghttp2_session* raw() { return session_; }
  ServerConn& conn() { return conn_; }
  void signal_write() { io_.signal_write(); }
  H2Io& io() { return io_; }
  // Response bytes a stream may queue before its writer waits: the connection's budget shared
  // by its open streams, between 16 KiB and the configured high water. Memory is bounded per
  // connection (1 000 streams of 100 KiB took 180 MB at 64 KiB each), and one big download
  // still gets the whole high water.
  std::size_t high_water() const {
    constexpr std::size_t kConnectionBudget = 1024 * 1024;
    constexpr std::size_t kFloor = 16 * 1024;
    std::size_t share = kConnectionBudget / std::max<std::size_t>(1, streams_.size());
    return std::clamp(share, std::min(kFloor, conn_.limits.output_high_water), conn_.limits.output_high_water);
  }

 private:
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user);
  static int on_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags, void* user);
  static int on_invalid_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                               std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags,
                               void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t len, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user);

  awaitable<void> run_stream(std::shared_ptr<H2Stream> stream);
  void start_stream(H2Stream& stream);
  void update_idle_deadline();
  void glitch();

  H2Io io_;
  ServerConn& conn_;
  asio::any_io_executor ex_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::shared_ptr<H2Stream>> streams_;
  net::Event handlers_done_;
  std::size_t running_handlers_ = 0;
  GlitchBudget glitches_;
  bool calming_ = false;  // GOAWAY ENHANCE_YOUR_CALM queued: read nothing more
};

// ---------------------------------------------------------------- H2Stream

const ConnInfo& H2Stream::conn() const { return session_.conn().info; }

int H2Stream::refused_status() const {
  if (too_large_) return 431;
  auto max_body = session_.conn().limits.max_request_body;
  if (max_body && req_.content_length && *req_.content_length > max_body) return 413;
  return 0;
}

void H2Stream::on_header(std::string_view name, std::string_view value, bool trailer) {
  // HPACK bombs: count what the fields decompress to (RFC 9113 §6.5.2 sizes), keep nothing past
  // the limits. The rest of the block is still decoded by nghttp2 (its table must stay in sync).
  const auto& limits = session_.conn().limits.head;
  header_bytes_ += name.size() + value.size() + 32;
  if (!name.starts_with(':')) ++header_fields_;
  if (too_large_ || header_bytes_ > limits.max_head_bytes || header_fields_ > limits.max_fields) {
    too_large_ = true;
    return;
  }
  if (trailer) {
    trailers_.push_back({std::string(name), std::string(value)});
    return;
  }
  if (name.starts_with(':')) {
    if (name == ":method") req_.method = value;
    else if (name == ":scheme") req_.scheme = value;
    else if (name == ":authority") req_.authority = value;
    else if (name == ":path") req_.target = value;
    else if (name == ":protocol") protocol_ = value;
    return;
  }
  if (name == "host") {
    if (req_.authority.empty()) req_.authority = value;
    return;
  }
  // RFC 9113 §8.2.2: connection-specific fields make the request malformed.
  if (name == "connection" || name == "keep-alive" || name == "proxy-connection" || name == "transfer-encoding" ||
      name == "upgrade" || (name == "te" && !iequals(value, "trailers"))) {
    header_error_ = true;
    return;
  }
  if (name == "cookie") {
    // HTTP/2 splits cookies into crumbs; HTTP/1.1 wants one field (RFC 9113 §8.2.3).
    for (auto& f : req_.fields) {
      if (f.name == "cookie") {
        f.value += "; ";
        f.value += value;
        return;
      }
    }
  }
  req_.fields.push_back({std::string(name), std::string(value)});
}

bool H2Stream::on_request_headers(bool end_stream) {
  req_.version = Version::http2;
  if (!protocol_.empty()) req_.upgrade = protocol_;  // RFC 8441 extended CONNECT
  if (req_.method == "CONNECT" && protocol_.empty()) req_.target = req_.authority;
  if (auto cl = find_field(req_.fields, "content-length")) {
    std::uint64_t n = 0;
    for (char c : *cl) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    req_.content_length = n;
  }
  req_.has_body = !end_stream;
  in_end_ = end_stream;
  return !req_.method.empty() && !header_error_;
}

void H2Stream::on_data(const std::uint8_t* data, std::size_t len) {
  unconsumed_ += len;
  if (handler_done) {  // nobody will read it: reopen the window at once
    consume(len);
    return;
  }
  append_compacting(in_buf_, in_pos_, {reinterpret_cast<const char*>(data), len});
  in_event_.notify();
}

void H2Stream::consume(std::size_t n) {
  n = std::min(n, unconsumed_);
  if (n == 0) return;
  unconsumed_ -= n;
  if (closed_) nghttp2_session_consume_connection(session_.raw(), n);
  else nghttp2_session_consume(session_.raw(), id_, n);
  session_.signal_write();
}

void H2Stream::on_close(std::uint32_t error_code) {
  closed_ = true;
  close_code_ = error_code;
  if (unconsumed_) {
    nghttp2_session_consume_connection(session_.raw(), unconsumed_);
    unconsumed_ = 0;
  }
  in_event_.notify();
  out_event_.notify();
  if (!handler_done && (error_code != NGHTTP2_NO_ERROR || !finished_)) {
    // The peer reset the stream (or the connection is going): stop the handler's upstream work.
    // emit() only schedules the aborted completions; nothing re-enters nghttp2 here.
    cancel.emit(asio::cancellation_type::terminal);
  }
}

awaitable<std::expected<BodyChunk, error_code>> H2Stream::read_body() {
  consume(reading_.size());
  reading_.clear();
  while (in_pos_ == in_buf_.size() && !in_end_ && !closed_) {
    bool more = co_await in_event_.wait_for(session_.conn().limits.body_idle);
    if (!more) {
      spdlog::debug("[C{}][S{}] request body idle, resetting", conn().id, id_);
      abort();
      co_return std::unexpected(asio::error::timed_out);
    }
  }
  if (in_pos_ < in_buf_.size()) {
    reading_.assign(in_buf_, in_pos_);
    in_buf_.clear();
    in_pos_ = 0;
    stats.request_body_bytes += reading_.size();
    auto max_body = session_.conn().limits.max_request_body;
    if (max_body && stats.request_body_bytes > max_body) {
      abort();
      co_return std::unexpected(boost::beast::http::error::body_limit);  // → 413 (client_body_failure)
    }
    co_return BodyChunk{{reading_.data(), reading_.size()}, in_end_};
  }
  if (in_end_) co_return BodyChunk{{}, true};
  co_return std::unexpected(asio::error::connection_reset);
}

awaitable<std::pair<error_code, std::size_t>> H2Stream::read_some(std::span<char> buf) {
  while (in_pos_ == in_buf_.size() && !in_end_ && !closed_) co_await in_event_.wait();
  if (in_pos_ < in_buf_.size()) {
    std::size_t n = std::min(buf.size(), in_buf_.size() - in_pos_);
    std::memcpy(buf.data(), in_buf_.data() + in_pos_, n);
    in_pos_ += n;
    if (in_pos_ == in_buf_.size()) {
      in_buf_.clear();
      in_pos_ = 0;
    }
    consume(n);
    co_return std::pair{error_code{}, n};
  }
  if (in_end_) co_return std::pair{error_code(asio::error::eof), std::size_t{0}};
  co_return std::pair{error_code(asio::error::connection_reset), std::size_t{0}};
}

namespace {
ssize_t data_source_read(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                         std::uint32_t* flags, nghttp2_data_source* source, void*) {
  return static_cast<H2Stream*>(source->ptr)->read_data(buf, length, flags);
}
int send_data(nghttp2_session*, nghttp2_frame*, const std::uint8_t* framehd, std::size_t length,
              nghttp2_data_source* source, void*) {
  return static_cast<H2Stream*>(source->ptr)->send_data_frame(framehd, length);
}
}  // namespace

awaitable<error_code> H2Stream::send_head(const ResponseHead& head, bool end_stream) {
  co_return submit_head(head, end_stream);
}

// The head and the first piece of the body in one frame of the handler's (the default sends
// the head, the body and the end each through their own coroutines).
awaitable<error_code> H2Stream::send_head_and_body(const ResponseHead& head, std::span<const char> body,
                                                   bool end_stream) {
  if (auto ec = submit_head(head, end_stream && body.empty())) co_return ec;
  if (finished_) co_return error_code{};
  stats.response_body_bytes += body.size();
  out_.append(body);
  if (end_stream) {
    finished_ = true;
    out_.end = true;
  }
  const std::size_t limit = session_.high_water();
  if (!hand_over(limit)) co_return co_await wait_for_wire(limit);
  co_return sent();
}

error_code H2Stream::submit_head(const ResponseHead& head, bool end_stream) {
  if (closed_) return asio::error::connection_reset;
  int status = head.status;
  if (status == 101 && !req_.upgrade.empty()) status = 200;  // RFC 8441: 101 becomes 200
  status_ = head.status;
  head_sent_ = true;
  bool tunnel = (req_.method == "CONNECT") && status / 100 == 2;
  std::string status_text = std::to_string(status);
  NvList nva;
  nva.reserve(head.fields.size() + 1);
  nva.push_back(make_nv(":status", status_text));
  for (const auto& f : head.fields) {
    if (h2_forbidden_field(f.name)) continue;
    if (tunnel && (f.name == "content-length" || f.name == "sec-websocket-accept")) continue;
    nva.push_back(make_nv(f.name, f.value));
  }
  int rv;
  if (end_stream) {
    finished_ = true;
    rv = nghttp2_submit_response(session_.raw(), id_, nva.data(), nva.size(), nullptr);
  } else {
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = data_source_read;
    rv = nghttp2_submit_response(session_.raw(), id_, nva.data(), nva.size(), &provider);
  }
  session_.signal_write();
  return rv == 0 ? error_code{} : error_code(asio::error::connection_reset);
}

ssize_t H2Stream::read_data(std::uint8_t* buf, std::size_t length, std::uint32_t* flags) {
  return out_.read(session_.raw(), id_, buf, length, flags);
}

int H2Stream::send_data_frame(const std::uint8_t* framehd, std::size_t length) {
  int rv = http::send_data_frame(session_.io(), framehd, length, out_);
  if (rv == 0 && length > 0 && out_.pending() <= session_.high_water() / 2) out_event_.notify();  // the writer may go on
  return rv;
}

bool H2Stream::hand_over(std::size_t limit) {
  out_.resume(session_.raw(), id_);
  session_.signal_write();
  return closed_ || out_.pending() <= limit;
}

awaitable<error_code> H2Stream::wait_for_wire(std::size_t limit) {
  while (!closed_ && out_.pending() > limit) {
    bool moved = co_await out_event_.wait_for(session_.conn().limits.send_progress);
    if (!moved) {
      spdlog::debug("[C{}][S{}] peer takes no response data, resetting", conn().id, id_);
      abort();
      co_return asio::error::timed_out;
    }
  }
  co_return sent();
}

bool H2Stream::output_waits_for_peer() const {
  if (closed_ || reset_ || out_.pending() == 0) return false;
  auto window = std::min(nghttp2_session_get_stream_remote_window_size(session_.raw(), id_),
                         nghttp2_session_get_remote_window_size(session_.raw()));
  return window < 0 || out_.pending() > static_cast<std::size_t>(window);
}

awaitable<void> H2Stream::flush_output() {
  while (!closed_ && !reset_ && out_.pending() > 0) {
    bool moved = co_await out_event_.wait_for(session_.conn().limits.send_progress);
    if (!moved) {
      spdlog::debug("[C{}][S{}] peer takes no response data, resetting", conn().id, id_);
      abort();
    }
  }
}

std::size_t H2Stream::body_piece_hint() const { return session_.high_water(); }

awaitable<error_code> H2Stream::send_body(std::span<const char> data) {
  if (!closed_) stats.response_body_bytes += data.size();
  return send_data(data);
}

awaitable<error_code> H2Stream::send_body_shared(const SharedBody& body) {
  if (closed_) co_return asio::error::connection_reset;
  stats.response_body_bytes += body.data.size();
  if (body.data.empty()) co_return error_code{};
  out_.share(body);  // before the first suspension: `body` is the caller's
  const std::size_t limit = session_.high_water();
  if (!hand_over(limit)) co_return co_await wait_for_wire(limit);
  co_return sent();
}

awaitable<error_code> H2Stream::send_data(std::span<const char> data) {
  if (closed_) co_return asio::error::connection_reset;
  if (data.empty()) co_return error_code{};
  out_.append(data);
  const std::size_t limit = session_.high_water();
  if (!hand_over(limit)) co_return co_await wait_for_wire(limit);
  co_return sent();
}

awaitable<error_code> H2Stream::finish(const Fields& trailers) {
  if (finished_) co_return error_code{};
  if (closed_) co_return asio::error::connection_reset;
  finished_ = true;
  out_.end = true;
  out_.trailers = trailers;
  const std::size_t limit = session_.high_water();
  if (!hand_over(limit)) co_return co_await wait_for_wire(limit);
  co_return sent();
}

void H2Stream::abort() {
  if (closed_ || reset_) return;
  reset_ = true;
  nghttp2_submit_rst_stream(session_.raw(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
  session_.signal_write();
}

// ---------------------------------------------------------------- H2Session

H2Session* self(void* user) { return static_cast<H2Session*>(user); }

void H2Session::glitch() {
  if (calming_ || glitches_.spend()) return;
  calming_ = true;
  spdlog::warn("[C{}] HTTP/2 flood from {}: GOAWAY ENHANCE_YOUR_CALM", conn_.info.id, conn_.info.peer);
  io_.terminate(NGHTTP2_ENHANCE_YOUR_CALM);
}

int H2Session::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
  if (h2_glitch_frame(*hd)) self(user)->glitch();
  return 0;
}

// Frames nghttp2 refused (a stream or connection error the peer caused): glitches too.
int H2Session::on_invalid_frame(nghttp2_session*, const nghttp2_frame*, int, void* user) {
  self(user)->glitch();
  return 0;
}

// Extension frames reach on_begin_frame only when registered (below); their payload is dropped.
int unpack_extension(nghttp2_session*, void**, const nghttp2_frame_hd*, void*) { return NGHTTP2_ERR_CANCEL; }
int on_extension_chunk(nghttp2_session*, const nghttp2_frame_hd*, const std::uint8_t*, std::size_t, void*) {
  return 0;
}

int H2Session::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* s = self(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto stream = std::make_shared<H2Stream>(*s, frame->hd.stream_id, s->ex_);
  nghttp2_session_set_stream_user_data(s->session_, frame->hd.stream_id, stream.get());
  s->streams_.emplace(frame->hd.stream_id, std::move(stream));
  // Until the header block is complete nothing else moves on this connection (CONTINUATION
  // must follow at once): a trickled block ends at the request-header timeout.
  s->conn_.deadline.expires_after(s->conn_.limits.request_headers);
  return 0;
}

int H2Session::on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
                         void*) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  auto* stream = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!stream) return 0;
  stream->on_header({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen},
                    frame->headers.cat == NGHTTP2_HCAT_HEADERS);
  return 0;
}

// nghttp2 would silently drop some malformed fields (it calls this for them). A proxy must not
// forward a request it cannot represent faithfully (RFC 9113 §8.1.1, §8.2.2): reset the stream.
int H2Session::on_invalid_header(nghttp2_session*, const nghttp2_frame*, const std::uint8_t*, std::size_t,
                                 const std::uint8_t*, std::size_t, std::uint8_t, void* user) {
  self(user)->glitch();
  return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM for this stream only
}

int H2Session::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* s = self(user);
  if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
    s->io_.ping_outstanding = false;
    return 0;
  }
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  auto* stream = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!stream) return 0;
  bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (!stream->on_request_headers(end_stream)) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_PROTOCOL_ERROR);
      return 0;
    }
    s->start_stream(*stream);
    return 0;
  }
  if (end_stream) stream->on_end_stream();
  return 0;
}

int H2Session::on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                             std::size_t len, void*) {
  auto* stream = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (stream) {
    stream->on_data(data, len);
  } else {
    nghttp2_session_consume_connection(session, len);
  }
  return 0;
}

int H2Session::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user) {
  auto* s = self(user);
  auto it = s->streams_.find(stream_id);
  if (it == s->streams_.end()) return 0;
  it->second->on_close(error_code);
  s->streams_.erase(it);  // the handler coroutine keeps its own reference
  s->update_idle_deadline();
  return 0;
}

bool H2Session::init() {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
  nghttp2_session_callbacks_set_unpack_extension_callback(cbs, unpack_extension);
  nghttp2_session_callbacks_set_on_extension_chunk_recv_callback(cbs, on_extension_chunk);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_invalid_header_callback(cbs, on_invalid_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_session_callbacks_set_send_data_callback(cbs, send_data);

  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_settings(opt, 32);
  // Every extension type (ALTSVC, ORIGIN, PRIORITY_UPDATE and unknown ones, which a server
  // ignores) is routed through on_begin_frame so that a flood of them counts as glitches.
  for (int type = NGHTTP2_CONTINUATION + 1; type <= 0xff; ++type)
    nghttp2_option_set_user_recv_extension_type(opt, static_cast<std::uint8_t>(type));
#ifdef CMUX_HAVE_NGHTTP2_RESET_RATE_LIMIT
  nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
#endif
#ifdef CMUX_HAVE_NGHTTP2_MAX_CONTINUATIONS
  nghttp2_option_set_max_continuations(opt, 16);
#endif
  int rv = nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) return false;
  io_.session = session_;

  const auto& l = conn_.limits;
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, l.h2_max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, l.h2_stream_window},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(l.head.max_head_bytes)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, static_cast<std::int32_t>(l.h2_connection_window));
  return true;
}

void H2Session::start_stream(H2Stream& stream) {
  auto it = streams_.find(stream.id());
  if (it == streams_.end()) return;
  ++running_handlers_;
  update_idle_deadline();
  std::shared_ptr<asio::cancellation_signal> signal(it->second, &it->second->cancel);  // no allocation of its own
  asio::co_spawn(ex_, run_stream(it->second),
                 asio::bind_cancellation_slot(signal->slot(), [signal](std::exception_ptr) {}));
}

awaitable<void> H2Session::run_stream(std::shared_ptr<H2Stream> stream) {
  try {
    if (int status = stream->refused_status()) co_await respond_text(*stream, status, reason_phrase(status));
    else co_await conn_.handler(*stream);
  } catch (const boost::system::system_error& e) {
    // Cancellation (peer reset, connection gone) is routine, not a failure.
    if (e.code() == asio::error::operation_aborted) spdlog::debug("[C{}][S{}] handler cancelled", conn_.info.id, stream->id());
    else spdlog::error("[C{}][S{}] handler failed: {}", conn_.info.id, stream->id(), e.what());
  } catch (const std::exception& e) {
    spdlog::error("[C{}][S{}] handler failed: {}", conn_.info.id, stream->id(), e.what());
  }
  stream->handler_done = true;
  if (!stream->closed()) {
    if (!stream->head_sent()) {
      co_await respond_text(*stream, 500, "Internal Server Error");
    } else if (!stream->finished()) {
      stream->abort();
    }
    if (stream->output_waits_for_peer()) co_await stream->flush_output();
  }
  if (--running_handlers_ == 0) handlers_done_.notify();
  update_idle_deadline();
}

void H2Session::update_idle_deadline() {
  if (running_handlers_ == 0 && streams_.empty()) conn_.deadline.expires_after(conn_.limits.connection_idle);
  else conn_.deadline.clear();
}

awaitable<void> H2Session::run() {
  conn_.on_drain = [this] {
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    signal_write();
  };
  conn_.on_timeout = [this] { io_.terminate(NGHTTP2_NO_ERROR); };
  update_idle_deadline();
  co_await io_.run(conn_.limits.h2_ping_interval, conn_.limits.h2_ping_timeout, conn_.limits.send_progress);
  // Stop every handler still running and wait for them: they reference this session.
  for (auto& [id, stream] : streams_) stream->on_close(NGHTTP2_CANCEL);
  streams_.clear();
  while (running_handlers_ > 0) co_await handlers_done_.wait();
}

}  // namespace

awaitable<void> serve_http2(net::Transport& transport, ServerConn& conn) {
  H2Session session(transport, conn, co_await asio::this_coro::executor);
  if (!session.init()) co_return;
  co_await session.run();
}

}  // namespace cmux::http
