// Gives the allocator's free pages back to the system now and then. glibc malloc keeps what the
// busiest moment allocated in each thread's arena (it trims only from the top, and big buffers
// freed in the middle stay resident), so a proxy's RSS steps up after a burst and never comes
// down: the preview proxy grew +7.2 % over a 30-minute soak in one such step. malloc_trim(0)
// also releases free pages inside the arenas. For the CLIs' main thread, never an I/O thread
// (it briefly locks each arena); the addon leaves its host process's allocator alone.
#pragma once

#include <chrono>

#include "net/asio.hpp"

namespace cmux::net {

class HeapTrimmer {
 public:
  HeapTrimmer(asio::io_context& ctx, std::chrono::steady_clock::duration period);
  // Cancels the timer, so that ctx.run() can return.
  void stop();

 private:
  void arm();
  asio::steady_timer timer_;
  std::chrono::steady_clock::duration period_;
  bool stopped_ = false;
};

}  // namespace cmux::net
