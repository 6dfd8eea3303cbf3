// splice(2) between two TCP sockets through a pipe: the bytes never enter user space. Used by
// relay() for plain tunnels and by HTTP/1.1 for identity response bodies (plain upstream to
// plain client).
#pragma once

#include <cstddef>
#include <utility>

#include "net/asio.hpp"

namespace cmux::net {

// One pipe, taken from (and given back to) a small per-thread cache: a response body spliced
// costs no pipe2()/close() of its own. A pipe goes back only when it is empty.
class SplicePipe {
 public:
  static constexpr std::size_t kSize = 256 * 1024;

  SplicePipe();
  ~SplicePipe();
  SplicePipe(const SplicePipe&) = delete;
  SplicePipe& operator=(const SplicePipe&) = delete;

  // False when no pipe could be made (out of descriptors): the caller copies instead.
  bool ok() const { return fd_[0] >= 0; }
  // Moves up to `max` bytes (at most kSize) from `from` into the empty pipe, waiting until at
  // least one is there: {{}, 0} is EOF.
  awaitable<std::pair<error_code, std::size_t>> fill(tcp::socket& from, std::size_t max);
  // Moves everything in the pipe to `to`.
  awaitable<error_code> drain(tcp::socket& to);

 private:
  int fd_[2] = {-1, -1};
  std::size_t held_ = 0;  // bytes in the pipe
};

}  // namespace cmux::net
