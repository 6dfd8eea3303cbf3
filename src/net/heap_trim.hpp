// Gives the allocator's free pages back to the system now and then. glibc malloc keeps what the
// busiest moment allocated in each thread's arena (it trims only from the top, and big buffers
// freed in the middle stay resident), so a proxy's RSS steps up after a burst and never comes
// down: the preview proxy grew +7.2 % over a 30-minute soak in one such step. malloc_trim(0)
// also releases free pages inside the arenas. Constructing one also fixes glibc's mmap threshold
// at 128 KiB: glibc raises it to the size of every mmapped block freed, after which each
// 256 KiB relay buffer of a tunnel came from the arena and left holes there; fixed, such
// buffers are mapped and unmapped whole (one per tunnel direction, and the HTTP/2 buffers
// that are reused keep their capacity). It also raises the trim threshold from 128 KiB to
// 4 MiB: under load, frees at the top of an I/O thread's arena gave the pages back (madvise)
// and the next allocations faulted them in again (0.23 page faults and 0.013 madvise calls per
// request with 100 streams of 100 KiB bodies, none with 4 MiB; page faults are dear in this
// VM). The timer's malloc_trim(0) still returns the memory once the load is gone. For the CLIs'
// main thread, never an I/O thread (a trim briefly locks each arena); the addon leaves its host
// process's allocator alone.
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
