#include "net/heap_trim.hpp"

#include <malloc.h>

namespace cmux::net {

void tune_heap() {
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
}

void trim_heap() { ::malloc_trim(0); }

}  // namespace cmux::net
