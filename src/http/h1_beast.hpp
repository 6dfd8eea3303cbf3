// Glue between Boost.Beast's HTTP/1.1 parser and our message types (shared by the
// server and client sides of the HTTP/1.1 codec).
#pragma once

#include <boost/beast/http.hpp>
#include <cstring>
#include <expected>
#include <span>
#include <string>

#include "http/h1_head.hpp"
#include "http/message.hpp"
#include "net/byte_stream.hpp"

namespace cmux::http {

namespace bhttp = boost::beast::http;

// Beast's HTTP/1.1 parser (framing, validation, chunked decoding) without its field
// container. The head's fields are taken in wire order by raw_fields(); storing them in
// bhttp::fields as well cost an allocation per field on every request and response. Kept
// here: the start line, the trailers (names lower-cased) and where the body goes.
template <bool isRequest>
class H1Parser final : public bhttp::basic_parser<isRequest> {
 public:
  std::string_view method() const { return method_; }  // requests
  std::string_view target() const { return target_; }  // requests
  int status() const { return status_; }                // responses
  unsigned version() const { return version_; }         // 10 or 11
  const Fields& trailers() const { return trailers_; }
  // Decoded body bytes go to `out` until it is full (then put() stops with need_buffer).
  void body_to(std::span<char> out) { body_ = out; }
  std::size_t body_room() const { return body_.size(); }

 private:
  void on_request_impl(bhttp::verb, boost::beast::string_view method, boost::beast::string_view target, int version,
                       error_code&) override {
    method_.assign(method.data(), method.size());
    target_.assign(target.data(), target.size());
    version_ = static_cast<unsigned>(version);
  }
  void on_response_impl(int status, boost::beast::string_view, int version, error_code&) override {
    status_ = status;
    version_ = static_cast<unsigned>(version);
  }
  void on_field_impl(bhttp::field, boost::beast::string_view name, boost::beast::string_view value,
                     error_code&) override {
    if (header_done_) trailers_.push_back({to_lower({name.data(), name.size()}), std::string(value.data(), value.size())});
  }
  void on_header_impl(error_code&) override { header_done_ = true; }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(boost::beast::string_view body, error_code& ec) override { return take(body, ec); }
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body, error_code& ec) override {
    return take(body, ec);
  }
  void on_finish_impl(error_code&) override {}

  std::size_t take(boost::beast::string_view body, error_code& ec) {
    std::size_t n = std::min(body.size(), body_.size());
    if (n) std::memcpy(body_.data(), body.data(), n);
    body_ = body_.subspan(n);
    if (n < body.size()) ec = bhttp::error::need_buffer;
    return n;
  }

  std::string method_;
  std::string target_;
  int status_ = 0;
  unsigned version_ = 11;
  bool header_done_ = false;
  Fields trailers_;
  std::span<char> body_;
};
using H1RequestParser = H1Parser<true>;
using H1ResponseParser = H1Parser<false>;

// One read from `stream`, appended to `in`: no bounce buffer in the coroutine's frame (a
// 16 KiB array there makes every frame a large allocation) and no copy out of one.
inline awaitable<std::pair<error_code, std::size_t>> read_append(net::ByteStream& stream, std::string& in,
                                                                 std::size_t max = 16 * 1024) {
  std::size_t old = in.size();
  in.resize_and_overwrite(old + max, [](char*, std::size_t n) { return n; });  // filled by the read
  auto r = co_await stream.read_some({in.data() + old, max});
  in.resize(old + r.second);
  co_return r;
}

// The same from a plain socket, cut short when `slot` is cancelled (operation_aborted, nothing
// read: a reactor read takes no bytes before it completes).
inline awaitable<std::pair<error_code, std::size_t>> read_append(tcp::socket& socket, std::string& in, std::size_t max,
                                                                 asio::cancellation_slot slot) {
  std::size_t old = in.size();
  in.resize_and_overwrite(old + max, [](char*, std::size_t n) { return n; });  // filled by the read
  auto [ec, n] =
      co_await socket.async_read_some(asio::buffer(in.data() + old, max), asio::bind_cancellation_slot(slot, use_nothrow_awaitable));
  in.resize(old + n);
  co_return std::pair{ec, n};
}

// Pulls the next piece of body out of a Beast parser whose header is done, reading more
// input from `stream` into `in` as needed. `out` receives decoded body bytes.
// Returns the decoded chunk (possibly empty with end=true).
struct BodyRead {
  std::size_t size = 0;
  bool end = false;
};
template <bool isRequest>
awaitable<std::expected<BodyRead, error_code>> pull_body(H1Parser<isRequest>& parser, std::string& in,
                                                         net::ByteStream& stream, std::span<char> out) {
  for (;;) {
    if (parser.is_done()) co_return BodyRead{0, true};
    error_code ec;
    std::size_t used = 0;
    std::size_t produced = 0;
    if (!in.empty()) {
      parser.body_to(out);
      used = parser.put(boost::asio::buffer(in), ec);
      in.erase(0, used);
      produced = out.size() - parser.body_room();
      if (ec && ec != bhttp::error::need_more && ec != bhttp::error::need_buffer) co_return std::unexpected(ec);
      if (produced > 0 || parser.is_done()) co_return BodyRead{produced, parser.is_done()};
      if (used > 0 && ec != bhttp::error::need_more) continue;
    }
    auto [rec, n] = co_await read_append(stream, in);
    if (rec == boost::asio::error::eof && parser.need_eof()) {
      parser.put_eof(ec);
      if (ec) co_return std::unexpected(ec);
      co_return BodyRead{0, true};
    }
    if (rec) co_return std::unexpected(rec == boost::asio::error::eof ? bhttp::error::partial_message : rec);
  }
}

}  // namespace cmux::http
