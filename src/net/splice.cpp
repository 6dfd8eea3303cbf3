#include "net/splice.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <vector>

namespace cmux::net {
namespace {

constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
constexpr std::size_t kCached = 8;  // per thread

struct PipeCache {
  std::vector<std::array<int, 2>> free;
  ~PipeCache() {
    for (auto& p : free) {
      ::close(p[0]);
      ::close(p[1]);
    }
  }
};

PipeCache& cache() {
  thread_local PipeCache c;
  return c;
}

// The socket's descriptor in non-blocking mode (asio has usually set it so already: no call).
bool make_non_blocking(tcp::socket& s, error_code& ec) {
  if (!s.native_non_blocking()) s.native_non_blocking(true, ec);
  return !ec;
}

error_code last_error() { return {errno, asio::error::get_system_category()}; }

}  // namespace

SplicePipe::SplicePipe() {
  auto& c = cache();
  if (!c.free.empty()) {
    fd_[0] = c.free.back()[0];
    fd_[1] = c.free.back()[1];
    c.free.pop_back();
    return;
  }
  if (::pipe2(fd_, O_NONBLOCK | O_CLOEXEC) != 0) {
    fd_[0] = fd_[1] = -1;
    return;
  }
  ::fcntl(fd_[1], F_SETPIPE_SZ, static_cast<int>(kSize));  // best effort
}

SplicePipe::~SplicePipe() {
  if (!ok()) return;
  auto& c = cache();
  if (held_ == 0 && c.free.size() < kCached) {
    c.free.push_back({fd_[0], fd_[1]});
    return;
  }
  ::close(fd_[0]);
  ::close(fd_[1]);
}

awaitable<std::pair<error_code, std::size_t>> SplicePipe::fill(tcp::socket& from, std::size_t max) {
  error_code ec;
  if (!make_non_blocking(from, ec)) co_return std::pair{ec, std::size_t{0}};
  for (;;) {
    ssize_t n = ::splice(from.native_handle(), nullptr, fd_[1], nullptr, std::min(max, kSize), kFlags);
    if (n >= 0) {
      held_ += static_cast<std::size_t>(n);
      co_return std::pair{error_code{}, static_cast<std::size_t>(n)};
    }
    if (errno != EAGAIN) co_return std::pair{last_error(), std::size_t{0}};
    auto [wec] = co_await from.async_wait(tcp::socket::wait_read, use_nothrow);
    if (wec) co_return std::pair{wec, std::size_t{0}};
  }
}

awaitable<error_code> SplicePipe::drain(tcp::socket& to) {
  error_code ec;
  if (!make_non_blocking(to, ec)) co_return ec;
  while (held_ > 0) {
    ssize_t m = ::splice(fd_[0], nullptr, to.native_handle(), nullptr, held_, kFlags);
    if (m > 0) {
      held_ -= static_cast<std::size_t>(m);
      continue;
    }
    if (m == 0) co_return asio::error::broken_pipe;
    if (errno != EAGAIN) co_return last_error();
    auto [wec] = co_await to.async_wait(tcp::socket::wait_write, use_nothrow);
    if (wec) co_return wec;
  }
  co_return error_code{};
}

}  // namespace cmux::net
