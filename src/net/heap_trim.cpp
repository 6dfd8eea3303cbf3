#include "net/heap_trim.hpp"

#include <malloc.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

namespace cmux::net {

void reexec_with_heap_tunables(char** argv) {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  if (std::getenv("GLIBC_TUNABLES")) return;
  // The binary's path, not "/proc/self/exe" itself: under valgrind that names valgrind's tool,
  // while readlink() is answered with the program's path.
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;
  self[n] = '\0';
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=100", 1);
  ::execv(self, argv);
  ::unsetenv("GLIBC_TUNABLES");  // the binary is gone (replaced on disk): run on as we are
#else
  (void)argv;
#endif
}

void tune_heap() {
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
}

void trim_heap() { ::malloc_trim(0); }

}  // namespace cmux::net
