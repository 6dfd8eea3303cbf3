// http::H1Parser: Beast's HTTP/1.1 parser without its field container (h1_beast.hpp). It keeps
// the start line and the fields and trailers in wire order, and decodes the body into the
// caller's buffer.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "http/h1_parser.hpp"

namespace cmux::http {
namespace {

using boost::system::error_code;

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
      // Fields and trailers apart, each in wire order, names lower-cased.
      const Fields head{{"content-type", "text/plain"}, {"transfer-encoding", "chunked"}, {"trailer", "X-Checksum, X-Count"}};
      EXPECT_EQ(parser.take_fields(), head);
      const Fields trailers{{"x-checksum", "abc123"}, {"x-count", "2"}, {"x-checksum", "second"}};
      EXPECT_EQ(parser.trailers(), trailers);
    }
  }
}

// Fields of a head in one piece, as the codecs parse it after scan_head().
template <bool isRequest>
Fields head_fields(std::string_view head, error_code& ec) {
  H1Parser<isRequest> parser;
  parser.eager(true);
  parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (!ec && !parser.is_header_done()) ec = bhttp::error::need_more;
  return parser.take_fields();
}

TEST(H1Parser, FieldsInWireOrderWithInterleavedRepeatsAndLowerCaseNames) {
  error_code ec;
  const Fields got = head_fields<true>(
      "GET http://a:80/ HTTP/1.1\r\nHost: a\r\nCookie: 1\r\nAccept: x\r\ncookie: 2\r\n"
      "X-Mixed-CASE: V\r\nCOOKIE:3\r\n\r\nBody-Looking: line\r\n", ec);
  EXPECT_FALSE(ec) << ec.message();
  const Fields expected{{"host", "a"}, {"cookie", "1"}, {"accept", "x"}, {"cookie", "2"}, {"x-mixed-case", "V"}, {"cookie", "3"}};
  EXPECT_EQ(got, expected);
}

TEST(H1Parser, FieldValuesLoseSurroundingWhitespaceOnly) {
  error_code ec;
  const Fields got = head_fields<false>(
      "HTTP/1.1 204 No Content\r\nA:   v  \r\nB:\tv\t\r\nC:\r\nD: \t \r\nE: a  b\r\n"
      "Location: http://h:1/p\r\n\r\n", ec);
  EXPECT_FALSE(ec) << ec.message();
  const Fields expected{{"a", "v"}, {"b", "v"}, {"c", ""}, {"d", ""}, {"e", "a  b"}, {"location", "http://h:1/p"}};
  EXPECT_EQ(got, expected);
}

TEST(H1Parser, StartLineOnlyHasNoFieldsAndALineWithoutColonIsRefused) {
  error_code ec;
  EXPECT_TRUE(head_fields<true>("GET / HTTP/1.1\r\n\r\n", ec).empty());
  EXPECT_FALSE(ec) << ec.message();
  head_fields<true>("GET / HTTP/1.1\r\nno colon\r\nA: 1\r\n\r\n", ec);
  EXPECT_TRUE(ec);
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
