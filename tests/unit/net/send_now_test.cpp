// send_now() on real loopback sockets: what fits goes out at once, the rest is left exactly,
// and the bytes arrive whole and in order once the rest is written asynchronously.
#include "net/send_now.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <numeric>
#include <string>
#include <vector>

namespace cmux::net {
namespace {

std::string bytes_of(std::span<asio::const_buffer> bufs) {
  std::string out;
  for (const auto& b : bufs) out.append(static_cast<const char*>(b.data()), b.size());
  return out;
}

TEST(DropFront, Table) {
  const std::string a = "abc", b = "", c = "defgh";
  struct Case {
    std::size_t n;
    std::string left;
    std::size_t pieces;
  };
  for (const Case& k : {Case{0, "abcdefgh", 3}, Case{1, "bcdefgh", 3}, Case{3, "defgh", 1}, Case{4, "efgh", 1},
                        Case{8, "", 0}}) {
    std::array<asio::const_buffer, 3> bufs{asio::buffer(a), asio::buffer(b), asio::buffer(c)};
    auto rest = drop_front(bufs, k.n);
    EXPECT_EQ(bytes_of(rest), k.left) << k.n;
    EXPECT_EQ(rest.size(), k.pieces) << k.n;
  }
}

struct Pair {
  asio::io_context io;
  tcp::socket client{io}, server{io};
  Pair() {
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
};

TEST(SendNow, AllOfASmallWriteGoesOutAtOnce) {
  Pair p;
  std::string head = "HTTP/1.1 200 OK\r\n\r\n", body(1024, 'x');
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(body)};
  error_code ec;
  auto rest = send_now(p.client, bufs, ec);
  ASSERT_FALSE(ec);
  EXPECT_TRUE(rest.empty());
  std::string got(head.size() + body.size(), '\0');
  asio::read(p.server, asio::buffer(got));
  EXPECT_EQ(got, head + body);
}

TEST(SendNow, LeavesWhatDoesNotFitForAnAsynchronousWrite) {
  Pair p;
  std::string big(16 << 20, '\0');
  std::iota(big.begin(), big.end(), '\0');  // a pattern: order is checked
  std::array<asio::const_buffer, 2> bufs{asio::buffer(big.data(), 100), asio::buffer(big.data() + 100, big.size() - 100)};
  error_code ec;
  auto rest = send_now(p.client, bufs, ec);
  ASSERT_FALSE(ec);
  ASSERT_FALSE(rest.empty());  // nobody reads yet: 16 MiB cannot all fit
  const std::size_t left = asio::buffer_size(rest);
  EXPECT_LT(left, big.size());
  EXPECT_EQ(bytes_of(rest), big.substr(big.size() - left));  // exactly the unsent tail
  std::string got(big.size(), '\0');
  asio::async_write(p.client, rest, [&](error_code wec, std::size_t) { EXPECT_FALSE(wec); });
  asio::async_read(p.server, asio::buffer(got), [&](error_code rec, std::size_t n) {
    EXPECT_FALSE(rec);
    EXPECT_EQ(n, big.size());
  });
  p.io.run_for(std::chrono::seconds(20));
  EXPECT_TRUE(got == big);
}

TEST(SendNow, AClosedPeerIsAnError) {
  Pair p;
  p.server.close();
  std::string data(64 * 1024, 'y');
  error_code ec;
  // The first send may still be accepted; the peer's reset fails a later one.
  for (int i = 0; i < 100 && !ec; ++i) {
    std::array<asio::const_buffer, 1> bufs{asio::buffer(data)};
    auto rest = send_now(p.client, bufs, ec);
    if (ec) {
      EXPECT_TRUE(rest.empty());
    }
  }
  EXPECT_TRUE(ec == asio::error::broken_pipe || ec == asio::error::connection_reset) << ec.message();
}

}  // namespace
}  // namespace cmux::net
