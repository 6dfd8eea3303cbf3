#include "http/upstream_h1.hpp"

#include <openssl/rand.h>
#include <sys/socket.h>

#include <boost/beast/core/detail/base64.hpp>
#include <charconv>
#include <limits>
#include <memory>

#include "http/h1_beast.hpp"
#include "net/relay.hpp"
#include "net/send_now.hpp"
#include "net/slow_wait.hpp"

namespace cmux::http {

namespace {

bool still_open(UpstreamConn& c) {
  // An idle upstream socket must have nothing to read: data or EOF means it is unusable.
  char byte;
  ssize_t n = ::recv(c.t.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::string websocket_key() {
  unsigned char raw[16];
  RAND_bytes(raw, sizeof raw);
  std::string out(boost::beast::detail::base64::encoded_size(sizeof raw), '\0');
  out.resize(boost::beast::detail::base64::encode(out.data(), raw, sizeof raw));
  return out;
}

std::string error_text(const error_code& ec) {
  if (ec == asio::error::eof || ec == bhttp::error::partial_message) return "connection closed by upstream";
  return ec.message();
}

// A response body that is not chunked: Content-Length bytes, or (no length) everything up to
// the upstream's EOF. What came with the head goes out first. Between two plain sockets the
// rest moves with splice(2); otherwise every read lands in a BodyBuffer and is handed to the
// exchange with its buffer, which an HTTP/2 stream queues without a copy (Beast's parser would
// copy each byte twice).
constexpr std::size_t kIdentityChunk = 64 * 1024;
constexpr std::size_t kChunkedPiece = 16 * 1024;  // decoded chunked body per send
// Reads while waiting for a response head: a head and a small body fit; the rest of a large
// body is read into the body's own buffer. The connection keeps this capacity while pooled.
constexpr std::size_t kHeadRead = 4 * 1024;

// The rest of such a body, after the head and what came with it: `left` bytes, or (no length
// known) everything up to EOF.
awaitable<RelayedBody> relay_identity_body(Exchange& ex, net::ByteStream& up, std::uint64_t left,
                                            bool length_known) {
  tcp::socket* socket = up.plain_socket();
  // (A body without a length goes to an HTTP/1.1 client chunked: never spliced.)
  if (length_known && socket && ex.can_splice_body()) {
    net::SplicePipe pipe;
    if (pipe.ok()) co_return co_await ex.splice_body(pipe, *socket, left);
  }
  auto size = static_cast<std::size_t>(std::min<std::uint64_t>(left, std::min(kIdentityChunk, ex.body_piece_hint())));
  BodyBuffer buf(size);
  while (left > 0) {
    auto room = buf.room().first(static_cast<std::size_t>(std::min<std::uint64_t>(size, left)));
    std::pair<error_code, std::size_t> got;
    if (socket) {  // a plain socket is read here, without the frame of up.read_some()
      auto [ec, n] = co_await socket->async_read_some(asio::buffer(room.data(), room.size()), use_nothrow);
      got = {ec, n};
    } else {
      got = co_await up.read_some(room);
    }
    auto [ec, n] = got;
    if (ec == asio::error::eof && !length_known) break;
    if (ec) co_return RelayedBody{ec};
    left -= n;
    const auto piece = buf.piece(n);
    auto sent = co_await ex.send_body_shared(piece);
    if (sent) co_return RelayedBody{{}, true};
  }
  co_return RelayedBody{};
}

}  // namespace

std::unique_ptr<UpstreamConn> H1Pool::take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  auto now = std::chrono::steady_clock::now();
  while (!list.empty()) {
    auto conn = std::move(list.back());
    list.pop_back();
    if (now - conn->idle_since < idle_timeout_ && still_open(*conn)) {
      conn->reused = true;
      return conn;
    }
  }
  return nullptr;
}

void H1Pool::put(std::unique_ptr<UpstreamConn> conn) {
  auto& list = idle_[conn->key];
  auto now = std::chrono::steady_clock::now();
  std::erase_if(list, [&](const auto& c) { return now - c->idle_since >= idle_timeout_; });
  if (list.size() >= max_idle_) list.erase(list.begin());  // drop the oldest
  conn->idle_since = now;
  list.push_back(std::move(conn));
}

std::string serialize_request_head(const RequestHead& req, bool& chunked_body) {
  std::string out;
  out.reserve(512);
  // RFC 8441 extended CONNECT becomes the HTTP/1.1 upgrade it stands for.
  out += (!req.upgrade.empty() && req.method == "CONNECT") ? std::string_view("GET") : std::string_view(req.method);
  out += ' ';
  out += req.target;
  out += " HTTP/1.1\r\nhost: ";
  out += req.authority;
  out += "\r\n";
  bool has_length = false;
  bool ws_key = false;
  bool ws_version = false;
  for (const auto& f : req.fields) {
    if (f.name == "content-length") has_length = true;
    if (f.name == "sec-websocket-key") ws_key = true;
    if (f.name == "sec-websocket-version") ws_version = true;
    append_field_line(out, f);
  }
  chunked_body = false;
  if (!req.upgrade.empty()) {
    out += "connection: upgrade\r\nupgrade: ";
    out += req.upgrade;
    out += "\r\n";
    // RFC 8441 streams carry no Sec-WebSocket-Key; an HTTP/1.1 upstream needs one.
    if (iequals(req.upgrade, "websocket")) {
      if (!ws_key) out += "sec-websocket-key: " + websocket_key() + "\r\n";
      if (!ws_version) out += "sec-websocket-version: 13\r\n";
    }
  } else if (req.has_body && !has_length) {
    chunked_body = true;
    out += "transfer-encoding: chunked\r\n";
  }
  out += "\r\n";
  return out;
}

UpstreamFailure client_body_failure(const error_code& ec) {
  if (ec == bhttp::error::body_limit) return UpstreamFailure{"request body too large", false, false, 413};
  if (ec == asio::error::timed_out) return UpstreamFailure{"request body timed out", false, false, 408};
  // A malformed body (bad chunk size, ...) is the client's fault: 400, never forwarded.
  bool malformed = ec.category() == bhttp::make_error_code(bhttp::error::bad_chunk).category() &&
                   ec != bhttp::error::partial_message;
  if (malformed) return UpstreamFailure{"invalid request body", false, false, 400};
  return UpstreamFailure{"client aborted the request body", false, false, 499};
}

namespace {

// Streams the exchange's request body to the upstream. Returns an error text on failure.
awaitable<std::optional<std::string>> send_request_body(Exchange& ex, UpstreamConn& up, bool chunked,
                                                        std::optional<UpstreamFailure>& client_failure) {
  // A body with a length between plain sockets moves with splice(2).
  if (auto* socket = up.t.plain_socket(); socket && !chunked && ex.can_splice_request_body()) {
    net::SplicePipe pipe;
    if (pipe.ok()) {
      auto r = co_await ex.splice_request_body(pipe, *socket);
      if (r.client) {
        client_failure = client_body_failure(r.client);
        co_return client_failure->reason;
      }
      if (r.upstream) co_return error_text(r.upstream);
      co_return std::nullopt;
    }
  }
  for (;;) {
    auto chunk = co_await ex.read_body();
    if (!chunk) {
      client_failure = client_body_failure(chunk.error());
      co_return client_failure->reason;
    }
    if (!chunk->data.empty()) {
      error_code ec;
      if (chunked) {
        char size_line[24];
        std::array<asio::const_buffer, 3> bufs{asio::buffer(size_line, format_chunk_size(size_line, chunk->data.size())),
                                               asio::buffer(chunk->data.data(), chunk->data.size()),
                                               asio::buffer("\r\n", 2)};
        ec = co_await up.t.write_gather(bufs);
      } else {
        ec = co_await up.t.write_all(chunk->data);
      }
      if (ec) co_return error_text(ec);
    }
    if (chunk->end) break;
  }
  if (chunked) {
    Fields trailers = ex.request_trailers();
    strip_hop_by_hop(trailers);
    if (auto ec = co_await up.t.write_all(last_chunk(trailers))) co_return error_text(ec);
  }
  co_return std::nullopt;
}

// One more read of the response head. While it waits, a client that goes away ends the
// exchange (499) when the exchange can tell: nearly every answer comes within a millisecond,
// and racing the client's socket costs more than such a request, so the read waits alone
// first and the race starts only once the wait has turned slow (net/slow_wait.hpp).
awaitable<std::expected<std::pair<error_code, std::size_t>, UpstreamFailure>> read_head_more(Exchange& ex,
                                                                                             UpstreamConn& up) {
  if (auto* socket = up.t.plain_socket()) {
    net::SlowWait slow(co_await asio::this_coro::executor);
    auto got = co_await read_append(*socket, up.in, kHeadRead, slow.slot());
    if (!slow.slow() || got.first != asio::error::operation_aborted) co_return got;
  }
  using namespace asio::experimental::awaitable_operators;
  auto raced = co_await (read_append(up.t, up.in, kHeadRead) || ex.client_gone());
  if (raced.index() == 1) co_return std::unexpected(UpstreamFailure{"client went away", false, false, 499});
  co_return std::get<0>(raced);
}

}  // namespace

awaitable<std::expected<ForwardResult, UpstreamFailure>> forward_h1(Exchange& ex, UpstreamConn& up,
                                                                    const RequestHead& req, const Limits& limits) {
  bool chunked = false;
  std::string head = serialize_request_head(req, chunked);
  error_code ec;
  if (auto* socket = up.t.plain_socket()) {  // written here, without the frame of Transport::write_all()
    asio::const_buffer b = asio::buffer(head);
    if (auto rest = net::send_now(*socket, {&b, 1}, ec); !ec && !rest.empty())
      std::tie(ec, std::ignore) = co_await asio::async_write(*socket, rest, use_nothrow);
  } else {
    ec = co_await up.t.write_all(head);
  }
  if (ec) co_return std::unexpected(UpstreamFailure{error_text(ec), false, true});

  bool request_complete = true;
  std::optional<std::string> send_error;
  if (req.has_body && req.upgrade.empty()) {
    std::optional<UpstreamFailure> client_failure;
    send_error = co_await send_request_body(ex, up, chunked, client_failure);
    if (client_failure) co_return std::unexpected(*client_failure);
    request_complete = !send_error;
    // On a write error the upstream may still have answered (e.g. 413 then close): read on.
  }

  // Response head (interim 1xx other than 101 are skipped: we answered Expect ourselves).
  std::optional<H1ResponseParser> parser;
  Fields fields;
  bool received_any = !up.in.empty();
  for (;;) {
    auto scan = scan_head(up.in, limits.head);
    if (!scan) co_return std::unexpected(UpstreamFailure{"invalid response head", false, false});
    if (scan->length == 0) {
      // HTTP/2 cannot tell (and needs not: a reset stream cancels the handler), so the read
      // waits alone, without read_head_more()'s frame.
      std::expected<std::pair<error_code, std::size_t>, UpstreamFailure> got;
      if (ex.can_tell_client_gone()) got = co_await read_head_more(ex, up);
      else got = co_await read_append(up.t, up.in, kHeadRead);
      if (!got) co_return std::unexpected(got.error());
      auto [ec, n] = *got;
      if (ec || n == 0) {
        std::string reason = send_error ? *send_error : error_text(ec ? ec : error_code(asio::error::eof));
        co_return std::unexpected(UpstreamFailure{reason, false, !received_any});
      }
      received_any = true;
      continue;
    }
    up.in.erase(0, scan->skipped);
    parser.emplace();
    parser->eager(true);
    parser->expect_fields(scan->fields);
    parser->header_limit(static_cast<std::uint32_t>(scan->length + 1));
    parser->body_limit(boost::none);
    if (req.method == "HEAD" || req.is_connect()) parser->skip(true);
    error_code ec;
    parser->put(asio::buffer(up.in.data(), scan->length), ec);
    if ((ec && ec != bhttp::error::need_more) || !parser->is_header_done())
      co_return std::unexpected(UpstreamFailure{"invalid response head", false, false});
    int status = parser->status();
    if (status >= 100 && status < 200 && status != 101) {
      up.in.erase(0, scan->length);
      continue;
    }
    fields = parser->take_fields();
    up.in.erase(0, scan->length);
    break;
  }

  ResponseHead resp;
  resp.status = parser->status();
  resp.fields = std::move(fields);
  auto framing = check_framing(resp.fields);
  if (!framing) co_return std::unexpected(UpstreamFailure{"invalid response framing", false, false});
  bool keep_alive = parser->keep_alive();
  strip_hop_by_hop(resp.fields);
  strip_internal(resp.fields);
  resp.content_length = framing->content_length;

  if (req.is_connect() && resp.status / 100 != 2)
    co_return std::unexpected(UpstreamFailure{"upstream refused the tunnel with " + std::to_string(resp.status), false, false});
  if ((resp.status == 101 && !req.upgrade.empty()) || req.is_connect()) {
    if (auto ec = co_await ex.send_head(resp, false)) co_return ForwardResult{resp.status, false, false, false};
    up.t.unread(up.in);
    up.in.clear();
    auto relayed = co_await net::relay(ex.tunnel(), up.t, limits.tunnel_idle);
    ex.stats.request_body_bytes += relayed.a_to_b;
    ex.stats.response_body_bytes += relayed.b_to_a;
    co_return ForwardResult{resp.status, false, true, false};
  }

  bool end_stream = parser->is_done();
  if (!end_stream && !framing->chunked) {
    // The head and what came with it leave together (often the whole body); the rest, if any,
    // is relayed by its own coroutine.
    std::uint64_t left = framing->content_length.value_or(std::numeric_limits<std::uint64_t>::max());
    auto with_head = static_cast<std::size_t>(std::min<std::uint64_t>(up.in.size(), left));
    const std::span<const char> head_part(up.in.data(), with_head);
    if (co_await ex.send_head_and_body(resp, head_part, with_head == left))
      co_return ForwardResult{resp.status, false, false, false};
    up.in.erase(0, with_head);
    left -= with_head;
    RelayedBody body;
    if (left > 0)
      body = co_await relay_identity_body(ex, up.t, left, framing->content_length.has_value());
    if (body.downstream_gone) co_return ForwardResult{resp.status, false, false, false};
    if (body.upstream) {
      ex.abort();  // never present a truncated body as complete
      co_return std::unexpected(UpstreamFailure{error_text(body.upstream), true, false});
    }
    // A body that came whole with the head is finished already (no frame for finish() then).
    if (!ex.finished()) {
      if (auto ec = co_await ex.finish(kNoFields)) co_return ForwardResult{resp.status, false, false, false};
    }
  } else if (auto ec = co_await ex.send_head(resp, end_stream)) {
    co_return ForwardResult{resp.status, false, false, false};
  } else if (!end_stream) {
    BodyBuffer body(kChunkedPiece);
    for (;;) {
      auto r = co_await pull_body(*parser, up.in, up.t, body.room());
      if (!r) {
        ex.abort();  // never present a truncated body as complete
        co_return std::unexpected(UpstreamFailure{error_text(r.error()), true, false});
      }
      if (r->size) {
        const auto piece = body.piece(r->size);
        auto sent = co_await ex.send_body_shared(piece);
        if (sent) co_return ForwardResult{resp.status, false, false, false};
      }
      if (r->end) break;
    }
    Fields trailers = parser->trailers();
    strip_hop_by_hop(trailers);
    if (auto ec = co_await ex.finish(trailers)) co_return ForwardResult{resp.status, false, false, false};
  }
  co_return ForwardResult{resp.status, keep_alive && request_complete && up.in.empty(), false, false};
}

}  // namespace cmux::http
