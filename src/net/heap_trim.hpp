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
// trim_heap() (malloc_trim(0), also the free pages inside the arenas) returns the memory once
// the load is gone; the CLIs call it every 10 s on their main thread, never on an I/O thread (a
// trim briefly locks each arena). The addon leaves its host process's allocator alone.
#pragma once

namespace cmux::net {

void tune_heap();
void trim_heap();

}  // namespace cmux::net
