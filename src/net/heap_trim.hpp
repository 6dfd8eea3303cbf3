// The CLIs' allocator settings. glibc malloc keeps what the busiest moment allocated in each
// thread's arena (it trims only from the top, and big buffers freed in the middle stay
// resident), so a proxy's RSS steps up after a burst and never comes down: the preview proxy
// grew +7.2 % over a 30-minute soak in one such step.
//
// tune_heap(), once at start:
// - fixes glibc's mmap threshold at 128 KiB. glibc raises it to the size of every mmapped block
//   freed, after which each 256 KiB relay buffer of a tunnel came from the arena and left holes
//   there; fixed, such buffers are mapped and unmapped whole (one per tunnel direction; the
//   HTTP/2 buffers that are reused keep their capacity);
// - raises the trim threshold from 128 KiB to 4 MiB: under load, frees at the top of an I/O
//   thread's arena gave the pages back (madvise) and the next allocations faulted them in again
//   (0.23 page faults and 0.013 madvise calls per request with 100 streams of 100 KiB bodies,
//   none with 4 MiB; page faults are dear in this VM).
// reexec_with_heap_tunables(), first thing in main(): glibc's per-thread cache (tcache) keeps
// only 7 freed blocks of each size up to 1 KiB, and a request's coroutine frames and buffers
// are ~20 such blocks; with 100 requests in flight every size overflows it, and the rest went
// through the shared bins (20 % of cmux-proxy's user-space instructions for h2c -m10). glibc
// reads the cache's size only from GLIBC_TUNABLES at process start, so the CLI sets
// glibc.malloc.tcache_count=100 and execs itself again (same pid, arguments and descriptors).
// callgrind, instructions per request: h2c -m10 56.8k -> 52.3k, -m100 58.9k -> 52.3k, HTTP/1.1
// 43.2k -> 41.7k. The cache is bounded (100 blocks x 64 sizes, at most ~3 MiB per I/O thread)
// and peak RSS at 1 000 streams did not grow. A GLIBC_TUNABLES the user set is left alone (set
// it, to any value, to run without the re-exec: e.g. under valgrind without
// --trace-children=yes, where the second exec leaves valgrind), and sanitizer builds (their own
// allocator) do not re-exec.
//
// trim_heap() (malloc_trim(0), also the free pages inside the arenas) returns the memory once
// the load is gone; the CLIs call it every 10 s on their main thread, never on an I/O thread (a
// trim briefly locks each arena). The addon leaves its host process's allocator alone.
#pragma once

namespace cmux::net {

// Returns only when it did not exec (already set, sanitizer build, or exec failed).
void reexec_with_heap_tunables(char** argv);
void tune_heap();
void trim_heap();

}  // namespace cmux::net
