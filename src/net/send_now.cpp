#include "net/send_now.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace cmux::net {

std::expected<std::size_t, error_code> send_some_now(tcp::socket& socket, std::span<const asio::const_buffer> bufs) {
  std::array<iovec, 64> iov;
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = std::min(bufs.size(), iov.size());
  for (std::size_t i = 0; i < msg.msg_iovlen; ++i) iov[i] = {const_cast<void*>(bufs[i].data()), bufs[i].size()};
  for (;;) {
    ssize_t n = ::sendmsg(socket.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return std::unexpected(error_code(errno, asio::error::get_system_category()));
  }
}

std::span<asio::const_buffer> send_now(tcp::socket& socket, std::span<asio::const_buffer> bufs, error_code& ec) {
  auto sent = send_some_now(socket, bufs);
  if (!sent) {
    ec = sent.error();
    return {};
  }
  return drop_front(bufs, *sent);
}

std::span<asio::const_buffer> drop_front(std::span<asio::const_buffer> bufs, std::size_t n) {
  while (!bufs.empty() && n >= bufs.front().size()) {
    n -= bufs.front().size();
    bufs = bufs.subspan(1);
  }
  if (!bufs.empty()) bufs.front() += n;
  return bufs;
}

}  // namespace cmux::net
