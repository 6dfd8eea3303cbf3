// Glue between Boost.Beast's HTTP/1.1 parser and our message types (shared by the
// server and client sides of the HTTP/1.1 codec).
#pragma once

#include <boost/beast/http.hpp>
#include <cstring>
#include <expected>
#include <span>
#include <string>

#include "http/h1_head.hpp"
#include "http/h1_parser.hpp"
#include "http/message.hpp"
#include "net/byte_stream.hpp"

namespace cmux::http {

namespace bhttp = boost::beast::http;

// One read from `stream`, appended to `in`: no bounce buffer in the coroutine's frame (a
// 16 KiB array there makes every frame a large allocation) and no copy out of one. A plain
// socket is read here, without the frame of the stream's read_some().
inline awaitable<std::pair<error_code, std::size_t>> read_append(net::ByteStream& stream, std::string& in,
                                                                 std::size_t max = 16 * 1024) {
  std::size_t old = in.size();
  in.resize_and_overwrite(old + max, [](char*, std::size_t n) { return n; });  // filled by the read
  std::pair<error_code, std::size_t> r;
  if (auto* socket = stream.plain_socket()) {
    auto [ec, n] = co_await socket->async_read_some(asio::buffer(in.data() + old, max), use_nothrow);
    r = {ec, n};
  } else {
    r = co_await stream.read_some({in.data() + old, max});
  }
  in.resize(old + r.second);
  co_return r;
}

// The same from a plain socket, cut short when `slot` is cancelled (operation_aborted, nothing
// read: a reactor read takes no bytes before it completes).
inline awaitable<std::pair<error_code, std::size_t>> read_append(tcp::socket& socket, std::string& in, std::size_t max,
                                                                 asio::cancellation_slot slot) {
  std::size_t old = in.size();
  in.resize_and_overwrite(old + max, [](char*, std::size_t n) { return n; });  // filled by the read
  auto [ec, n] = co_await with_slot<void(error_code, std::size_t)>(
      slot, [&](auto handler) { socket.async_read_some(asio::buffer(in.data() + old, max), std::move(handler)); });
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
