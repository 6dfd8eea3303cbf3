// HTTP/1.1 server side: Beast parses, h1_head adds the strict rules, H1ServerExchange
// adapts one request/response to the protocol-neutral Exchange.
#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <charconv>

#include "http/h1_beast.hpp"
#include "http/server_conn.hpp"
#include "net/send_now.hpp"

namespace cmux::http {
namespace {

constexpr std::size_t kBodyChunk = 16 * 1024;

std::string error_response(int status, std::string_view text) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
  out += "content-type: text/plain; charset=utf-8\r\ncontent-length: " + std::to_string(text.size()) +
         "\r\nconnection: close\r\n\r\n";
  out += text;
  return out;
}

bool bodyless_status(int status) { return status < 200 || status == 204 || status == 304; }

class H1ServerExchange final : public Exchange {
  // Arms the connection's deadline while the client has to make progress (send body bytes, take
  // response bytes); a read and a write may be in flight together, so the last one out clears it.
  class Progress {
   public:
    Progress(H1ServerExchange& ex, std::chrono::milliseconds limit) : ex_(ex) {
      ++ex_.in_flight_;
      ex_.conn_.deadline.expires_after(limit);
    }
    ~Progress() {
      if (--ex_.in_flight_ == 0) ex_.conn_.deadline.clear();
    }
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

   private:
    H1ServerExchange& ex_;
  };

 public:
  using Parser = H1RequestParser;

  H1ServerExchange(net::Transport& t, std::string& in, Parser& parser, RequestHead req, ServerConn& conn,
                   bool keep_alive, bool expect_continue)
      : t_(t), in_(in), parser_(parser), req_(std::move(req)), conn_(conn), keep_alive_(keep_alive),
        expect_continue_(expect_continue) {}

  RequestHead& request() override { return req_; }
  const ConnInfo& conn() const override { return conn_.info; }
  std::uint32_t stream_id() const override { return 0; }
  const Fields& request_trailers() const override { return trailers_; }
  bool reusable() const { return keep_alive_ && finished_ && !aborted_ && !tunnel_ && body_done(); }

  awaitable<std::expected<BodyChunk, error_code>> read_body() override {
    if (body_done()) co_return BodyChunk{{}, true};
    Progress progress(*this, conn_.limits.body_idle);
    if (auto ec = co_await send_continue()) co_return std::unexpected(ec);
    body_read_ = true;
    auto r = co_await pull_body(parser_, in_, t_, out_);
    if (!r) {
      keep_alive_ = false;
      co_return std::unexpected(r.error());
    }
    stats.request_body_bytes += r->size;
    if (conn_.limits.max_request_body && stats.request_body_bytes > conn_.limits.max_request_body) {
      keep_alive_ = false;
      co_return std::unexpected(bhttp::error::body_limit);  // → 413 (client_body_failure)
    }
    if (r->end) trailers_ = parser_.trailers();
    co_return BodyChunk{{out_.data(), r->size}, r->end};
  }

  awaitable<error_code> send_head(const ResponseHead& head, bool end_stream) override {
    std::string out = serialize_head(head, end_stream);
    Progress progress(*this, conn_.limits.send_progress);
    co_return co_await t_.write_all(out);
  }

  awaitable<error_code> send_head_and_body(const ResponseHead& head, std::span<const char> body,
                                           bool end_stream) override {
    std::string out = serialize_head(head, false);
    if (no_body_) body = {};
    stats.response_body_bytes += body.size();
    char size_line[24];
    std::array<asio::const_buffer, 4> bufs;
    std::size_t n = 0;
    bufs[n++] = asio::buffer(out);
    std::string last;
    if (!chunked_) {
      bufs[n++] = asio::buffer(body.data(), body.size());
    } else {
      if (!body.empty()) {
        bufs[n++] = asio::buffer(size_line, format_chunk_size(size_line, body.size()));
        // The chunk's CRLF goes with the last chunk when there is one.
        last = end_stream ? "\r\n" + last_chunk({}) : std::string("\r\n");
        bufs[n++] = asio::buffer(body.data(), body.size());
      } else if (end_stream) {
        last = last_chunk({});
      }
      if (!last.empty()) bufs[n++] = asio::buffer(last);
    }
    if (end_stream && !tunnel_) finished_ = true;
    Progress progress(*this, conn_.limits.send_progress);
    std::span<asio::const_buffer> all(bufs.data(), n);
    if (auto* socket = t_.plain_socket()) {  // written here, without the frame of Transport::write_gather()
      error_code ec;
      if (auto rest = net::send_now(*socket, all, ec); !ec && !rest.empty())
        std::tie(ec, std::ignore) = co_await asio::async_write(*socket, rest, use_nothrow);
      co_return ec;
    }
    co_return co_await t_.write_gather(all);
  }

  // The status line and fields; decides the framing (Content-Length, chunked, none).
  std::string serialize_head(const ResponseHead& head, bool end_stream) {
    status_ = head.status;
    head_sent_ = true;
    bool is_head = req_.method == "HEAD";
    tunnel_ = (req_.is_connect() && head.status / 100 == 2) || (!req_.upgrade.empty() && head.status == 101);
    no_body_ = is_head || bodyless_status(head.status) || tunnel_;
    if (conn_.draining) keep_alive_ = false;

    std::string out;
    out.reserve(256);
    out += "HTTP/1.1 ";
    out += std::to_string(head.status);
    out += ' ';
    out += reason_phrase(head.status);
    out += "\r\n";
    bool has_length = false;
    for (const auto& f : head.fields) {
      if (f.name == "content-length") {
        if (tunnel_ || (bodyless_status(head.status) && head.status != 304)) continue;
        has_length = true;
      }
      append_field_line(out, f);
    }
    if (tunnel_ && head.status == 101) {
      out += "connection: upgrade\r\nupgrade: ";
      out += req_.upgrade;
      out += "\r\n";
    } else if (!no_body_ && !has_length) {
      if (end_stream) {
        out += "content-length: 0\r\n";
      } else {
        chunked_ = true;
        out += "transfer-encoding: chunked\r\n";
      }
    }
    if (!keep_alive_ && !tunnel_) out += "connection: close\r\n";
    out += "\r\n";
    if (end_stream && !tunnel_) finished_ = true;
    return out;
  }

  awaitable<error_code> send_body(std::span<const char> data) override {
    if (no_body_ || data.empty()) co_return error_code{};
    stats.response_body_bytes += data.size();
    Progress progress(*this, conn_.limits.send_progress);
    if (!chunked_) co_return co_await t_.write_all(data);
    char size_line[24];
    std::array<asio::const_buffer, 3> bufs{asio::buffer(size_line, format_chunk_size(size_line, data.size())),
                                           asio::buffer(data.data(), data.size()), asio::buffer("\r\n", 2)};
    co_return co_await t_.write_gather(bufs);
  }

  bool can_splice_request_body() const override {
    return !body_done() && !body_read_ && parser_.content_length() && t_.plain_socket();
  }

  awaitable<SplicedRequestBody> splice_request_body(net::SplicePipe& pipe, tcp::socket& to) override {
    SplicedRequestBody r;
    tcp::socket& from = *t_.plain_socket();
    std::uint64_t left = parser_.content_length_remaining().value_or(0);
    {
      Progress progress(*this, conn_.limits.body_idle);
      r.client = co_await send_continue();
    }
    // What came with the head goes first; bytes past the body stay (a pipelined request).
    if (auto have = static_cast<std::size_t>(std::min<std::uint64_t>(left, in_.size())); have > 0 && !r.client) {
      std::tie(r.upstream, std::ignore) = co_await asio::async_write(to, asio::buffer(in_.data(), have), use_nothrow);
      in_.erase(0, have);
      left -= have;
      stats.request_body_bytes += have;
    }
    while (left > 0 && !r.client && !r.upstream) {
      std::pair<error_code, std::size_t> got;
      {
        Progress progress(*this, conn_.limits.body_idle);  // the client has to keep sending
        got = co_await pipe.fill(from, static_cast<std::size_t>(std::min<std::uint64_t>(left, pipe.kSize)));
      }
      if (got.first || got.second == 0) {
        r.client = got.first ? got.first : error_code(bhttp::error::partial_message);
        break;
      }
      left -= got.second;
      stats.request_body_bytes += got.second;
      r.upstream = co_await pipe.drain(to);
    }
    if (r.client || r.upstream) keep_alive_ = false;  // the rest of the body is still unread
    else body_spliced_ = true;
    co_return r;
  }

  bool can_splice_body() const override {
    return head_sent_ && !no_body_ && !chunked_ && !finished_ && t_.plain_socket();
  }

  awaitable<RelayedBody> splice_body(net::SplicePipe& pipe, tcp::socket& from, std::uint64_t left) override {
    tcp::socket& to = *t_.plain_socket();
    while (left > 0) {
      auto [ec, n] = co_await pipe.fill(from, static_cast<std::size_t>(std::min<std::uint64_t>(left, pipe.kSize)));
      if (ec || n == 0) co_return RelayedBody{ec ? ec : asio::error::eof};
      left -= n;
      stats.response_body_bytes += n;
      Progress progress(*this, conn_.limits.send_progress);  // only while the client has bytes to take
      if (co_await pipe.drain(to)) co_return RelayedBody{{}, true};
    }
    co_return RelayedBody{};
  }

  awaitable<error_code> finish(const Fields& trailers) override {
    if (finished_) co_return error_code{};
    finished_ = true;
    if (!chunked_) co_return error_code{};
    Progress progress(*this, conn_.limits.send_progress);
    co_return co_await t_.write_all(last_chunk(trailers));
  }

  void abort() override {
    aborted_ = true;
    keep_alive_ = false;
    t_.close();
  }

  // Only meaningful once the request is fully read and nothing is buffered: readability
  // then means EOF, a reset, or pipelined bytes (which we must not consume here).
  bool can_tell_client_gone() const override {
    return t_.has_socket() && body_done() && in_.empty() && t_.buffered() == 0;
  }

  awaitable<void> client_gone() override {
    if (!can_tell_client_gone()) co_return co_await Exchange::client_gone();
    auto [ec] = co_await t_.socket().async_wait(tcp::socket::wait_read, use_nothrow);
    if (ec) co_return;
    char byte;
    ssize_t n = ::recv(t_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      keep_alive_ = false;
      co_return;  // gone
    }
    co_await Exchange::client_gone();  // pipelined data: the client is still there
  }

  net::ByteStream& tunnel() override {
    // Bytes the client pipelined after the head belong to the tunnel.
    t_.unread(in_);
    in_.clear();
    return t_;
  }

 private:
  bool body_done() const { return body_spliced_ || parser_.is_done(); }

  // The interim 100 answers Expect: 100-continue once, when the body is first wanted.
  awaitable<error_code> send_continue() {
    if (!expect_continue_) co_return error_code{};
    expect_continue_ = false;
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    co_return co_await t_.write_all(kContinue);
  }

  net::Transport& t_;
  std::string& in_;
  Parser& parser_;
  RequestHead req_;
  ServerConn& conn_;
  bool keep_alive_;
  bool expect_continue_;
  bool tunnel_ = false;
  bool no_body_ = false;
  bool chunked_ = false;
  bool aborted_ = false;
  bool body_read_ = false;     // read_body() has taken some of the body
  bool body_spliced_ = false;  // splice_request_body() moved all of it
  int in_flight_ = 0;
  Fields trailers_;
  std::array<char, kBodyChunk> out_;
};

// Request head from Beast's parsed header; nullopt when it breaks the strict rules.
std::optional<RequestHead> make_request_head(H1RequestParser& parser, bool tls) {
  RequestHead req;
  req.version = Version::http11;
  req.method = parser.method();
  req.target = parser.target();
  req.scheme = tls ? "https" : "http";
  req.fields = parser.take_fields();
  const std::size_t hosts = count_field(req.fields, "host");
  if (hosts > 1) return std::nullopt;
  if (hosts == 1) {
    auto host = std::find_if(req.fields.begin(), req.fields.end(), [](const Field& f) { return f.name == "host"; });
    req.authority = std::move(host->value);
    req.fields.erase(host);
  }
  if (parser.version() == 11 && hosts == 0) return std::nullopt;  // RFC 9112 §3.2
  auto framing = check_framing(req.fields);
  if (!framing) return std::nullopt;
  req.content_length = framing->content_length;
  req.has_body = framing->chunked || framing->content_length.value_or(0) > 0;

  if (req.method == "CONNECT") {
    req.authority = req.target;
    req.scheme.clear();
  } else if (req.target.starts_with("http://") || req.target.starts_with("https://")) {
    // absolute-form: the target's authority is the one used (RFC 9112 §3.2.2)
    req.absolute_form = true;
    auto scheme_end = req.target.find("://");
    req.scheme = req.target.substr(0, scheme_end);
    auto auth_start = scheme_end + 3;
    auto path_start = find_path_start(req.target, auth_start);
    auto authority = req.target.substr(auth_start, path_start == std::string::npos ? std::string::npos : path_start - auth_start);
    // A Host that names another authority is an ambiguity one hop may read differently from the
    // next (smuggling, cache poisoning): refuse it instead of picking one (SPEC §6, issue 7).
    if (hosts == 1 && !same_authority(authority, req.authority, req.scheme)) return std::nullopt;
    req.authority = std::move(authority);
  }
  if (auto up = find_field(req.fields, "upgrade"); up && connection_has(req.fields, "upgrade") && req.method != "CONNECT")
    req.upgrade = std::string(trim(*up));
  return req;
}

}  // namespace

awaitable<void> serve_http1(net::Transport& t, ServerConn& conn) {
  std::string in;
  bool first = true;
  bool idle = true;
  conn.on_drain = [&] {
    if (idle) t.close();
  };
  for (;;) {
    idle = true;
    if (conn.draining) co_return;
    conn.deadline.expires_after(first ? conn.limits.first_bytes : conn.limits.connection_idle);
    HeadScan scan;
    for (;;) {
      auto r = scan_head(in, conn.limits.head);
      if (!r) {
        co_await t.write_all(error_response(head_error_status(r.error()), head_error_text(r.error())));
        co_return;
      }
      if (r->length) {
        scan = *r;
        break;
      }
      if (!in.empty() && idle) {  // the head has begun: the header timeout applies now
        idle = false;
        conn.deadline.expires_after(conn.limits.request_headers);
      }
      auto [ec, n] = co_await read_append(t, in);
      if (ec || n == 0) co_return;
    }
    idle = false;
    first = false;
    conn.deadline.clear();
    in.erase(0, scan.skipped);

    H1ServerExchange::Parser parser;
    parser.eager(true);
    parser.expect_fields(scan.fields);
    parser.header_limit(static_cast<std::uint32_t>(scan.length + 1));
    parser.body_limit(boost::none);
    error_code ec;
    parser.put(asio::buffer(in.data(), scan.length), ec);
    std::optional<RequestHead> req;
    if ((!ec || ec == bhttp::error::need_more) && parser.is_header_done())
      req = make_request_head(parser, t.is_tls());
    in.erase(0, scan.length);
    if (!req) {
      co_await t.write_all(error_response(400, "Bad Request"));
      co_return;
    }
    if (conn.limits.max_request_body && req->content_length.value_or(0) > conn.limits.max_request_body) {
      co_await t.write_all(error_response(413, "Content Too Large"));
      co_return;
    }
    bool keep_alive = parser.version() == 11 ? !connection_has(req->fields, "close") : connection_has(req->fields, "keep-alive");
    bool expect_continue = false;
    if (auto e = find_field(req->fields, "expect")) {
      expect_continue = iequals(trim(*e), "100-continue");
      remove_field(req->fields, "expect");  // answered here, hop by hop
    }
    H1ServerExchange ex(t, in, parser, std::move(*req), conn, keep_alive, expect_continue);
    bool failed = false;
    try {
      co_await conn.handler(ex);
    } catch (const std::exception& e) {
      spdlog::error("[C{}] handler failed: {}", conn.info.id, e.what());
      failed = true;
    }
    if (failed) {
      if (!ex.head_sent()) co_await t.write_all(error_response(500, "Internal Server Error"));
      co_return;
    }
    if (!ex.reusable()) {
      if (ex.finished()) co_await t.shutdown_write();
      co_return;
    }
  }
}

}  // namespace cmux::http
