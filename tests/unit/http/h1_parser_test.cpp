// http::H1Parser: Beast's HTTP/1.1 parser without its field container (h1_beast.hpp). The
// head's fields come from raw_fields(); the parser keeps the start line, decodes the body into
// the caller's buffer and keeps the trailers.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "http/h1_beast.hpp"

namespace cmux::http {
namespace {

// Feeds `wire` to `parser` in pieces of at most `step` bytes, decoding the body through a
// buffer of `room` bytes; returns the decoded body. Fails the test on a parse error.
template <bool isRequest>
std::string parse_all(H1Parser<isRequest>& parser, std::string_view wire, std::size_t step, std::size_t room) {
  parser.eager(true);
  std::string body;
  std::string in;
  std::string buf(room, '\0');
  while (!parser.is_done()) {
    if (!wire.empty()) {
      std::size_t n = std::min(step, wire.size());
      in.append(wire.substr(0, n));
      wire.remove_prefix(n);
    }
    parser.body_to(buf);
    error_code ec;
    std::size_t used = parser.put(boost::asio::buffer(in), ec);
    in.erase(0, used);
    body.append(buf.data(), room - parser.body_room());
    if (ec == bhttp::error::need_more && wire.empty()) {
      ADD_FAILURE() << "message ended early";
      break;
    }
    if (ec && ec != bhttp::error::need_more && ec != bhttp::error::need_buffer) {
      ADD_FAILURE() << ec.message();
      break;
    }
  }
  return body;
}

constexpr std::string_view kChunkedResponse =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Transfer-Encoding: chunked\r\n"
    "Trailer: X-Checksum, X-Count\r\n"
    "\r\n"
    "5\r\nhello\r\n"
    "1a;ext=1\r\n abcdefghijklmnopqrstuvwxy\r\n"
    "0\r\n"
    "X-Checksum: abc123\r\n"
    "x-count:  2 \r\n"
    "X-Checksum: second\r\n"
    "\r\n";

TEST(H1Parser, ChunkedResponseBodyAndTrailersAtEverySplitAndBufferSize) {
  for (std::size_t step : {1u, 3u, 17u, 4096u}) {
    for (std::size_t room : {1u, 4u, 64u}) {
      SCOPED_TRACE("step " + std::to_string(step) + " room " + std::to_string(room));
      H1ResponseParser parser;
      EXPECT_EQ(parse_all(parser, kChunkedResponse, step, room), "hello abcdefghijklmnopqrstuvwxy");
      EXPECT_EQ(parser.status(), 200);
      EXPECT_EQ(parser.version(), 11u);
      EXPECT_TRUE(parser.keep_alive());
      // Header fields are not kept; trailers are, in wire order, names lower-cased.
      const Fields expected{{"x-checksum", "abc123"}, {"x-count", "2"}, {"x-checksum", "second"}};
      EXPECT_EQ(parser.trailers(), expected);
    }
  }
}

TEST(H1Parser, ResponseWithLengthAndConnectionClose) {
  H1ResponseParser parser;
  EXPECT_EQ(parse_all(parser, "HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\nnop", 5, 2), "nop");
  EXPECT_EQ(parser.status(), 404);
  EXPECT_EQ(parser.version(), 10u);
  EXPECT_FALSE(parser.keep_alive());
  EXPECT_TRUE(parser.trailers().empty());
}

TEST(H1Parser, RequestLineIsKept) {
  H1RequestParser parser;
  EXPECT_EQ(parse_all(parser, "POST /a/b?c=d HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody", 7, 3), "body");
  EXPECT_EQ(parser.method(), "POST");
  EXPECT_EQ(parser.target(), "/a/b?c=d");
  EXPECT_EQ(parser.version(), 11u);
  EXPECT_TRUE(parser.trailers().empty());
}

TEST(H1Parser, BodyWithoutABufferWaitsForOne) {
  H1RequestParser parser;
  parser.eager(true);
  std::string wire = "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok";
  error_code ec;
  std::size_t used = parser.put(boost::asio::buffer(wire), ec);
  // The head is taken; the body waits for room (need_buffer), nothing of it consumed.
  EXPECT_TRUE(parser.is_header_done());
  EXPECT_EQ(ec, bhttp::error::need_buffer);
  EXPECT_EQ(used, wire.size() - 2);
  char room[8];
  parser.body_to(room);
  used = parser.put(boost::asio::buffer(wire.data() + used, 2), ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(used, 2u);
  EXPECT_EQ(std::string_view(room, 2), "ok");
  EXPECT_TRUE(parser.is_done());
}

}  // namespace
}  // namespace cmux::http
