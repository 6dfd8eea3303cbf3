#include "net/heap_trim.hpp"

#include <malloc.h>

namespace cmux::net {

HeapTrimmer::HeapTrimmer(asio::io_context& ctx, std::chrono::steady_clock::duration period)
    : timer_(ctx), period_(period) {
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
  arm();
}

void HeapTrimmer::stop() {
  stopped_ = true;
  timer_.cancel();
}

void HeapTrimmer::arm() {
  timer_.expires_after(period_);
  timer_.async_wait([this](const error_code& ec) {
    if (ec || stopped_) return;
    ::malloc_trim(0);
    arm();
  });
}

}  // namespace cmux::net
