#include "http/upstream_h2.hpp"

#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "http/h2_common.hpp"
#include "net/hop.hpp"
#include "net/relay.hpp"
#include "net/slow_wait.hpp"

namespace cmux::http {

// ---------------------------------------------------------------- H2ClientStream

H2ClientStream::H2ClientStream(std::shared_ptr<H2Client> session, const asio::any_io_executor& ex)
    : session_(std::move(session)), in_event_(ex), out_event_(ex) {}

H2ClientStream::~H2ClientStream() = default;

bool H2ClientStream::retryable() const {
  if (head_) return false;
  return not_sent_ || close_code_ == NGHTTP2_REFUSED_STREAM || (session_lost_ && in_buf_.empty());
}

std::string H2ClientStream::failure_reason() const {
  if (session_lost_) return "upstream connection lost";
  if (not_sent_) return "upstream session going away";
  if (close_code_ != NGHTTP2_NO_ERROR) return std::string("stream reset by upstream: ") + nghttp2_http2_strerror(close_code_);
  return "upstream closed the stream";
}

void H2ClientStream::on_header(std::string_view name, std::string_view value) {
  if (name == ":status") {
    int status = 0;
    for (char c : value) status = status * 10 + (c - '0');  // nghttp2 validated 3 digits
    pending_status_ = status;
    return;
  }
  if (name.starts_with(':')) return;
  if (pending_fields_.capacity() == 0) pending_fields_.reserve(16);  // a typical head without regrowing
  pending_fields_.push_back({std::string(name), std::string(value)});
}

void H2ClientStream::on_headers_end(bool end_stream) {
  if (head_) {  // a second header block after the final head: trailers
    trailers_ = std::move(pending_fields_);
  } else if (pending_status_ >= 100 && pending_status_ < 200) {
    // Interim responses are not relayed (we answer Expect ourselves); drop and wait on.
  } else {
    ResponseHead head;
    head.status = pending_status_;
    head.fields = std::move(pending_fields_);
    if (auto cl = find_field(head.fields, "content-length")) {
      std::uint64_t n = 0;
      for (char c : *cl) n = n * 10 + static_cast<std::uint64_t>(c - '0');  // nghttp2 checked digits
      head.content_length = n;
    }
    head_ = std::move(head);
  }
  pending_fields_.clear();
  pending_status_ = 0;
  if (end_stream) in_end_ = true;
  in_event_.notify();
}

void H2ClientStream::on_data(const std::uint8_t* data, std::size_t len) {
  append_compacting(in_buf_, in_pos_, {reinterpret_cast<const char*>(data), len});
  in_event_.notify();
}

void H2ClientStream::on_close(std::uint32_t code, bool session_lost) {
  closed_ = true;
  close_code_ = code;
  session_lost_ = session_lost;
  // Bytes still buffered were counted against the connection window: give it back now.
  if (!session_lost && session_->session_ && in_buf_.size() > in_pos_)
    nghttp2_session_consume_connection(session_->session_, in_buf_.size() - in_pos_);
  in_event_.notify();
  out_event_.notify();
}

awaitable<H2ClientStream::Head> H2ClientStream::wait_head(std::size_t body_max) {
  while (!head_ && !closed_) co_await in_event_.wait();
  co_return head_result(body_max);
}

awaitable<std::optional<H2ClientStream::Head>> H2ClientStream::wait_head_briefly(std::size_t body_max) {
  net::SlowWait slow(co_await asio::this_coro::executor);
  while (!head_ && !closed_) {
    co_await in_event_.wait(slow.slot());
    if (slow.slow() && !head_ && !closed_) co_return std::nullopt;
  }
  co_return head_result(body_max);
}

H2ClientStream::Head H2ClientStream::head_result(std::size_t body_max) {
  Head out;
  if (head_) {
    out.head = std::move(*head_);  // taken once; head_ stays set (the head has come)
    if (body_max > 0) take_into(out.body, body_max);
    out.ended = response_ended();
  } else {
    out.head = std::unexpected(asio::error::connection_reset);
    out.retryable = retryable();
    out.reason = failure_reason();
  }
  return out;
}

awaitable<std::pair<error_code, std::size_t>> H2ClientStream::read_some(std::span<char> buf) {
  while (in_pos_ == in_buf_.size() && !in_end_ && !closed_) co_await in_event_.wait();
  if (in_pos_ < in_buf_.size()) {
    std::size_t n = std::min(buf.size(), in_buf_.size() - in_pos_);
    std::memcpy(buf.data(), in_buf_.data() + in_pos_, n);
    consumed(n);
    co_return std::pair{error_code{}, n};
  }
  co_return std::pair{end_error(), std::size_t{0}};
}

awaitable<error_code> H2ClientStream::read_into(std::string& out, std::size_t max) {
  while (in_pos_ == in_buf_.size() && !in_end_ && !closed_) co_await in_event_.wait();
  take_into(out, max);
  co_return out.empty() ? end_error() : error_code{};
}

void H2ClientStream::take_into(std::string& out, std::size_t max) {
  out.clear();
  std::size_t n = std::min(max, in_buf_.size() - in_pos_);
  if (n == 0) return;
  if (in_pos_ == 0 && n == in_buf_.size()) {
    out.swap(in_buf_);  // in_buf_ takes out's old storage for what comes next
    in_buf_.clear();
  } else {
    out.assign(in_buf_, in_pos_, n);
  }
  consumed(n);
}

void H2ClientStream::consumed(std::size_t n) {
  in_pos_ += n;
  if (in_pos_ >= in_buf_.size()) {
    in_buf_.clear();
    in_pos_ = 0;
  }
  if (!closed_) {
    nghttp2_session_consume(session_->session_, id_, n);  // flow control follows consumption
    session_->signal_write();
  }
}

error_code H2ClientStream::end_error() const {
  // END_STREAM seen (closed_ may be set with NO_ERROR too): a clean end.
  return in_end_ ? error_code(asio::error::eof) : error_code(asio::error::connection_reset);
}

long H2ClientStream::read_data(std::uint8_t* buf, std::size_t length, std::uint32_t* flags) {
  return out_.read(session_->session_, id_, buf, length, flags);
}

int H2ClientStream::send_data_frame(const std::uint8_t* framehd, std::size_t length) {
  int rv = http::send_data_frame(session_->io_, framehd, length, out_);
  if (rv == 0 && out_.pending() <= session_->options_.high_water / 2) out_event_.notify();  // the writer may go on
  return rv;
}

awaitable<error_code> H2ClientStream::wait_for_wire(std::size_t limit) {
  if (!closed_) out_.resume(session_->session_, id_);
  session_->signal_write();
  while (!closed_ && out_.pending() > limit) co_await out_event_.wait();
  co_return closed_ ? error_code(asio::error::connection_reset) : error_code{};
}

awaitable<error_code> H2ClientStream::write_all(std::span<const char> data) {
  if (closed_ || out_.end) co_return asio::error::connection_reset;
  if (data.empty()) co_return error_code{};
  out_.append(data);
  co_return co_await wait_for_wire(session_->options_.high_water);
}

awaitable<error_code> H2ClientStream::finish(const Fields& trailers) {
  if (out_.end) co_return error_code{};
  if (closed_) co_return asio::error::connection_reset;
  out_.end = true;
  out_.trailers = trailers;
  co_return co_await wait_for_wire(session_->options_.high_water);
}

void H2ClientStream::close() {
  if (closed_ || id_ < 0 || !session_->session_) return;
  if (response_ended() && out_.end) return;  // finished both ways; nghttp2 closes it
  nghttp2_submit_rst_stream(session_->session_, NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
  session_->signal_write();
}

// ---------------------------------------------------------------- H2Client

namespace {

H2Client* client(void* user) { return static_cast<H2Client*>(user); }

long data_source_read(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                      nghttp2_data_source* source, void*) {
  return static_cast<H2ClientStream*>(source->ptr)->read_data(buf, length, flags);
}

int send_data(nghttp2_session*, nghttp2_frame*, const std::uint8_t* framehd, std::size_t length,
              nghttp2_data_source* source, void*) {
  return static_cast<H2ClientStream*>(source->ptr)->send_data_frame(framehd, length);
}

}  // namespace

H2Client::H2Client(Private, std::unique_ptr<UpstreamConn> conn, const Options& options, const asio::any_io_executor& ex)
    : conn_(std::move(conn)), io_(conn_->t, ex, "upstream " + conn_->key), options_(options), ex_(ex), settings_event_(ex) {}

H2Client::~H2Client() {
  if (session_) nghttp2_session_del(session_);
}

H2ClientStream* H2Client::stream(std::int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

int H2Client::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                        const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (auto* s = client(user)->stream(frame->hd.stream_id))
    s->on_header({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen});
  return 0;
}

int H2Client::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = client(user);
  switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
      if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        c->settings_received_ = true;
        c->settings_event_.notify();
      }
      return 0;
    case NGHTTP2_PING:
      if (frame->hd.flags & NGHTTP2_FLAG_ACK) c->io_.ping_outstanding = false;
      return 0;
    case NGHTTP2_GOAWAY:
      c->goaway_ = true;  // streams above last_stream_id are closed with REFUSED_STREAM
      return 0;
    case NGHTTP2_HEADERS:
      if (auto* s = c->stream(frame->hd.stream_id)) s->on_headers_end(frame->hd.flags & NGHTTP2_FLAG_END_STREAM);
      return 0;
    case NGHTTP2_DATA:
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        if (auto* s = c->stream(frame->hd.stream_id)) {
          s->in_end_ = true;
          s->in_event_.notify();
        }
      }
      return 0;
    default:
      return 0;
  }
  return 0;
}

int H2Client::on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int, void* user) {
  // A request nghttp2 could not start (GOAWAY arrived first): never processed upstream.
  if (frame->hd.type == NGHTTP2_HEADERS)
    if (auto* s = client(user)->stream(frame->hd.stream_id)) s->not_sent_ = true;
  return 0;
}

int H2Client::on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                            std::size_t len, void* user) {
  if (auto* s = client(user)->stream(stream_id)) s->on_data(data, len);
  else nghttp2_session_consume_connection(session, len);
  return 0;
}

int H2Client::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user) {
  auto* c = client(user);
  auto it = c->streams_.find(stream_id);
  if (it == c->streams_.end()) return 0;
  it->second->on_close(error_code, false);
  c->streams_.erase(it);  // the request's coroutine keeps its own reference
  if (c->shutdown_when_idle_ && c->streams_.empty()) c->shutdown(true);
  return 0;
}

bool H2Client::init() {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_session_callbacks_set_send_data_callback(cbs, send_data);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_peer_max_concurrent_streams(opt, 100);  // until the server's SETTINGS say otherwise
  int rv = nghttp2_session_client_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) return false;
  io_.session = session_;
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options_.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options_.max_header_list},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(options_.connection_window));
  return true;
}

awaitable<void> H2Client::wait_settings(std::shared_ptr<H2Client> self) {
  while (!self->settings_received_ && !self->io_.dead) co_await self->settings_event_.wait();
}

awaitable<std::expected<std::shared_ptr<H2Client>, error_code>> H2Client::start(
    std::unique_ptr<UpstreamConn> conn, const Options& options, std::function<void()> on_end) {
  auto ex = co_await asio::this_coro::executor;
  auto self = std::make_shared<H2Client>(Private{}, std::move(conn), options, ex);
  if (!self->init()) co_return std::unexpected(asio::error::no_memory);
  asio::co_spawn(ex, self->run(self, std::move(on_end)), asio::detached);
  // Wait for the server's SETTINGS: proof that the peer speaks HTTP/2 at all.
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(ex);
  timer.expires_after(options.handshake_timeout);
  auto raced = co_await (wait_settings(self) || timer.async_wait(use_nothrow_awaitable));
  if (raced.index() == 0 && self->settings_received_ && !self->io_.dead) co_return self;
  self->shutdown(true);
  co_return std::unexpected(raced.index() == 1 ? asio::error::timed_out : asio::error::connection_reset);
}

std::expected<std::shared_ptr<H2ClientStream>, error_code> H2Client::open(const RequestHead& req, bool has_body) {
  if (!usable()) return std::unexpected(asio::error::connection_reset);
  auto s = std::make_shared<H2ClientStream>(shared_from_this(), ex_);
  bool connect = req.method == "CONNECT";
  NvList nva;
  nva.reserve(req.fields.size() + 4);
  nva.push_back(make_nv(":method", req.method));
  if (!connect) nva.push_back(make_nv(":scheme", req.scheme));
  nva.push_back(make_nv(":authority", req.authority));
  if (!connect) nva.push_back(make_nv(":path", req.target));
  for (const auto& f : req.fields) {
    if (h2_forbidden_field(f.name) && !(f.name == "te" && iequals(trim(f.value), "trailers"))) continue;
    nva.push_back(make_nv(f.name, f.value));
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = s.get();
  provider.read_callback = data_source_read;
  std::int32_t id =
      nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), has_body ? &provider : nullptr, s.get());
  if (id < 0) {
    if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) goaway_ = true;  // ids exhausted: a new session next time
    return std::unexpected(asio::error::connection_reset);
  }
  s->id_ = id;
  if (!has_body) s->out_.end = true;
  streams_.emplace(id, s);
  signal_write();
  return s;
}

void H2Client::shutdown(bool now) {
  if (io_.dead) return;
  if (!now && !streams_.empty()) {
    shutdown_when_idle_ = true;
    goaway_ = true;
    return;
  }
  goaway_ = true;
  if (session_) nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  signal_write();
  io_.reading_done = true;  // the writer flushes the GOAWAY, then closes
}

awaitable<void> H2Client::run(std::shared_ptr<H2Client> self, std::function<void()> on_end) {
  (void)self;  // keeps the session alive while its loops run
  co_await io_.run(options_.ping_interval, options_.ping_timeout, options_.send_timeout);
  goaway_ = true;
  settings_event_.notify();
  // Every stream still open lost its connection; wake their coroutines.
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) s->on_close(NGHTTP2_INTERNAL_ERROR, true);
  if (on_end) on_end();
}

// ---------------------------------------------------------------- forward_h2

namespace {

// A response body goes on in the pieces it arrived in, up to this much at a time.
constexpr std::size_t kMaxBodyPiece = 256 * 1024;

awaitable<std::expected<std::shared_ptr<H2ClientStream>, error_code>> open_stream(std::shared_ptr<H2Client> session,
                                                                                  const RequestHead& req, bool body) {
  co_return session->open(req, body);
}

}  // namespace

awaitable<std::expected<ForwardResult, UpstreamFailure>> forward_h2(Exchange& ex, std::shared_ptr<H2Client> session,
                                                                    const RequestHead& req, const Limits& limits) {
  // The session may live on another I/O thread than this exchange: every step on the stream
  // runs there (net::run_on), every step on the exchange here.
  const asio::any_io_executor home = session->executor();
  bool tunnel = req.is_connect();
  bool has_body = req.has_body && !tunnel;
  // A CONNECT stream stays open for the tunnel.
  auto opened = co_await net::run_on(home, [&] { return open_stream(session, req, has_body || tunnel); });
  if (!opened) co_return std::unexpected(UpstreamFailure{"upstream session unavailable", false, true});
  // Whatever way this coroutine ends (including cancellation by a client reset), an unfinished
  // stream is cancelled upstream, and both references are dropped on the session's thread.
  struct Guard {
    const asio::any_io_executor& home;
    std::shared_ptr<H2Client> session;
    std::shared_ptr<H2ClientStream> stream;
    ~Guard() {
      asio::dispatch(home, [se = std::move(session), st = std::move(stream)] { st->close(); });
    }
  } guard{home, std::move(session), std::move(*opened)};
  H2ClientStream& stream = *guard.stream;

  bool body_read = false;
  if (has_body) {
    for (;;) {
      auto chunk = co_await ex.read_body();
      if (!chunk) co_return std::unexpected(client_body_failure(chunk.error()));
      body_read = true;
      if (!chunk->data.empty() && co_await net::run_on(home, [&] { return stream.write_all(chunk->data); }))
        break;  // answered early / reset
      if (chunk->end) {
        Fields trailers = ex.request_trailers();
        strip_hop_by_hop(trailers);
        co_await net::run_on(home, [&] { return stream.finish(trailers); });
        break;
      }
    }
  }

  // While it waits, a client that goes away ends the exchange (499) when the exchange can
  // tell. Racing the client's socket costs more than a quick answer, so that race starts only
  // once the wait has turned slow (as in forward_h1).
  // What of the body came with the head goes on with it (a tunnel's bytes stay for the relay).
  const std::size_t body_max = tunnel ? 0 : kMaxBodyPiece;
  H2ClientStream::Head head;
  if (ex.can_tell_client_gone()) {
    auto brief = co_await net::run_on(home, [&] { return stream.wait_head_briefly(body_max); });
    if (brief) {
      head = std::move(*brief);
    } else {
      using namespace asio::experimental::awaitable_operators;
      auto raced = co_await (net::run_on(home, [&] { return stream.wait_head(body_max); }) || ex.client_gone());
      if (raced.index() == 1) co_return std::unexpected(UpstreamFailure{"client went away", false, false, 499});
      head = std::move(std::get<0>(raced));
    }
  } else {
    head = co_await net::run_on(home, [&] { return stream.wait_head(body_max); });
  }
  if (!head.head) co_return std::unexpected(UpstreamFailure{head.reason, false, head.retryable && !body_read});
  ResponseHead resp = std::move(*head.head);
  strip_hop_by_hop(resp.fields);
  strip_internal(resp.fields);

  if (tunnel) {
    // A tunnel through the upstream: only a 2xx opens it.
    if (resp.status / 100 != 2) {
      co_return std::unexpected(UpstreamFailure{"upstream refused the tunnel with " + std::to_string(resp.status), false,
                                                false, 502});
    }
    if (co_await ex.send_head(resp, false)) co_return ForwardResult{resp.status, false, false, true};
    net::HopStream upstream(stream, home);
    auto relayed = co_await net::relay(ex.tunnel(), upstream, limits.tunnel_idle);
    ex.stats.request_body_bytes += relayed.a_to_b;
    ex.stats.response_body_bytes += relayed.b_to_a;
    co_return ForwardResult{resp.status, false, true, true};
  }

  // The stream's fields are complete once END_STREAM was reported (read on this thread).
  Fields trailers;
  if (head.ended) {
    trailers = stream.trailers();
    strip_hop_by_hop(trailers);
  }
  const bool end_now = head.ended && trailers.empty();
  error_code sent_head;
  if (head.body.empty())
    sent_head = co_await ex.send_head(resp, end_now);
  else
    sent_head = co_await ex.send_head_and_body(resp, head.body, end_now);
  if (sent_head) co_return ForwardResult{resp.status, false, false, true};
  if (!head.ended) {
    // Each piece keeps its own string while the downstream stream queues it (SharedBody).
    std::shared_ptr<std::string> body;
    for (;;) {
      if (!body || body.use_count() > 1) body = std::make_shared<std::string>();
      auto ec = co_await net::run_on(home, [&] { return stream.read_into(*body, kMaxBodyPiece); });
      if (ec == asio::error::eof) break;
      if (ec) {
        ex.abort();  // never present a truncated body as complete
        // The stream is closed: its state no longer changes on the session's thread.
        co_return std::unexpected(UpstreamFailure{stream.failure_reason(), true, false});
      }
      const SharedBody piece{body, *body};
      auto sent = co_await ex.send_body_shared(piece);
      if (sent) co_return ForwardResult{resp.status, false, false, true};
    }
    trailers = stream.trailers();  // complete before END_STREAM was reported
    strip_hop_by_hop(trailers);
  }
  if (!end_now) co_await ex.finish(trailers);
  co_return ForwardResult{resp.status, false, false, true};
}

}  // namespace cmux::http
